// std::getline(std::cin, ...) on one thread while a std::thread ticks: the line comes half a
// second later (the test writes it late), and the ticker must have run meanwhile, as it does
// natively. libstdc++ reads std::cin through glibc's stdin, whose reads glibc makes with its
// internal read.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

int main() {
    std::atomic<int> ticks{0};
    std::atomic<bool> stop{false};
    std::thread ticker([&] {
        while (!stop) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
            ticks++;
        }
    });
    std::string line;
    bool got = static_cast<bool>(std::getline(std::cin, line));
    int seen = ticks.load();
    stop = true;
    ticker.join();
    std::printf("read: %s\n", got ? line.c_str() : "(nothing)");
    // About 50 ticks natively in the half second the line takes; none if the read held every
    // thread up.
    std::printf("ticker ran while it waited: %s\n", seen >= 10 ? "yes" : "no");
    return 0;
}

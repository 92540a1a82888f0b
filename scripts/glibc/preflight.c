/* Prints "greened" when a second thread runs on the main thread's kernel thread, as it does
   under libgreen, and "native" otherwise.  */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static pid_t tid;

static void *
record (void *arg)
{
  (void) arg;
  tid = gettid ();
  return NULL;
}

int
main (void)
{
  pthread_t th;
  if (pthread_create (&th, NULL, record, NULL) != 0 || pthread_join (th, NULL) != 0)
    return 1;
  puts (tid == gettid () ? "greened" : "native");
  return 0;
}

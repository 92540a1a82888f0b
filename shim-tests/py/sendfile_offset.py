"""socket.sendfile(file, offset=5000) over TCP: os.sendfile asks for the whole file size, so
the first call ends short at end of input and the next returns 0; a thread receives to EOF."""

import os
import socket
import tempfile
import threading

data = os.urandom(1024 * 1024 + 123)
f = tempfile.TemporaryFile()
f.write(data)
f.flush()
server = socket.create_server(("127.0.0.1", 0))
received = []


def receive():
    conn, _ = server.accept()
    conn.settimeout(20)
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    received.append(b"".join(chunks))


t = threading.Thread(target=receive)
t.start()
with socket.create_connection(server.getsockname()) as sock:
    sent = sock.sendfile(f, offset=5000)
t.join()
print(f"sent={sent} received right={received[0] == data[5000:]} position={f.tell()}")

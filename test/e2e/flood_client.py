#!/usr/bin/env python3
"""Clients that never read, for test/e2e/test_backpressure.sh.

    flood_client.py kv PORT SECONDS
        Pipelines KV `get` requests (sproto, framed: kv_sproto.py) at
        127.0.0.1:PORT for SECONDS without reading a byte of the answers,
        then closes.  Prints `sent <bytes> <requests>`.
    flood_client.py echo PORT SECONDS MAXBYTES
        Writes to the echo example without reading its echo, until the
        server closes the connection, SECONDS have passed or MAXBYTES were
        sent.  Prints `closed <bytes sent>` or `open <bytes sent>` (still
        open at the end).

Sends block at most 0.2 s each (the server may stop reading: that is the
point), so the client ends on time whatever the server does.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kv_sproto  # noqa: E402


def kv(port, seconds):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(0.2)
    # One batch of 1000 requests, sent again and again: sessions repeat,
    # which the server does not mind (it answers each one).
    batch = b"".join(kv_sproto.get(i + 1, b"key%d" % (i % 7)) for i in range(1000))
    sent = 0
    end = time.time() + seconds
    view = memoryview(batch)
    off = 0
    while time.time() < end:
        try:
            n = s.send(view[off:])
        except socket.timeout:
            continue
        except OSError as e:
            print("error %s after %d bytes" % (e, sent))
            return
        sent += n
        off = (off + n) % len(batch)
    # close without reading: the unread answers make the kernel send a reset
    s.close()
    print("sent %d %d" % (sent, sent * 1000 // len(batch)))


def echo(port, seconds, maxbytes):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(0.2)
    chunk = b"x" * 65536
    sent = 0
    end = time.time() + seconds
    while time.time() < end and sent < maxbytes:
        try:
            sent += s.send(chunk)
        except socket.timeout:
            continue
        except OSError:
            print("closed %d" % sent)
            return
    print("open %d" % sent)
    s.close()


def main():
    mode, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    if mode == "kv":
        kv(port, seconds)
    elif mode == "echo":
        echo(port, seconds, int(sys.argv[4]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()

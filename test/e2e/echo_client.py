#!/usr/bin/env python3
"""Clients for the Echo example (test/e2e/test_echo.sh).

    echo_client.py PORT echo CONNS SIZE [SIZE...]  each of CONNS connections sends
                                                   every SIZE in turn, checks the echo
    echo_client.py PORT halfclose SIZE             send, shutdown(SHUT_WR), expect the
                                                   echo then EOF
    echo_client.py PORT reset SIZE                 send SIZE bytes, close with RST
    echo_client.py PORT hangup SIZE                send SIZE bytes, close without reading
    echo_client.py PORT latency COUNT              64-byte round trips; prints p50/p99

Prints one line, `OK ...` (exit 0) or `ERR <why>` (exit 1).  All payloads are
random bytes, so a mixed-up stream is detected.  Connections run
concurrently in one thread on non-blocking sockets.
"""
import os
import selectors
import socket
import struct
import sys
import time

HOST = "127.0.0.1"
TIMEOUT = 60.0


def connect(port):
    s = socket.create_connection((HOST, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Conn:
    def __init__(self, port, sizes):
        self.sock = connect(port)
        self.sock.setblocking(False)
        self.payloads = [os.urandom(n) for n in sizes]
        self.stage = 0
        self.out = memoryview(self.payloads[0]) if self.payloads else memoryview(b"")
        self.inbuf = bytearray()
        self.done = not self.payloads
        self.error = None

    def want(self):
        ev = selectors.EVENT_READ
        if len(self.out):
            ev |= selectors.EVENT_WRITE
        return ev

    def on_write(self):
        n = self.sock.send(self.out[:1 << 20])
        self.out = self.out[n:]

    def on_read(self):
        data = self.sock.recv(1 << 20)
        if not data:
            self.error = "connection closed after %d of %d bytes (stage %d)" % (
                len(self.inbuf), len(self.payloads[self.stage]), self.stage)
            self.done = True
            return
        self.inbuf += data
        expect = self.payloads[self.stage]
        if len(self.inbuf) > len(expect):
            self.error = "received more than sent at stage %d" % self.stage
            self.done = True
        elif len(self.inbuf) == len(expect):
            if bytes(self.inbuf) != expect:
                self.error = "echo differs from payload at stage %d (%d bytes)" % (self.stage, len(expect))
                self.done = True
                return
            self.inbuf = bytearray()
            self.stage += 1
            if self.stage == len(self.payloads):
                self.done = True
            else:
                self.out = memoryview(self.payloads[self.stage])


def run_echo(port, conns, sizes):
    sel = selectors.DefaultSelector()
    cs = [Conn(port, sizes) for _ in range(conns)]
    for c in cs:
        sel.register(c.sock, c.want(), c)
    deadline = time.monotonic() + TIMEOUT
    pending = len(cs)
    while pending and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=1.0):
            c = key.data
            try:
                if ev & selectors.EVENT_WRITE:
                    c.on_write()
                if ev & selectors.EVENT_READ:
                    c.on_read()
            except OSError as e:
                c.error, c.done = "socket error: %s" % e, True
            if c.done:
                sel.unregister(c.sock)
                c.sock.close()
                pending -= 1
            else:
                sel.modify(c.sock, c.want(), c)
    errors = [c.error for c in cs if c.error]
    if errors:
        return "ERR %d of %d connections failed: %s" % (len(errors), conns, errors[0])
    if pending:
        return "ERR timeout: %d of %d connections unfinished" % (pending, conns)
    return "OK %d connections x %d payloads (%s bytes)" % (conns, len(sizes), "+".join(map(str, sizes)))


def recv_all(s, n, deadline):
    buf = bytearray()
    while len(buf) < n and time.monotonic() < deadline:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        data = s.recv(min(1 << 20, n - len(buf)))
        if not data:
            break
        buf += data
    return bytes(buf)


def run_halfclose(port, size):
    s = connect(port)
    payload = os.urandom(size)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    deadline = time.monotonic() + TIMEOUT
    got = recv_all(s, size, deadline)
    if got != payload:
        return "ERR half-closed client got %d of %d bytes back%s" % (
            len(got), size, " (content differs)" if len(got) == size else "")
    s.settimeout(10)
    try:
        rest = s.recv(1)
    except socket.timeout:
        return "ERR no EOF after the echo of a half-closed connection"
    if rest:
        return "ERR extra bytes after the echo"
    s.close()
    return "OK half-close: %d bytes echoed, then EOF" % size


def run_reset(port, size):
    s = connect(port)
    s.sendall(os.urandom(size))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    return "OK reset after sending %d bytes" % size


def run_hangup(port, size):
    s = connect(port)
    s.sendall(os.urandom(size))
    s.close()
    return "OK hung up after sending %d bytes" % size


def run_latency(port, count):
    s = connect(port)
    msg = os.urandom(64)
    samples = []
    for i in range(count + 200):
        t0 = time.perf_counter()
        s.sendall(msg)
        got = recv_all(s, 64, time.monotonic() + 10)
        t1 = time.perf_counter()
        if got != msg:
            return "ERR round trip %d: bad echo" % i
        if i >= 200:  # warm-up
            samples.append((t1 - t0) * 1e6)
    s.close()
    samples.sort()
    p50 = samples[len(samples) // 2]
    p99 = samples[int(len(samples) * 0.99)]
    return "OK latency %d round trips: p50 %.0f us p99 %.0f us (%.0f req/s)" % (
        count, p50, p99, count / (sum(samples) / 1e6))


def main(argv):
    port, mode, args = int(argv[1]), argv[2], [int(a) for a in argv[3:]]
    if mode == "echo":
        r = run_echo(port, args[0], args[1:])
    elif mode == "halfclose":
        r = run_halfclose(port, args[0])
    elif mode == "reset":
        r = run_reset(port, args[0])
    elif mode == "hangup":
        r = run_hangup(port, args[0])
    elif mode == "latency":
        r = run_latency(port, args[0])
    else:
        r = "ERR unknown mode %s" % mode
    print(r)
    return 0 if r.startswith("OK") else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except OSError as e:
        print("ERR %s" % e)
        sys.exit(1)

#!/usr/bin/env python3
"""Real HTTP clients against examples/simpleweb.lua (test/e2e/test_http.sh).

    http_client.py PORT

Prints one PASS/FAIL line per check.  Uses urllib and http.client (the
standard library) and raw sockets for what those libraries refuse to send
(pipelining, broken requests, a request in 1-byte writes, a client that stops
mid-request).  Only 127.0.0.1.
"""
import http.client
import socket
import sys
import time
import urllib.request
import urllib.error

PORT = int(sys.argv[1])
HOST = "127.0.0.1"


def check(name, cond, why=""):
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else ": " + str(why)), flush=True)


def raw(data, timeout=5.0, pieces=None, delay=0.0):
    """Sends data (or pieces with delay between them) and returns everything
    received until the server closes the connection (or timeout)."""
    s = socket.create_connection((HOST, PORT), timeout=timeout)
    try:
        if pieces is None:
            s.sendall(data)
        else:
            for p in pieces:
                s.sendall(p)
                if delay:
                    time.sleep(delay)
        out = b""
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not b:
                break
            out += b
        return out
    finally:
        s.close()


def read_response(f):
    """One response from a socket file: (status, headers dict, body)."""
    line = f.readline()
    if not line:
        return None, {}, b""
    status = int(line.split()[1])
    headers = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b""):
            break
        k, v = h.decode().split(":", 1)
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    return status, headers, f.read(n)


def recv_head(s):
    """Bytes up to the first blank line (b"" if none comes within the timeout)."""
    got = b""
    try:
        while b"\r\n\r\n" not in got:
            b = s.recv(1)
            if not b:
                break
            got += b
    except (socket.timeout, ConnectionResetError):
        pass
    return got


def status_of(data):
    out = raw(data)
    try:
        return int(out.split(b" ", 2)[1])
    except Exception:
        return out


def main():
    # urllib: query and path decoding
    url = "http://%s:%d/hello%%20world?a=1&b=x%%20y&a=2" % (HOST, PORT)
    with urllib.request.urlopen(url, timeout=5) as r:
        body = r.read().decode()
        check("urllib: GET 200", r.status == 200, r.status)
    check("urllib: decoded path", "path: /hello world" in body, body)
    check("urllib: query field", "query: b= x y" in body, body)
    check("urllib: host line", "host: 127.0.0.1:%d" % PORT in body, body)

    # urllib POST with a body
    req = urllib.request.Request("http://%s:%d/post" % (HOST, PORT), data=b"k=v&x=1", method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        body = r.read().decode()
    check("urllib: POST body echoed", body.endswith("-----body----\nk=v&x=1"), body[-60:])

    # a 9000-byte POST over the 8192 limit
    try:
        urllib.request.urlopen(urllib.request.Request("http://%s:%d/big" % (HOST, PORT), data=b"x" * 9000), timeout=5)
        check("urllib: 9000-byte POST -> 413", False, "no error")
    except urllib.error.HTTPError as e:
        check("urllib: 9000-byte POST -> 413", e.code == 413, e.code)

    # http.client keep-alive: three requests on one connection
    c = http.client.HTTPConnection(HOST, PORT, timeout=5)
    socks = []
    bodies = []
    for p in ("/k1", "/k2", "/k3"):
        c.request("GET", p)
        r = c.getresponse()
        bodies.append(r.read().decode())
        socks.append(c.sock)
    check("http.client: keep-alive, 3 requests on one connection",
          all(s is socks[0] and s is not None for s in socks), socks)
    check("http.client: keep-alive answers in order",
          all(("path: " + p) in b for p, b in zip(("/k1", "/k2", "/k3"), bodies)), bodies)
    c.close()

    # HTTP/1.0 without keep-alive: the server closes after the answer
    out = raw(b"GET /old HTTP/1.0\r\n\r\n")
    check("HTTP/1.0: answered then closed", out.startswith(b"HTTP/1.1 200 OK") and b"path: /old" in out, out[:80])

    # pipelining: three requests in one write, three whole answers
    s = socket.create_connection((HOST, PORT), timeout=5)
    s.sendall(b"GET /p1 HTTP/1.1\r\nHost: x\r\n\r\n"
              b"POST /p2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
              b"GET /p3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    f = s.makefile("rb")
    got = [read_response(f) for _ in range(3)]
    check("pipelining: three 200 answers", [g[0] for g in got] == [200, 200, 200], [g[0] for g in got])
    check("pipelining: each request whole (paths)",
          all(b"path: " + p in g[2] for p, g in zip((b"/p1", b"/p2", b"/p3"), got)), got)
    check("pipelining: the next request is not the body",
          got[0][2].endswith(b"-----body----\n") and got[1][2].endswith(b"-----body----\nabc"), got[0][2][-40:])
    check("pipelining: closed after 'Connection: close'", f.read() == b"")
    s.close()

    # a chunked request
    s = socket.create_connection((HOST, PORT), timeout=5)
    s.sendall(b"POST /ch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
              b"5\r\nhello\r\n1;ext=v\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n")
    st, _, body = read_response(s.makefile("rb"))
    s.close()
    check("chunked request: 200 and the body joined", st == 200 and body.endswith(b"hello world"), (st, body[-30:]))
    check("chunked request: trailer field seen", b"x-trailer = t" in body, body)

    # bad requests get their status code
    check("bad request line -> 400", status_of(b"GARBAGE\r\n\r\n") == 400)
    check("HTTP/2.0 -> 505", status_of(b"GET / HTTP/2.0\r\n\r\n") == 505)
    check("gzip transfer-encoding -> 501", status_of(b"GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n") == 501)
    check("header line without colon -> 400", status_of(b"GET / HTTP/1.1\r\nbroken line\r\n\r\n") == 400)
    check("header over 8 KB -> 413", status_of(b"GET / HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n") == 413)
    check("broken chunk -> 400",
          status_of(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n") == 400)
    check("chunked body over the limit -> 413",
          status_of(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2001\r\n" + b"a" * 8193 + b"\r\n0\r\n\r\n") == 413)
    check("bad content-length -> 400", status_of(b"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\nab") == 400)

    # Expect: 100-continue: the interim answer comes before the body is sent
    s = socket.create_connection((HOST, PORT), timeout=5)
    s.sendall(b"POST /exp HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
              b"Connection: close\r\n\r\n")
    interim = recv_head(s)
    check("Expect: 100-continue answered before the body is sent", interim == b"HTTP/1.1 100 Continue\r\n\r\n", interim)
    s.sendall(b"hello")
    st, _, body = read_response(s.makefile("rb"))
    s.close()
    check("Expect: 100-continue, then 200 with the body", st == 200 and body.endswith(b"-----body----\nhello"), (st, body[-30:]))
    s = socket.create_connection((HOST, PORT), timeout=5)
    s.sendall(b"POST /exp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-Continue\r\n"
              b"Connection: close\r\n\r\n")
    interim = recv_head(s)
    s.sendall(b"3\r\nabc\r\n0\r\n\r\n")
    st, _, body = read_response(s.makefile("rb"))
    s.close()
    check("Expect (any case) with a chunked body: 100, then 200", interim == b"HTTP/1.1 100 Continue\r\n\r\n" and
          st == 200 and body.endswith(b"abc"), (interim, st, body[-10:]))
    out = raw(b"POST /exp HTTP/1.1\r\nHost: x\r\nContent-Length: 9000\r\nExpect: 100-continue\r\n\r\n")
    check("Expect with a body over the limit: 413 at once, no 100", out.startswith(b"HTTP/1.1 413"), out[:60])
    out = raw(b"POST /exp HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n"
              b"Connection: close\r\n\r\nhi")
    check("Expect with the body already sent: no 100, just the answer", out.startswith(b"HTTP/1.1 200"), out[:60])
    out = raw(b"POST /exp HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi")
    check("Expect from an HTTP/1.0 client is ignored (RFC 9110)", out.startswith(b"HTTP/1.1 200"), out[:60])

    # a request in 1-byte writes (the server must not answer before it is whole)
    req = b"GET /tiny?q=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    out = raw(None, pieces=[req[i:i + 1] for i in range(len(req))], delay=0.002)
    check("request in 1-byte writes -> 200", out.startswith(b"HTTP/1.1 200") and b"path: /tiny" in out, out[:60])

    # an endless header in small writes: 413 once over the limit
    s = socket.create_connection((HOST, PORT), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nX: ")
    answered = b""
    try:
        for _ in range(200):
            s.sendall(b"a" * 64)
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        answered = s.recv(100)
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    check("endless header in small writes -> 413", answered.startswith(b"HTTP/1.1 413"), answered)

    # a client that stops mid-request does not stop the others
    stuck = [socket.create_connection((HOST, PORT), timeout=5) for _ in range(25)]
    for st_ in stuck:
        st_.sendall(b"POST /stuck HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc")
    t0 = time.time()
    with urllib.request.urlopen("http://%s:%d/alive" % (HOST, PORT), timeout=5) as r:
        ok = r.status == 200 and b"path: /alive" in r.read()
    check("25 clients stuck mid-request: another client is served", ok and time.time() - t0 < 4)
    for st_ in stuck:
        st_.close()

    # a client that vanishes mid-request, then the server keeps serving
    s = socket.create_connection((HOST, PORT), timeout=5)
    s.sendall(b"GET /gone HTTP/1.1\r\nHos")
    s.close()
    with urllib.request.urlopen("http://%s:%d/after" % (HOST, PORT), timeout=5) as r:
        check("still serving after the bad clients", r.status == 200)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a crash is one FAIL line, not a silent stop
        import traceback
        traceback.print_exc()
        check("http_client.py finished", False, repr(e))

#!/usr/bin/env python3
"""cluster_peer.py -- a cluster peer written from upstream's wire formats
alone (cluster frames and the skynet.pack serialization), sharing no code
with the node, for the cluster e2e tests (test/e2e/test_cluster.sh).

  cluster_peer.py call HOST PORT          act as a calling node against a
                                          listening skynet node (needs its
                                          "@echo" = test/e2e/lua/cluster_echo.lua)
  cluster_peer.py listen HOST PORT SECS   act as a listening node: serves
                                          "@pyecho" (answers the request's
                                          payload as is) and name queries
  cluster_peer.py malformed HOST PORT KIND
                                          send one kind of malformed input and
                                          expect the node to close the connection
  cluster_peer.py maxclient HOST PORT N   N connections are served, the next
                                          one is closed
  cluster_peer.py hold HOST PORT SECS     connect, then make one good call every
                                          0.1 s for SECS seconds (a well-behaved
                                          peer while others misbehave)
  cluster_peer.py burst HOST PORT         connect and stream 2,000 pushes (one of
                                          them multi-part), one write each: they
                                          arrive in order (the node hands the
                                          connection to its agent mid-stream)
  cluster_peer.py badlisten HOST SECS KIND:PORT...
                                          listening nodes that break the protocol:
                                          the first connection to each port gets
                                          KIND (garbage, impossible, half,
                                          halfmulti) and must be closed by the
                                          caller; later ones are served well
  cluster_peer.py flood HOST PORT N SYNCDIR SECS
                                          open N connections that never send a
                                          byte (touching SYNCDIR/flood.go once a
                                          tenth are open); every one must be
                                          closed by the node within SECS of its
                                          opening
  cluster_peer.py overcap HOST PORT CAP MSGS
                                          one connection leaves MSGS multi-part
                                          requests unfinished, 2*CAP bytes in all:
                                          the node must disconnect it near CAP
  cluster_peer.py nodecap HOST PORT CAP NODECAP
                                          connections each hold 3/4 CAP unfinished
                                          until one passes NODECAP: only that one is
                                          disconnected; closing them gives the bytes
                                          back
  cluster_peer.py stale HOST PORT SECS    an unfinished multi-part request gets an
                                          error answer within SECS; the connection
                                          stays usable
  cluster_peer.py hoard HOST PORT N MB    N connections each try to leave MB MiB of
                                          unfinished parts; prints "HELD <bytes>"
                                          and keeps them open for 3 s

Prints "OK ..." on success, "FAIL ..." otherwise (exit status 1).
"""
import select
import socket
import struct
import sys
import time

# ---------------------------------------------------------- skynet.pack


def pack_value(v, out):
    if v is None:
        out.append(b"\x00")
    elif v is True:
        out.append(b"\x09")
    elif v is False:
        out.append(b"\x01")
    elif isinstance(v, int):
        if v == 0:
            out.append(b"\x02")
        elif v < -(1 << 31) or v > (1 << 31) - 1:
            out.append(b"\x32" + struct.pack("<q", v))
        elif v < 0:
            out.append(b"\x22" + struct.pack("<i", v))
        elif v < 0x100:
            out.append(b"\x0a" + bytes([v]))
        elif v < 0x10000:
            out.append(b"\x12" + struct.pack("<H", v))
        else:
            out.append(b"\x22" + struct.pack("<i", v))
    elif isinstance(v, float):
        out.append(b"\x42" + struct.pack("<d", v))
    elif isinstance(v, (bytes, str)):
        b = v.encode() if isinstance(v, str) else v
        n = len(b)
        if n < 32:
            out.append(bytes([4 + 8 * n]) + b)
        elif n < 0x10000:
            out.append(b"\x15" + struct.pack("<H", n) + b)
        else:
            out.append(b"\x25" + struct.pack("<I", n) + b)
    elif isinstance(v, list):
        n = len(v)
        if n <= 30:
            out.append(bytes([(n << 3) | 6]))
        else:
            out.append(b"\xfe")
            pack_value(n, out)
        for x in v:
            pack_value(x, out)
        out.append(b"\x00")
    elif isinstance(v, dict):
        out.append(b"\x06")
        for k, x in v.items():
            pack_value(k, out)
            pack_value(x, out)
        out.append(b"\x00")
    else:
        raise TypeError(type(v))


def pack(*values):
    out = []
    for v in values:
        pack_value(v, out)
    return b"".join(out)


class Reader:
    def __init__(self, b):
        self.b, self.i = b, 0

    def take(self, n):
        if self.i + n > len(self.b):
            raise ValueError("short stream")
        r = self.b[self.i:self.i + n]
        self.i += n
        return r

    def value(self):
        tag = self.take(1)[0]
        t, c = tag & 7, tag >> 3
        if t == 0:
            return None
        if t == 1:
            return c != 0
        if t == 2:
            if c == 0:
                return 0
            if c == 1:
                return self.take(1)[0]
            if c == 2:
                return struct.unpack("<H", self.take(2))[0]
            if c == 4:
                return struct.unpack("<i", self.take(4))[0]
            if c == 6:
                return struct.unpack("<q", self.take(8))[0]
            if c == 8:
                return struct.unpack("<d", self.take(8))[0]
        if t == 4:
            return self.take(c)
        if t == 5:
            n = struct.unpack("<H" if c == 2 else "<I", self.take(c))[0]
            return self.take(n)
        if t == 6:
            n = c if c < 31 else self.value()
            arr = [self.value() for _ in range(n)]
            h = {}
            while True:
                k = self.value()
                if k is None:
                    break
                h[k] = self.value()
            return arr if not h else (arr, h)
        raise ValueError("bad tag %02x" % tag)


def unpack(b):
    r = Reader(b)
    out = []
    while r.i < len(b):
        out.append(r.value())
    return out

# ------------------------------------------------------------ framing


def frame(body):
    assert len(body) <= 0xFFFF
    return struct.pack(">H", len(body)) + body


def req_whole(addr, session, payload):
    if isinstance(addr, int):
        return frame(b"\x00" + struct.pack("<II", addr, session) + payload)
    name = addr.encode()
    return frame(b"\x80" + bytes([len(name)]) + name + struct.pack("<I", session) + payload)


def req_multi(addr, session, payload, push=False):
    if isinstance(addr, int):
        head = bytes([0x41 if push else 0x01]) + struct.pack("<III", addr, session, len(payload))
    else:
        name = addr.encode()
        head = bytes([0xC1 if push else 0x81, len(name)]) + name + struct.pack("<II", session, len(payload))
    out = [frame(head)]
    for off in range(0, len(payload), 0x8000):
        part = payload[off:off + 0x8000]
        last = off + 0x8000 >= len(payload)
        out.append(frame(bytes([3 if last else 2]) + struct.pack("<I", session) + part))
    return b"".join(out)


def request(addr, session, payload, push=False):
    if len(payload) < 0x8000:
        return req_whole(addr, 0 if push else session, payload)
    return req_multi(addr, session, payload, push)


def response(session, ok, data):
    if not ok:
        return frame(struct.pack("<IB", session, 0) + data[:0x8000])
    if len(data) <= 0x8000:
        return frame(struct.pack("<IB", session, 1) + data)
    out = [frame(struct.pack("<IBI", session, 2, len(data)))]
    for off in range(0, len(data), 0x8000):
        part = data[off:off + 0x8000]
        last = off + 0x8000 >= len(data)
        out.append(frame(struct.pack("<IB", session, 4 if last else 3) + part))
    return b"".join(out)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


def recv_frame(s):
    n = struct.unpack(">H", recv_exact(s, 2))[0]
    return recv_exact(s, n)


def read_response(s):
    """-> session, ok, data (multi-part joined)"""
    parts = {}
    while True:
        body = recv_frame(s)
        if len(body) < 5:
            raise ValueError("short response")
        session, t = struct.unpack("<IB", body[:5])
        data = body[5:]
        if t == 0:
            return session, False, data
        if t == 1:
            return session, True, data
        if t == 2:
            parts[session] = (struct.unpack("<I", data)[0], [])
        elif t in (3, 4):
            total, lst = parts[session]
            lst.append(data)
            if t == 4:
                joined = b"".join(lst)
                if len(joined) != total:
                    raise ValueError("multi-part size mismatch")
                return session, True, joined
        else:
            raise ValueError("bad response type %d" % t)

# ------------------------------------------------------------- modes


def check(cond, what):
    if not cond:
        print("FAIL " + what)
        sys.exit(1)


def mode_call(host, port):
    s = socket.create_connection((host, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # by name
    s.sendall(request("@echo", 1, pack("echo", "from python", 42, -7, 1.5, [1, 2, 3])))
    session, ok, data = read_response(s)
    check(session == 1 and ok, "call @echo: %r %r %r" % (session, ok, data))
    check(unpack(data) == [b"from python", 42, -7, 1.5, [1, 2, 3]], "call @echo values: %r" % unpack(data))
    # name query, then by handle
    s.sendall(request(0, 2, pack("echo")))
    session, ok, data = read_response(s)
    check(session == 2 and ok, "query echo")
    handle = unpack(data)[0]
    check(isinstance(handle, int) and handle > 0, "query returns a handle: %r" % handle)
    s.sendall(request(handle, 3, pack("whoami")))
    session, ok, data = read_response(s)
    check(ok and unpack(data)[0] == b"b", "call by handle: %r" % data)
    # unknown name and unknown query: errors
    s.sendall(request("@nosuch", 4, pack("echo")))
    session, ok, data = read_response(s)
    check(session == 4 and not ok, "unknown @name gives an error response")
    s.sendall(request(0, 5, pack("nosuch")))
    session, ok, data = read_response(s)
    check(session == 5 and not ok and b"name not found" in data, "unknown query: %r" % data)
    # multi-part request and response (100 000 bytes each way)
    big = bytes(range(256)) * 390 + b"end"
    s.sendall(request("@echo", 6, pack("echo", big)))
    session, ok, data = read_response(s)
    check(session == 6 and ok and unpack(data) == [big], "multi-part echo")
    # any 32-bit session is echoed back
    s.sendall(request("@echo", 0xfffffffe, pack("echo", "high session")))
    session, ok, data = read_response(s)
    check(session == 0xfffffffe and ok, "session 0xfffffffe echoed: %r" % session)
    # interleaving: a whole request between the parts of a multi-part one
    big2 = b"Q" * 70000
    frames = request(".echo", 7, pack("echo", big2))
    first_part_end = 2 + struct.unpack(">H", frames[:2])[0]
    first_part_end += 2 + struct.unpack(">H", frames[first_part_end:first_part_end + 2])[0]
    s.sendall(frames[:first_part_end] + request("@echo", 8, pack("echo", "small")) + frames[first_part_end:])
    got = {}
    for _ in range(2):
        session, ok, data = read_response(s)
        got[session] = (ok, unpack(data) if ok else data)
    check(got.get(8) == (True, [b"small"]) and got.get(7) == (True, [big2]), "interleaved frames")
    # a push (session 0) gets no answer; the next call does
    s.sendall(request("@echo", 0, pack("push", "py push"), push=True))
    s.sendall(request("@echo", 9, pack("count")))
    session, ok, data = read_response(s)
    check(session == 9 and ok, "call after a push")
    # a multi-part name query (a 40000-byte name): answered, not found
    s.sendall(request(0, 10, pack("n" * 40000)))
    session, ok, data = read_response(s)
    check(session == 10 and not ok and b"name not found" in data, "multi-part query: %r" % data[:40])
    s.close()
    print("OK python caller: name, query, handle, errors, multi-part, high session, interleaving, push")


def read_request(conn, partial):
    """-> (addr, session, payload) of the next complete request, or None for
    a frame that completes nothing (a start, a non-final part, a trace)"""
    body = recv_frame(conn)
    tag = body[0]
    if tag in (0x00, 0x80):
        if tag == 0x00:
            addr = struct.unpack("<I", body[1:5])[0]
            off = 5
        else:
            n = body[1]
            addr = body[2:2 + n].decode()
            off = 2 + n
        session = struct.unpack("<I", body[off:off + 4])[0]
        return addr, session, body[off + 4:]
    if tag in (0x01, 0x41, 0x81, 0xC1):
        if tag & 0x80:
            n = body[1]
            addr = body[2:2 + n].decode()
            off = 2 + n
        else:
            addr = struct.unpack("<I", body[1:5])[0]
            off = 5
        session, total = struct.unpack("<II", body[off:off + 8])
        partial[session] = (addr, total, [])
        return None
    if tag in (0x02, 0x03):
        session = struct.unpack("<I", body[1:5])[0]
        addr, total, lst = partial[session]
        lst.append(body[5:])
        if tag == 0x02:
            return None
        del partial[session]
        payload = b"".join(lst)
        if len(payload) != total:
            conn.sendall(response(session, False, b"Invalid large req"))
            return None
        return addr, session, payload
    if tag == 0x04:
        return None
    raise ValueError("bad tag %02x" % tag)


def serve_conn(conn):
    """serves "@pyecho" (echoes the payload) and name queries until the
    caller closes; -> the number of requests and pushes served"""
    served = 0
    partial = {}
    try:
        while True:
            r = read_request(conn, partial)
            if r is None:
                continue
            addr, session, payload = r
            served += 1
            if session == 0:
                continue
            if addr == 0:
                name = unpack(payload)[0]
                if name == b"pyecho":
                    conn.sendall(response(session, True, pack(1234)))
                else:
                    conn.sendall(response(session, False, b"name not found"))
            elif addr == "@pyecho" or addr == 1234:
                conn.sendall(response(session, True, payload))
            else:
                conn.sendall(response(session, False, b"python peer: no such service"))
    except (EOFError, ConnectionResetError, socket.timeout, OSError):
        pass
    return served


def mode_listen(host, port, secs):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(8)
    ls.settimeout(secs)
    try:
        conn, _ = ls.accept()
    except socket.timeout:
        print("FAIL python listener: nobody connected")
        sys.exit(1)
    conn.settimeout(secs)
    try:
        served = serve_conn(conn)
    except ValueError as e:
        print("FAIL python listener: %s" % e)
        sys.exit(1)
    print("OK python listener served %d requests" % served)


BAD = {
    # an unknown tag
    "tag": frame(b"\x07\x00\x00\x00\x00"),
    # a zero-length frame
    "empty": frame(b""),
    # a whole request too short for its tag
    "short": frame(b"\x00\x0a\x00"),
    # a name whose length runs past the body
    "name": frame(b"\x80\x20@ab"),
    # a part for a session that never started
    "orphan": frame(b"\x03\x05\x00\x00\x00" + b"x" * 10),
    # a multi-part start declaring 4 GiB
    "huge": frame(b"\x01\x0a\x00\x00\x00\x01\x00\x00\x00\xff\xff\xff\xff"),
    # parts running past the declared total
    "overrun": frame(b"\x81\x05@echo\x02\x00\x00\x00\x10\x00\x00\x00") + frame(b"\x02\x02\x00\x00\x00" + b"y" * 40),
    # a start frame of the wrong size
    "start": frame(b"\x01\x0a\x00\x00\x00\x01\x00\x00\x00"),
}


def mode_malformed(host, port, kind):
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(BAD[kind])
    s.settimeout(5)
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
    except socket.timeout:
        print("FAIL malformed %s: the node did not close the connection within 5 s" % kind)
        sys.exit(1)
    except ConnectionResetError:
        pass
    print("OK malformed %s: disconnected" % kind)


def mode_hold(host, port, secs):
    s = socket.create_connection((host, port), timeout=10)
    end = time.time() + secs
    session = 0
    while time.time() < end:
        session += 1
        s.sendall(request("@echo", session, pack("echo", session)))
        sess, ok, data = read_response(s)
        check(sess == session and ok and unpack(data) == [session], "hold: call %d" % session)
        time.sleep(0.1)
    s.close()
    print("OK well-behaved peer made %d calls" % session)


def mode_mute(host, port, secs):
    """accepts connections and reads them, never answers (a listener that
    is up but hung); ends after secs"""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(8)
    print("LISTENING", flush=True)
    end = time.time() + secs
    conns = [ls]
    got = 0
    while time.time() < end:
        r, _, _ = select.select(conns, [], [], 0.1)
        for c in r:
            if c is ls:
                conn, _ = ls.accept()
                conns.append(conn)
            else:
                try:
                    d = c.recv(65536)
                except OSError:
                    d = b""
                if not d:
                    conns.remove(c)
                    c.close()
                got += len(d)
    print("OK mute listener read %d bytes" % got)


def mode_maxclient(host, port, n):
    """n connections are served, the one after them is closed at once"""
    conns = []
    for i in range(n):
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(request("@echo", 1, pack("echo", i)))
        session, ok, data = read_response(s)
        check(ok and unpack(data) == [i], "maxclient: connection %d served" % (i + 1))
        conns.append(s)
    extra = socket.create_connection((host, port), timeout=5)
    try:
        extra.sendall(request("@echo", 1, pack("echo", "extra")))
        d = extra.recv(100)
        check(d == b"", "maxclient: connection %d was answered" % (n + 1))
    except (ConnectionResetError, BrokenPipeError):
        pass
    for s in conns:
        s.sendall(request("@echo", 2, pack("echo", "still")))
        session, ok, data = read_response(s)
        check(ok and unpack(data) == [b"still"], "maxclient: served connections keep working")
    print("OK maxclient %d: %d connections served, connection %d closed" % (n, n, n + 1))


def mode_burst(host, port):
    """a call first, then 2,000 pushes (one of them multi-part) in as many
    writes, then a call: bytes reach the node before, while and after its
    agent takes the connection over, and the pushes must arrive in order"""
    n, bigone = 2000, 1000
    s = connect(host, port)
    big = b"B" * 100000
    s.sendall(request("@echo", 1, pack("reset")))
    for i in range(1, n + 1):
        s.sendall(request("@echo", 0, pack("push", big if i == bigone else i), push=True))
    s.sendall(request("@echo", 2, pack("pushed")))
    got = {}
    while len(got) < 2:
        session, ok, data = read_response(s)
        got[session] = (ok, data)
    check(got[1][0], "burst: the first call is answered")
    ok, data = got[2]
    check(ok, "burst: the last call is answered: %r" % data[:80])
    pushed = unpack(data)[0]
    want = [big if i == bigone else i for i in range(1, n + 1)]
    check(pushed == want, "burst: %d pushes arrived, first out of place: %s" % (
        len(pushed), next((i + 1 for i, (a, b) in enumerate(zip(pushed, want)) if a != b), "-")))
    s.close()
    print("OK burst: %d pushes streamed on a new connection arrived in order" % n)


# ------------------------------------------------- protocol breakers


def connect(host, port):
    s = socket.create_connection((host, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def closed_by_peer(s, secs):
    """waits up to secs for the other side to close; -> seconds taken or None"""
    t0 = time.time()
    s.settimeout(secs)
    try:
        while True:
            d = s.recv(4096)
            if not d:
                return time.time() - t0
    except (ConnectionResetError, BrokenPipeError):
        return time.time() - t0
    except socket.timeout:
        return None


def misbehave(conn, kind):
    """answers the first request on conn the way `kind` says, then waits
    for the caller to close; -> (kind, seconds until closed or None)"""
    partial = {}
    conn.settimeout(10)
    while True:
        r = read_request(conn, partial)
        if r is not None:
            break
    session = r[1]
    if kind == "garbage":
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    elif kind == "impossible":  # a complete frame of type 9
        conn.sendall(frame(struct.pack("<IB", session, 9) + b"nine"))
    elif kind == "half":  # half of a good answer, then silence
        whole = response(session, True, pack("x" * 100))
        conn.sendall(whole[:len(whole) // 2])
    elif kind == "halfmulti":  # a multi-part answer begun, then silence
        conn.sendall(frame(struct.pack("<IBI", session, 2, 100000)))
    return kind, closed_by_peer(conn, 15)


def mode_badlisten(host, secs, specs):
    """ends when every port had its bad connection closed by the caller and
    a later call served, and no good connection is open (the caller node
    exited), or after secs"""
    import threading
    results, served, lock = {}, {}, threading.Lock()
    active = [0]

    def good(kind, conn):
        conn.settimeout(secs)
        n = serve_conn(conn)
        with lock:
            served[kind] = served.get(kind, 0) + n
            active[0] -= 1

    def bad(kind, conn):
        try:
            k, t = misbehave(conn, kind)
        except (EOFError, OSError, ValueError) as e:
            t = None
        with lock:
            results[kind] = t

    def port_thread(kind, ls):
        first = True
        ls.settimeout(0.2)
        while time.time() < end:
            try:
                conn, _ = ls.accept()
            except socket.timeout:
                continue
            if first:
                first = False
                threading.Thread(target=bad, args=(kind, conn), daemon=True).start()
            else:
                with lock:
                    active[0] += 1
                threading.Thread(target=good, args=(kind, conn), daemon=True).start()

    end = time.time() + secs
    kinds = []
    for spec in specs:
        kind, port = spec.split(":")
        kinds.append(kind)
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((host, int(port)))
        ls.listen(8)
        threading.Thread(target=port_thread, args=(kind, ls), daemon=True).start()
    print("LISTENING", flush=True)
    while time.time() < end:
        with lock:
            if len(results) == len(kinds) and all(served.get(k, 0) > 0 for k in kinds) and active[0] == 0:
                break
        time.sleep(0.1)
    with lock:
        for kind in kinds:
            check(kind in results, "badlisten %s: nobody called" % kind)
            check(results[kind] is not None, "badlisten %s: the caller never closed the connection" % kind)
            check(served.get(kind, 0) > 0, "badlisten %s: no later call reached a good listener" % kind)
        print("OK bad listeners: the caller closed each bad connection (%s); later calls served (%s)" % (
            ", ".join("%s after %.2f s" % (k, results[k]) for k in kinds),
            ", ".join("%s %d" % (k, served[k]) for k in kinds)))


# ------------------------------------------------------ idle flood


def mode_flood(host, port, n, syncdir, secs):
    import os
    import select
    ep = select.epoll()
    opened, closed, refused = {}, {}, 0
    worst = 0.0
    conns = {}

    def reap(timeout):
        nonlocal worst
        for fdno, _ in ep.poll(timeout):
            s = conns[fdno]
            try:
                d = s.recv(64)
            except (ConnectionResetError, BrokenPipeError):
                d = b""
            except BlockingIOError:
                continue
            if d:
                print("FAIL flood: the node sent %r to an idle connection" % d[:20])
                sys.exit(1)
            ep.unregister(fdno)
            closed[fdno] = time.time()
            worst = max(worst, closed[fdno] - opened[fdno])

    t0 = time.time()
    told = False
    for i in range(n):
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect((host, port))
        except OSError:
            refused += 1
            s.close()
            continue
        s.setblocking(False)
        fdno = s.fileno()
        conns[fdno] = s
        opened[fdno] = time.time()
        ep.register(fdno, select.EPOLLIN | select.EPOLLRDHUP)
        if i % 64 == 0:
            reap(0)
        if not told and i >= n // 10:
            open(os.path.join(syncdir, "flood.go"), "w").close()
            told = True
    open_secs = time.time() - t0
    deadline = time.time() + secs + 5
    while len(closed) < len(opened) and time.time() < deadline:
        reap(0.2)
    open(os.path.join(syncdir, "flood-end.go"), "w").close()
    left = len(opened) - len(closed)
    check(left == 0, "flood: %d of %d idle connections still open %d s after the last was opened" % (
        left, len(opened), secs + 5))
    check(worst <= secs, "flood: an idle connection stayed open %.2f s (limit %.1f s)" % (worst, secs))
    check(refused <= n // 100, "flood: %d of %d connects failed" % (refused, n))
    print("OK flood: %d idle connections opened in %.2f s, all closed by the node, the longest after %.2f s" % (
        len(opened), open_secs, worst))

# ------------------------------------------------ unfinished messages


def send_until_closed(s, data):
    """sends data; -> True if the peer closed the connection meanwhile"""
    try:
        s.sendall(data)
        return False
    except (BrokenPipeError, ConnectionResetError):
        return True


def part(session, chunk, last=False):
    return frame(bytes([3 if last else 2]) + struct.pack("<I", session) + chunk)


def start_frame(session, total, push=False):
    return frame(b"\x81\x05@echo" + struct.pack("<II", session, total) if not push
                 else b"\xc1\x05@echo" + struct.pack("<II", session, total))


def mode_overcap(host, port, cap, msgs):
    s = connect(host, port)
    chunk = b"u" * 0x8000
    each = 2 * cap // msgs
    for m in range(msgs):
        s.sendall(start_frame(m + 1, 4 * cap))  # never reached: the parts stop at 2*CAP in all
    sent = 0
    dead = False
    while sent < 2 * cap and not dead:
        for m in range(msgs):
            dead = send_until_closed(s, part(m + 1, chunk))
            if dead:
                break
            sent += len(chunk)
    t = closed_by_peer(s, 5)
    check(t is not None, "overcap: still connected after %d unfinished bytes (cap %d)" % (sent, cap))
    print("OK overcap: %d unfinished messages, disconnected by the node (%d bytes sent, cap %d)" % (msgs, sent, cap))


def hold_unfinished(s, session, nbytes):
    """starts a request and sends nbytes of it, leaving it unfinished;
    -> True if the node closed the connection meanwhile"""
    s.sendall(start_frame(session, nbytes + 1))
    chunk = b"h" * 0x8000
    for off in range(0, nbytes, 0x8000):
        if send_until_closed(s, part(session, chunk[:min(0x8000, nbytes - off)])):
            return True
    return False


def call_ok(s, session):
    s.settimeout(5)
    s.sendall(request("@echo", session, pack("echo", session)))
    while True:
        sess, ok, data = read_response(s)
        if sess == session:
            return ok and unpack(data) == [session]


def mode_nodecap(host, port, cap, nodecap):
    each = cap * 3 // 4
    conns = []
    k = nodecap // each + 1  # the k-th connection passes the node's cap
    for i in range(k):
        s = connect(host, port)
        died = hold_unfinished(s, 1, each)
        if i < k - 1:
            check(not died, "nodecap: connection %d (%d bytes held in all) was disconnected" % (i + 1, (i + 1) * each))
            check(call_ok(s, 100), "nodecap: connection %d is served" % (i + 1))
        conns.append(s)
    last = conns.pop()
    check(closed_by_peer(last, 5) is not None, "nodecap: connection %d passed the node's cap and stayed" % k)
    for i, s in enumerate(conns):
        check(call_ok(s, 101), "nodecap: connection %d still served after the other's disconnect" % (i + 1))
    for s in conns:
        s.close()
    time.sleep(0.3)  # the agents exit and give the bytes back
    again = []
    for i in range(k - 1):
        s = connect(host, port)
        check(not hold_unfinished(s, 1, each) and call_ok(s, 102),
              "nodecap: after closing, connection %d can hold %d bytes again" % (i + 1, each))
        again.append(s)
    for s in again:
        s.close()
    print("OK nodecap: %d connections of %d unfinished bytes each fit, the next was disconnected; bytes given back on close" % (k - 1, each))


def mode_stale(host, port, secs):
    s = connect(host, port)
    t0 = time.time()
    s.sendall(start_frame(7, 100000) + part(7, b"s" * 0x8000))
    s.sendall(start_frame(8, 100000, push=True) + part(8, b"p" * 0x8000))
    s.settimeout(secs)
    try:
        sess, ok, data = read_response(s)
    except socket.timeout:
        print("FAIL stale: no answer to the unfinished request within %.1f s" % secs)
        sys.exit(1)
    waited = time.time() - t0
    check(sess == 7 and not ok and b"unfinished" in data, "stale: answer %r %r %r" % (sess, ok, data))
    check(call_ok(s, 9), "stale: the connection is served after the drop")
    print("OK stale: unfinished request answered with an error after %.2f s (%s); connection kept" % (waited, data.decode()))


def mode_hoard(host, port, n, mb):
    conns, held = [], 0
    for i in range(n):
        s = connect(host, port)
        nbytes = mb * 1024 * 1024
        s.sendall(start_frame(1, nbytes + 1))
        chunk = b"m" * 0x8000
        for off in range(0, nbytes, 0x8000):
            if send_until_closed(s, part(1, chunk)):
                break
            held += len(chunk)
        conns.append(s)
    time.sleep(0.5)
    print("HELD %d" % held, flush=True)
    time.sleep(3)
    for s in conns:
        s.close()
    print("OK hoard: %d connections, %d bytes sent" % (n, held))


def main():
    if sys.argv[1] == "badlisten":
        mode_badlisten(sys.argv[2], float(sys.argv[3]), sys.argv[4:])
        return
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "call":
        mode_call(host, port)
    elif mode == "listen":
        mode_listen(host, port, float(sys.argv[4]))
    elif mode == "malformed":
        mode_malformed(host, port, sys.argv[4])
    elif mode == "maxclient":
        mode_maxclient(host, port, int(sys.argv[4]))
    elif mode == "hold":
        mode_hold(host, port, float(sys.argv[4]))
    elif mode == "mute":
        mode_mute(host, port, float(sys.argv[4]))
    elif mode == "burst":
        mode_burst(host, port)
    elif mode == "flood":
        mode_flood(host, port, int(sys.argv[4]), sys.argv[5], float(sys.argv[6]))
    elif mode == "overcap":
        mode_overcap(host, port, int(sys.argv[4]), int(sys.argv[5]))
    elif mode == "nodecap":
        mode_nodecap(host, port, int(sys.argv[4]), int(sys.argv[5]))
    elif mode == "stale":
        mode_stale(host, port, float(sys.argv[4]))
    elif mode == "hoard":
        mode_hoard(host, port, int(sys.argv[4]), int(sys.argv[5]))
    else:
        print("FAIL unknown mode " + mode)
        sys.exit(2)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Driver of test/e2e/test_gate.sh: real TCP clients against the Lua gate
(service/gate.lua on snax.gateserver) and the C gate (cservice/gate.so),
with test/e2e/lua/gate_probe.lua as their watchdog.

    gate_client.py CTL_PORT NODE_LOG

Talks to the probe over its control connection (see gate_probe.lua for the
line protocol), opens client connections, and prints one `PASS name` or
`FAIL name: why` line per check.
"""
import socket
import struct
import sys
import threading
import time

HOST = "127.0.0.1"
WAIT = 10.0  # seconds any single expected event may take (generous: shared machine)


class Probe:
    """The control connection: a reader thread collects every line."""

    def __init__(self, port):
        deadline = time.time() + WAIT
        while True:
            try:
                self.sock = socket.create_connection((HOST, port), timeout=WAIT)
                self.sock.settimeout(None)  # the reader thread waits as long as it takes
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        buf = b""
        while True:
            try:
                d = self.sock.recv(65536)
            except OSError:
                d = b""
            if not d:
                with self.cond:
                    self.lines.append(None)
                    self.cond.notify_all()
                return
            buf += d
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                with self.cond:
                    self.lines.append(line.decode())
                    self.cond.notify_all()

    def wait(self, pred, timeout=WAIT):
        """First unconsumed line matching pred (removed), or None."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for i, line in enumerate(self.lines):
                    if line is not None and pred(line):
                        del self.lines[i]
                        return line
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def has(self, pred):
        with self.cond:
            return any(l is not None and pred(l) for l in self.lines)

    def cmd(self, text):
        """Sends a command; returns its ok/err line (None on timeout)."""
        self.sock.sendall(text.encode() + b"\n")
        return self.wait(lambda l: l == "ok" or l.startswith("ok ") or l.startswith("err "))


def frame(body, hsize=2):
    return struct.pack(">H" if hsize == 2 else ">I", len(body)) + body


def client(port, rcvbuf=None):
    if rcvbuf:
        # a small receive window, set before connecting, keeps output queued
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(WAIT)
        s.connect((HOST, port))
    else:
        s = socket.create_connection((HOST, port), timeout=WAIT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def local_addr(s):
    return "%s:%d" % s.getsockname()


def closed_by_peer(s, timeout=WAIT):
    """True when the peer closes s (EOF or reset) within timeout."""
    s.settimeout(timeout)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return True
    except ConnectionResetError:
        return True
    except OSError:
        return False


def recv_exact(s, n, timeout=WAIT):
    s.settimeout(timeout)
    buf = bytearray()
    while len(buf) < n:
        try:
            d = s.recv(min(n - len(buf), 1 << 20))
        except socket.timeout:
            print("# recv_exact: timeout after %d of %d bytes" % (len(buf), n))
            break
        if not d:
            break
        buf += d
    return bytes(buf)


RESULTS = [0, 0]


def check(name, ok, why=""):
    if ok:
        RESULTS[0] += 1
        print("PASS gate: " + name)
    else:
        RESULTS[1] += 1
        print("FAIL gate: %s: %s" % (name, why))
    sys.stdout.flush()


def log_has(path, text):
    with open(path, errors="replace") as f:
        return text in f.read()


def log_count(path, text):
    with open(path, errors="replace") as f:
        return f.read().count(text)


def wait_log(path, text, timeout=WAIT):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if log_has(path, text):
            return True
        time.sleep(0.05)
    return False


def main():
    ctl_port, node_log = int(sys.argv[1]), sys.argv[2]
    p = Probe(ctl_port)
    hello = p.wait(lambda l: l.startswith("hello "))
    if hello is None:
        check("probe says hello", False, "no hello line from gate_probe")
        return
    H = dict(kv.split("=", 1) for kv in hello.split()[1:])
    H = {k: int(v) for k, v in H.items()}
    probe_h, agent_h = H["probe"], H["agent"]

    def ev(gate, sub, *args):
        """Waits for `ev gate sub args...` (args compared as strings, prefix match)."""
        want = ["ev", gate, sub] + [str(a) for a in args]
        return p.wait(lambda l: l.split()[:len(want)] == want)

    def msg(fd, src, body, timeout=WAIT):
        return p.wait(lambda l: l == "msg %d %d %s" % (fd, src, body.hex()), timeout)

    # ------------------------------------------------------------ Lua gate
    lg1 = H["lg1port"]
    check("Lua gate open replies the bound ip and port", lg1 > 0 and wait_log(node_log, "Listen on 127.0.0.1:0"),
          "hello=%r" % hello)

    a = client(lg1, rcvbuf=65536)
    line = ev("lg1", "open")
    fd = int(line.split()[3]) if line else -1
    check("accept: watchdog gets (socket, open, fd, ip:port)",
          line is not None and line.split()[4] == local_addr(a), repr(line))

    # bytes sent before forward stay in the kernel and arrive afterwards
    a.sendall(frame(b"early"))
    time.sleep(0.2)
    check("an accepted connection is not read before forward", not p.has(lambda l: l.startswith("msg ")))
    r = p.cmd("lcall lg1 forward %d nil agent" % fd)
    check("forward replies", r == "ok", repr(r))
    check("forward: frame sent before forward arrives (source = the gate)", msg(fd, H["lg1"], b"early") is not None)

    # frames cut anywhere, an empty frame, a maximal one: reassembly must
    # deliver each one whole
    writes = [b"\x00\x03abc", b"\x00\x02hi", b"\x00", b"\x05hel", b"lo",
              b"\x00\x01X\x00\x02YZ\x00\x03", b"PQR", b"\x00\x00", b"\xff\xff" + b"B" * 65535]
    for w in writes:
        a.sendall(w)
        time.sleep(0.02)
    for body in [b"abc", b"hi", b"hello", b"X", b"YZ", b"PQR", b"", b"B" * 65535]:
        got = msg(fd, H["lg1"], body)
        check("frames cut anywhere: agent gets %r" % (body[:8] + (b"..." if len(body) > 8 else b"")), got is not None,
              "missing; pending lines: %r" % [l[:60] for l in p.lines[:5]])

    # many frames in one write arrive in order
    a.sendall(b"".join(frame(b"m%d" % i) for i in range(200)))
    ok = all(msg(fd, H["lg1"], b"m%d" % i) is not None for i in range(200))
    check("200 frames in one write arrive in order", ok)

    # forward with a client handle: it becomes the source
    r = p.cmd("lcall lg1 forward %d probe agent" % fd)
    a.sendall(frame(b"from-client"))
    check("forward with client: source = the client handle", r == "ok" and msg(fd, probe_h, b"from-client") is not None)

    # writing to the client through its socket id; output warning
    r = p.cmd("write %d 5" % fd)
    check("a service writes to a forwarded connection", r == "ok true" and recv_exact(a, 5) == b"xxxxx", repr(r))
    r = p.cmd("write %d %d" % (fd, 8 * 1024 * 1024))
    w = ev("lg1", "warning", fd)
    check("unsent output over 1 MiB: watchdog gets (socket, warning, fd, K)",
          w is not None and int(w.split()[4]) >= 1024, repr(w))
    got = recv_exact(a, 8 * 1024 * 1024, timeout=30)
    w0 = ev("lg1", "warning", fd, 0)
    check("drained: watchdog gets (socket, warning, fd, 0)", len(got) == 8 * 1024 * 1024 and w0 is not None,
          "got %d bytes, %r" % (len(got), w0))

    # accept mode: frames go to the watchdog as "data"
    b = client(lg1)
    line = ev("lg1", "open")
    fdb = int(line.split()[3]) if line else -1
    r = p.cmd("lcall lg1 accept %d" % fdb)
    b.sendall(frame(b"to-watchdog") + frame(b""))
    d1 = ev("lg1", "data", fdb, b"to-watchdog".hex())
    check("accept: frames go to the watchdog as (socket, data, fd, frame)", r == "ok" and d1 is not None, repr(r))

    # kick: the client sees EOF, the watchdog a close
    r = p.cmd("lcall lg1 kick %d" % fdb)
    check("kick closes the client", r == "ok" and closed_by_peer(b))
    check("kick: watchdog gets (socket, close, fd)", ev("lg1", "close", fdb) is not None)

    # the peer closes
    a.close()
    check("peer close: watchdog gets (socket, close, fd)", ev("lg1", "close", fd) is not None)

    # unknown command and forward of an unknown fd raise in the caller
    r = p.cmd("lcall lg1 bogus 1")
    check("unknown command raises in the caller", r is not None and r.startswith("err ") and "bogus" in r, repr(r))
    r = p.cmd("lcall lg1 forward 99999")
    check("forward of an unknown fd raises", r is not None and r.startswith("err "), repr(r))

    # maxclient = 4: at most 3 connections are served
    cs = [client(lg1) for _ in range(3)]
    fds = []
    for c in cs:
        line = ev("lg1", "open")
        fds.append(int(line.split()[3]) if line else -1)
    over = client(lg1)
    check("maxclient 4: the 4th connection is shut down at once", closed_by_peer(over))
    line = p.wait(lambda l: l.startswith("ev lg1 close ") and int(l.split()[3]) not in fds)
    check("maxclient: the rejected connection gets a close and no open",
          line is not None and not p.has(lambda l: l.startswith("ev lg1 open")), repr(line))
    for c, f in zip(cs, fds):
        p.cmd("lcall lg1 accept %d" % f)  # a connection never started is not watched
        c.close()
        ev("lg1", "close", f)
    again = client(lg1)
    line = ev("lg1", "open")
    check("maxclient: room again after the others left", line is not None, "lines: %r" % p.lines[-10:])
    again.close()
    ev("lg1", "close")

    # ---------------------------------------------------- bad input (lg2)
    lg2 = H["lg2port"]
    good = client(lg2)
    fdg = int(ev("lg2", "open").split()[3])
    p.cmd("lcall lg2 forward %d nil agent" % fdg)

    def bad_case(name, send, expect_log, close_first=False):
        c = client(lg2)
        line = ev("lg2", "open")
        f = int(line.split()[3]) if line else -1
        p.cmd("lcall lg2 forward %d nil agent" % f)
        before = log_count(node_log, "gate: connection %d" % f)
        c.sendall(send)
        if close_first:
            time.sleep(0.1)
            c.close()
        else:
            check("%s: the client loses its connection" % name, closed_by_peer(c))
        closed = ev("lg2", "close", f)
        time.sleep(0.2)
        n = log_count(node_log, "gate: connection %d" % f) - before
        check("%s: one log line (%s)" % (name, expect_log), n == 1 and wait_log(node_log, expect_log),
              "%d lines about connection %d" % (n, f))
        check("%s: watchdog gets close" % name, closed is not None)
        good.sendall(frame(b"still-here"))
        check("%s: another client is unaffected" % name, msg(fdg, H["lg2"], b"still-here") is not None)
        return f

    f = bad_case("frame over maxpacket", frame(b"ok-before") + struct.pack(">H", 1001) + b"z" * 1001,
                 "exceeds the maximum of 1000")
    check("frame over maxpacket: watchdog gets error first", ev("lg2", "error", f) is not None)
    bad_case("garbage (HTTP request)", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "frame of 18245 bytes exceeds")
    bad_case("disconnect mid-frame", struct.pack(">H", 100) + b"abc", "closed in the middle of a frame (3 of 100 bytes",
             close_first=True)
    bad_case("disconnect after 1 header byte", b"\x00", "(1 of 2 header bytes", close_first=True)
    good.close()
    ev("lg2", "close", fdg)

    # close: stop listening; existing connections stay
    keep = client(lg1)
    fdk = int(ev("lg1", "open").split()[3])
    p.cmd("lcall lg1 forward %d nil agent" % fdk)
    r = p.cmd("lcall lg1 close")
    time.sleep(0.2)
    refused = False
    try:
        client(lg1).close()
    except OSError:
        refused = True
    keep.sendall(frame(b"after-close"))
    check("close stops listening, existing connections stay",
          r == "ok" and refused and msg(fdk, H["lg1"], b"after-close") is not None, "r=%r refused=%r" % (r, refused))
    keep.close()

    # -------------------------------------------------------------- C gate
    cport, cg = H["cgport"], H["cg"]
    c1 = client(cport)
    t = p.wait(lambda l: l.startswith("text cg 0 "))
    text = bytes.fromhex(t.split()[3]).decode() if t else ""
    cid = int(text.split()[0]) if text else -1
    check("C gate: watchdog gets '<id> open <id> <ip:port>:0'",
          text == "%d open %d %s:0" % (cid, cid, local_addr(c1)), repr(text))
    check("C gate: logs 'socket open: <hex id>'", wait_log(node_log, "socket open: %x" % cid))
    c1.sendall(frame(b"abc"))
    time.sleep(0.2)
    check("C gate: not read before 'start'", not p.has(lambda l: l.startswith("text cg %d " % cid)))
    p.cmd("ctext cg start %d" % cid)
    t = p.wait(lambda l: l.startswith("text cg %d " % cid))
    check("C gate: no agent -> watchdog gets '<id> data <frame>' (session = id)",
          t is not None and bytes.fromhex(t.split()[3]) == b"%d data abc" % cid, repr(t))
    p.cmd("ctext cg forward %d :%08x :%08x" % (cid, agent_h, probe_h))
    c1.sendall(frame(b"to-agent") + frame(b"") + b"\x00")
    c1.sendall(b"\x02zz")
    ok = all(msg(cid, probe_h, body) is not None for body in [b"to-agent", b"", b"zz"])
    check("C gate: forward -> agent gets frames (session = id, source = client)", ok)
    p.cmd("csend cg %d %s" % (cid, b"raw bytes back".hex()))
    check("C gate: PTYPE_CLIENT payload + id is written to the client", recv_exact(c1, 14) == b"raw bytes back")
    p.cmd("csend cg %d %s" % (cid, ""))  # 4 bytes only: rejected with a log line
    check("C gate: a 4-byte client message is rejected with a log line", wait_log(node_log, "[gate] Invalid client message"))
    p.cmd("ctext cg bogus 1 2")
    check("C gate: unknown command is logged", wait_log(node_log, "[gate] Unknown command : bogus 1 2"))

    # max 3 connections: the 4th is closed at once
    c2, c3 = client(cport), client(cport)
    ids = []
    for _ in range(2):
        t = p.wait(lambda l: l.startswith("text cg 0 ") and " open " in bytes.fromhex(l.split()[3]).decode())
        ids.append(int(bytes.fromhex(t.split()[3]).decode().split()[0]) if t else -1)
    c4 = client(cport)
    check("C gate: max 3 -> the 4th connection is closed at once", closed_by_peer(c4))
    time.sleep(0.1)
    check("C gate: no open report for the rejected connection",
          not p.has(lambda l: l.startswith("text cg 0 ") and " open " in bytes.fromhex(l.split()[3]).decode()))

    # kick and peer close both report '<id> close'
    p.cmd("ctext cg kick %d" % ids[0])
    check("C gate: kick closes the client", closed_by_peer(c2))
    t = p.wait(lambda l: l == "text cg 0 " + (b"%d close" % ids[0]).hex())
    check("C gate: kick -> '<id> close'", t is not None)
    p.cmd("ctext cg start %d" % ids[1])  # a connection never started is not watched
    c3.close()
    t = p.wait(lambda l: l == "text cg 0 " + (b"%d close" % ids[1]).hex())
    check("C gate: peer close -> '<id> close'", t is not None)

    # broker: every frame goes to one service
    p.cmd("ctext cg broker .gbroker")
    p.cmd("ctext cg start %d" % ids[0])  # kicked: unknown now, logged
    c1.sendall(frame(b"via-broker"))
    check("C gate: broker gets every frame", msg(cid, cg, b"via-broker") is not None)
    c1.close()
    p.wait(lambda l: l == "text cg 0 " + (b"%d close" % cid).hex())

    # 4-byte headers; a declared length >= 16 MiB closes the connection
    lport = H["clport"]
    d1 = client(lport)
    t = p.wait(lambda l: l.startswith("text cl 0 "))
    did = int(bytes.fromhex(t.split()[3]).decode().split()[0]) if t else -1
    p.cmd("ctext cl forward %d :%08x :0" % (did, agent_h))
    p.cmd("ctext cl start %d" % did)
    d1.sendall(frame(b"four", 4) + frame(b"B" * 70000, 4))
    ok = msg(did, H["cl"], b"four") is not None and msg(did, H["cl"], b"B" * 70000) is not None
    check("C gate L: 4-byte headers, frames over 64 KiB (source = gate when client is 0)", ok)
    d1.sendall(struct.pack(">I", 0x1000000) + b"x" * 10)
    check("C gate L: a 16 MiB frame closes the connection", closed_by_peer(d1))
    check("C gate L: logs 'Recv socket message > 16M'", wait_log(node_log, "Recv socket message > 16M"))
    t = p.wait(lambda l: l == "text cl 0 " + (b"%d close" % did).hex())
    check("C gate L: ... and reports '<id> close'", t is not None)

    # close: stop listening
    p.cmd("ctext cl close")
    time.sleep(0.2)
    try:
        client(lport).close()
        refused = False
    except OSError:
        refused = True
    check("C gate: 'close' stops listening", refused)

    # launch parameter errors
    for params, text in [("X ! 127.0.0.1:%d 0 3" % cport, "Invalid data header style"),
                         ("S ! 127.0.0.1:%d 0 0" % cport, "Need max connection"),
                         ("S .nosuchwatchdog 127.0.0.1:%d 0 3" % cport, "Invalid watchdog"),
                         ("S ! 127.0.0.1:notaport 0 3", "Invalid gate address"),
                         ("S !", "Invalid gate parm")]:
        r = p.cmd("launch " + params)
        check("C gate: launch '%s' fails: %s" % (params, text), r == "ok nil" and wait_log(node_log, text), repr(r))

    print("# gate: %d checks passed, %d failed" % tuple(RESULTS))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a crash of the driver is one failure, not a silent stop
        import traceback
        traceback.print_exc()
        check("driver ran to the end", False, "%s: %s" % (type(e).__name__, e))

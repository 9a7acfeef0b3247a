#!/usr/bin/env python3
"""Driver of test/e2e/test_kv.sh: the KV database example (user notes,
section 一) as a user runs it, `lua examples/client.lua` talking to
`./skynet examples/config`, plus raw TCP clients that speak the example's
protocol (examples/kvproto.lua) or misbehave.

    kv_driver.py NODE_LOG

Prints one `PASS name` / `FAIL name: why` line per check.
"""
import os
import socket
import struct
import subprocess
import sys
import threading
import time

HOST, PORT, CONSOLE = "127.0.0.1", 8888, 8000
WAIT = 10.0
HEARTBEAT = 5.0  # seconds between heartbeats (agent default)
RESULTS = [0, 0]


def check(name, ok, why=""):
    if ok:
        RESULTS[0] += 1
        print("PASS kv: " + name)
    else:
        RESULTS[1] += 1
        print("FAIL kv: %s: %s" % (name, why))
    sys.stdout.flush()


class Client:
    """`lua examples/client.lua` with its stdin and stdout on pipes."""

    def __init__(self):
        self.proc = subprocess.Popen(["lua", "examples/client.lua"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines = []
        self.seen = []  # every line ever printed
        self.cond = threading.Condition()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            with self.cond:
                self.lines.append(line)
                self.seen.append((time.time(), line))
                self.cond.notify_all()

    def type(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def next_answer(self, timeout=WAIT):
        """Next printed line that is not a server push (heartbeat)."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                while self.lines:
                    line = self.lines.pop(0)
                    if not line.startswith("[server] heartbeat"):
                        return line
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def ask(self, line):
        self.type(line)
        return self.next_answer()

    def unexpected(self):
        """Printed lines not consumed and not heartbeats."""
        with self.cond:
            return [l for l in self.lines if not l.startswith("[server] heartbeat")]


def frame(body):
    return struct.pack(">H", len(body)) + body


def connect():
    s = socket.create_connection((HOST, PORT), timeout=WAIT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_frame(s):
    def exact(n):
        buf = b""
        while len(buf) < n:
            d = s.recv(n - len(buf))
            if not d:
                return None
            buf += d
        return buf
    h = exact(2)
    if h is None:
        return None
    return exact(struct.unpack(">H", h)[0])


def read_answer(s):
    """Next frame that is not a push (session 0)."""
    while True:
        f = read_frame(s)
        if f is None or not f.startswith(b"0 "):
            return f


def closed_by_peer(s):
    s.settimeout(WAIT)
    try:
        while s.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except OSError:
        return False


def log_lines(path):
    """Node log lines other than service LAUNCH/KILL lines."""
    with open(path, errors="replace") as f:
        return [l for l in f.read().splitlines() if " LAUNCH " not in l and " KILL self" not in l]


def main():
    node_log = sys.argv[1]

    # ------------------------------------------------- the interactive client
    c = Client()
    banner = c.next_answer()
    check("client.lua connects and says so", banner is not None and banner.startswith("connected to 127.0.0.1:8888"),
          repr(banner))
    welcome = c.next_answer()
    check("the agent greets the client", welcome is not None and welcome.startswith("[server] KV database example"),
          repr(welcome))
    r = c.ask("set k hello world")
    check("set k v -> OK", r == "OK", repr(r))
    r = c.ask("get k")
    check("get k -> the value (spaces kept)", r == "hello world", repr(r))
    r = c.ask("get nosuchkey")
    check("get of a missing key -> (nil)", r == "(nil)", repr(r))
    r = c.ask("set k   three   spaces  ")
    r2 = c.ask("get k")
    check("set replaces the value", r == "OK" and r2 == "three   spaces", repr((r, r2)))
    r = c.ask("set empty \"\"")
    check("values are opaque text", r == "OK" and c.ask("get empty") == '""')
    r = c.ask("bogus stuff")
    check("an unknown command is refused by the client", r is not None and r.startswith("unknown command 'bogus'"),
          repr(r))
    r = c.ask("set onlykey")
    check("set without a value prints the usage", r == "usage: set <key> <value>", repr(r))
    r = c.ask("set big " + "v" * 5000)
    check("a request over the frame limit is refused by the client", r is not None and r.startswith("too long"),
          repr(r))

    # a second client, commands from a pipe that ends: shared data, clean exit
    out = subprocess.run(["lua", "examples/client.lua"], input=b"get k\nset other 42\n", capture_output=True,
                         timeout=30)
    lines = out.stdout.decode().splitlines()
    check("a piped client sees the same database and exits 0 at end of input",
          out.returncode == 0 and "three   spaces" in lines and "OK" in lines, repr((out.returncode, lines)))
    check("... and its set is visible to the first client", c.ask("get other") == "42")

    # a client that cannot connect says why
    out = subprocess.run(["lua", "examples/client.lua", "127.0.0.1", "1"], capture_output=True, timeout=30)
    check("client.lua to a closed port: exit 1 and a message", out.returncode == 1 and b"refused" in out.stdout + out.stderr,
          repr(out))

    # ---------------------------------------------- raw protocol clients
    s = connect()
    welcome = read_frame(s)
    check("raw: the welcome is a push '0 welcome ...'", welcome is not None and welcome.startswith(b"0 welcome "),
          repr(welcome))
    s.sendall(frame(b"1 get k"))
    r = read_answer(s)
    check("raw: '1 get k' -> '1 ok three   spaces'", r == b"1 ok three   spaces", repr(r))
    s.sendall(frame(b"2 del k"))
    r = read_answer(s)
    check("raw: unknown command -> err answer, connection kept",
          r == b"2 err unknown command del", repr(r))
    # pipelined: many requests in one write, answered in order
    reqs = b"".join(frame(b"%d set p%d %d" % (i, i, i)) + frame(b"%d get p%d" % (1000 + i, i)) for i in range(3, 103))
    s.sendall(reqs)
    ok = True
    for i in range(3, 103):
        a1, a2 = read_answer(s), read_answer(s)
        if a1 != b"%d ok" % i or a2 != b"%d ok %d" % (1000 + i, i):
            ok = False
            break
    check("raw: 200 pipelined requests in one write answered in order", ok, repr((i, a1, a2)))

    # 20 concurrent clients
    errors = []

    def worker(n):
        try:
            t = connect()
            read_frame(t)
            for j in range(20):
                t.sendall(frame(b"%d set w%d_%d v%d" % (2 * j + 1, n, j, j)) + frame(b"%d get w%d_%d" % (2 * j + 2, n, j)))
                if read_answer(t) != b"%d ok" % (2 * j + 1) or read_answer(t) != b"%d ok v%d" % (2 * j + 2, j):
                    errors.append(n)
                    break
            t.sendall(frame(b"99 quit"))
            if read_answer(t) != b"99 bye" or not closed_by_peer(t):
                errors.append(n)
            t.close()
        except OSError as e:
            errors.append((n, str(e)))
    ts = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check("20 concurrent raw clients: set/get/quit", not errors, repr(errors))

    # ----------------------------------------------------------- bad input
    c.lines.clear()

    def bad(name, action, expect_text):
        before = log_lines(node_log)
        victim = connect()
        read_frame(victim)  # the welcome: nothing unread when we close
        lost = action(victim)
        deadline = time.time() + WAIT
        new = []
        while time.time() < deadline:
            new = log_lines(node_log)[len(before):]
            if new:
                time.sleep(0.3)  # a second line would show up by now
                new = log_lines(node_log)[len(before):]
                break
            time.sleep(0.05)
        check("%s: the client loses its connection" % name, lost)
        check("%s: exactly one log line (%s)" % (name, expect_text),
              len(new) == 1 and expect_text in new[0], repr(new))
        s.sendall(frame(b"7 get k"))
        r = read_answer(s)
        r2 = c.ask("get k")
        check("%s: other clients still served" % name, r == b"7 ok three   spaces" and r2 == "three   spaces",
              repr((r, r2)))
        check("%s: other clients see nothing" % name, not c.unexpected(), repr(c.unexpected()))
        victim.close()

    def send_and_wait(data):
        def act(v):
            v.sendall(data)
            return closed_by_peer(v)
        return act

    def hang_up(data, reset=False):
        def act(v):
            v.sendall(data)
            time.sleep(0.1)
            if reset:
                v.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            v.close()
            return True
        return act

    bad("garbage (an HTTP request)", send_and_wait(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        "exceeds the maximum of 4096")
    bad("garbage (random bytes in a valid frame)", send_and_wait(frame(os.urandom(50).replace(b" ", b"_"))),
        "sent a bad request")
    bad("a frame larger than the maximum", send_and_wait(struct.pack(">H", 4097) + b"x" * 4097),
        "frame of 4097 bytes exceeds the maximum of 4096")
    bad("disconnect mid-frame", hang_up(struct.pack(">H", 100) + b"1 get"),
        "closed in the middle of a frame (5 of 100 bytes received)")
    bad("reset mid-frame", hang_up(struct.pack(">H", 100) + b"1 get", reset=True),
        "Connection reset by peer")

    # ------------------------------------------------------------ heartbeat
    deadline = time.time() + 3 * HEARTBEAT + 5
    while time.time() < deadline:
        beats = [t for t, l in c.seen if l == "[server] heartbeat"]
        if len(beats) >= 2:
            break
        time.sleep(0.2)
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    check("the agent sends a heartbeat every 5 s (%d seen)" % len(beats),
          len(beats) >= 2 and all(HEARTBEAT * 0.5 < g < HEARTBEAT * 2.5 for g in gaps), repr(gaps))

    # ---------------------------------------------------------------- quit
    r = c.ask("quit")
    try:
        rc = c.proc.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        rc = None
    check("quit -> Bye, client exits 0", r == "Bye" and rc == 0, repr((r, rc)))
    s.close()

    # the debug console runs next to the example
    try:
        d = socket.create_connection((HOST, CONSOLE), timeout=WAIT)
        d.sendall(b"list\n")
        d.settimeout(WAIT)
        buf = b""
        while b"<CMD" not in buf:
            x = d.recv(65536)
            if not x:
                break
            buf += x
        d.close()
        check("debug_console answers on 127.0.0.1:8000", b"<CMD OK>" in buf and b"watchdog" in buf, repr(buf[:200]))
    except OSError as e:
        check("debug_console answers on 127.0.0.1:8000", False, str(e))

    print("# kv: %d checks passed, %d failed" % tuple(RESULTS))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        import traceback
        traceback.print_exc()
        check("driver ran to the end", False, "%s: %s" % (type(e).__name__, e))

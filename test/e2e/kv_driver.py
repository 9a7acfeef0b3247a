#!/usr/bin/env python3
"""Driver of test/e2e/test_kv.sh: upstream's KV database example (user
notes, section 一) end to end, with the real examples/client.lua on
Debian's lua5.4, plus raw sproto clients (test/e2e/kv_sproto.py) that
check the bytes and misbehave.

    kv_driver.py NODE_LOG GATE_PORT CONSOLE_PORT WORKDIR

The node runs examples/config with other ports (the test's own config).
Prints one `PASS name` / `FAIL name: why` line per check.
"""
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kv_sproto as kv  # noqa: E402

HOST = "127.0.0.1"
WAIT = 10.0
RESULTS = [0, 0]

# The client's stdout in the recorded session: stdin `hello` at +1 s,
# `get hello` at +2 s, `quit` at +3 s.
TRANSCRIPT = [
    "Request:\t1",
    "Request:\t2",
    "RESPONSE\t1",
    "msg\tWelcome to skynet, I will send heartbeat every 5 sec.",
    "RESPONSE\t2",
    "Request:\t3",
    "RESPONSE\t3",
    "result\tworld",
    "Request:\t4",
    "RESPONSE\t4",
    "Request:\t5",
]
SCHEDULE = [(1.0, "hello"), (2.0, "get hello"), (3.0, "quit")]


def check(name, ok, why=""):
    if ok:
        RESULTS[0] += 1
        print("PASS kv: " + name)
    else:
        RESULTS[1] += 1
        print("FAIL kv: %s: %s" % (name, why))
    sys.stdout.flush()


class Client:
    """A Lua client process; stdin stays open until it exits."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.start = time.time()
        self.lines = []  # (seconds since start, line)
        self.cond = threading.Condition()
        self.err = b""
        threading.Thread(target=self._out, daemon=True).start()
        threading.Thread(target=self._err, daemon=True).start()

    def _out(self):
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append((time.time() - self.start, raw.decode(errors="replace").rstrip("\n")))
                self.cond.notify_all()

    def _err(self):
        self.err = self.proc.stderr.read()

    def type_at(self, schedule):
        """Writes each (seconds after start, line) of schedule on time."""
        for at, line in schedule:
            time.sleep(max(0.0, self.start + at - time.time()))
            try:
                self.proc.stdin.write(line.encode() + b"\n")
                self.proc.stdin.flush()
            except OSError:
                return

    def wait_line(self, line, timeout=WAIT):
        deadline = time.time() + timeout
        with self.cond:
            while not any(l == line for _, l in self.lines):
                left = deadline - time.time()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True

    def finish(self, timeout=WAIT):
        """-> (exit status or None, stdout lines, stderr text)."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = None
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        time.sleep(0.1)  # the reader threads see the end
        return rc, [l for _, l in self.lines], self.err.decode(errors="replace")


def server_closed(err, script):
    """stderr of a client the server hung up on: `lua...: <script>:N: Server closed` + traceback."""
    return re.search(r"^\S*lua[0-9.]*: %s:\d+: Server closed$" % re.escape(script), err, re.M) is not None \
        and "stack traceback:" in err


def log(path):
    with open(path, errors="replace") as f:
        return f.read().splitlines()


def wait_log(path, pattern, timeout=WAIT):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for line in log(path):
            if re.search(pattern, line):
                return line
        time.sleep(0.05)
    return None


def connect(port):
    s = socket.create_connection((HOST, port), timeout=WAIT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


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


def main():
    node_log, port, console_port, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    lua_client = ["lua5.4", "examples/client.lua", HOST, str(port)]

    # ------------------------------------------- the recorded session, first client of the node
    before = len(log(node_log))
    c = Client(lua_client)
    c.type_at(SCHEDULE)
    rc, out, err = c.finish()
    check("client.lua on lua5.4: stdout is the recorded session's", out == TRANSCRIPT, repr(out))
    check("client.lua: the server closes after quit: 'Server closed', exit status 1",
          rc == 1 and server_closed(err, "examples/client.lua"), repr((rc, err)))

    watchdog = wait_log(node_log, r"^\[:([0-9a-f]{8})\] LAUNCH snlua watchdog$")
    watchdog = watchdog and watchdog[2:10]
    agent = wait_log(node_log, r"^\[:[0-9a-f]{8}\] LAUNCH snlua agent$")
    agent = agent and agent[2:10]
    wait_log(node_log, r"^\[:%s\] KILL self$" % agent)
    time.sleep(0.3)  # the watchdog's "socket close" line
    lines = log(node_log)[before:]
    mine = [l for l in lines if l.startswith("[:%s] " % watchdog) or l.startswith("[:%s] " % agent)]
    logged = [l for l in mine if "TRACE" not in l]
    want = [r"\[:%s\] New client from : 127\.0\.0\.1:\d+" % watchdog,
            r"\[:%s\] LAUNCH snlua agent" % agent,
            r"\[:%s\] KILL self" % agent]
    check("server log: New client from, LAUNCH snlua agent, KILL self (watchdog %s, agent %s)" % (watchdog, agent),
          len(logged) == len(want) and all(re.fullmatch(w, l) for w, l in zip(want, logged)), repr(logged))
    printed = [l for l in lines if not l.startswith("[:")]
    want = ["set\thello\tworld", "get\thello", "get\tget hello", r"socket close\t\d+"]
    check("server stdout: set/get/get/socket close lines", len(printed) == len(want) and
          all(re.fullmatch(w, l) for w, l in zip(want, printed)), repr(printed))
    traced = [l for l in mine if re.fullmatch(r"\[:%s\] <TRACE :%s-\d+> \d+ trace" % (agent, agent), l)]
    check("the agent traces each of the 5 requests (skynet.trace)", len(traced) == 5, repr(traced))

    # ------------------------------------------- two heartbeats in a 12.5 s pause, alongside the rest
    beat = Client(lua_client)
    beat_typer = threading.Thread(target=beat.type_at, args=([(12.5, "quit")],))
    beat_typer.start()

    # raw sproto client: upstream's recorded bytes, both ways
    raw = connect(port)
    raw_at = time.time()
    rd = kv.Reader(raw)
    raw.sendall(kv.RECORDED["handshake"] + kv.RECORDED["set hello world"])
    got = [rd.frame(raw=True), rd.frame(raw=True)]
    check("raw: handshake + set -> upstream's bytes (welcome, 65 B; set done)",
          got == [kv.RECORDED["welcome"], kv.RECORDED["set done"]], repr(got))
    raw.sendall(kv.RECORDED["get hello"])
    got = rd.frame(raw=True)
    check("raw: get hello -> upstream's bytes for {result=\"world\"}", got == kv.RECORDED["result world"], repr(got))
    raw.sendall(kv.get(4, b"nope"))
    got = rd.frame(raw=True)
    check("raw: get of a missing key -> header only (00 04 15 02 01 0a)", got == bytes.fromhex("00041502010a"),
          repr(got))

    # the notes' own command line: `lua` (Debian's alternative for lua5.4), and
    # their spelling `example/client.lua`
    for script in ("examples/client.lua", "example/client.lua"):
        q = Client(["lua", script, HOST, str(port)])
        if q.wait_line("RESPONSE\t2"):
            q.type_at([(0, "quit")])
        rc, out, err = q.finish()
        check("`lua %s`: handshake, set, quit" % script,
              out == TRANSCRIPT[:5] + ["Request:\t3"] and rc == 1 and server_closed(err, script), repr((rc, out, err)))

    # upstream's package setup (cpath luaclib/?.so, path lualib/?.lua;examples/?.lua)
    up = Client(["lua5.4", os.path.join(work, "client_upstream_paths.lua"), HOST, str(port)])
    up.type_at(SCHEDULE)
    rc, out, err = up.finish()
    check("client with upstream's package.path/cpath: the recorded session", out == TRANSCRIPT and rc == 1,
          repr((rc, out, err)))

    # stdin at end of file: the answers still due are printed, then exit 0
    try:
        p = subprocess.run(lua_client, input=b"hello\nnope\n", capture_output=True, timeout=WAIT)
        rc, out = p.returncode, p.stdout.decode().splitlines()
    except subprocess.TimeoutExpired as e:
        rc, out = "still running after %gs" % WAIT, (e.stdout or b"").decode().splitlines()
    want = {"Request:\t%d" % i for i in range(1, 5)} | {"RESPONSE\t%d" % i for i in range(1, 5)} | {"result\tworld"}
    check("stdin from a file: every answer printed, exit 0", rc == 0 and want <= set(out), repr((rc, out)))

    # pipelined: 200 requests in one write
    reqs = b"".join(kv.set_(10 + 2 * i, b"p%d" % i, b"%d" % i) + kv.get(11 + 2 * i, b"p%d" % i) for i in range(100))
    raw.sendall(reqs)
    answers = {}
    for _ in range(200):
        r = rd.response()
        if r is None:
            break
        answers[r[0]] = kv.get_result(r[1])
    ok = len(answers) == 200 and all(answers[11 + 2 * i] == b"%d" % i for i in range(100))
    check("raw: 200 pipelined requests in one write all answered", ok, repr(len(answers)))

    # 20 concurrent clients
    errors = []

    def worker(n):
        try:
            t = connect(port)
            r = kv.Reader(t)
            for j in range(20):
                t.sendall(kv.set_(2 * j + 1, b"w%d_%d" % (n, j), b"v%d" % j) + kv.get(2 * j + 2, b"w%d_%d" % (n, j)))
                a = {}
                for _ in range(2):
                    s, body = r.response()
                    a[s] = body
                if kv.get_result(a.get(2 * j + 2, b"")) != b"v%d" % j or 2 * j + 1 not in a:
                    errors.append((n, j, a))
                    break
            t.sendall(kv.request(kv.QUIT, 99))
            if not closed_by_peer(t):
                errors.append((n, "not closed after quit"))
            t.close()
        except (OSError, TypeError) as e:
            errors.append((n, str(e)))
    ts = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check("20 concurrent raw clients: set/get/quit", not errors, repr(errors[:3]))

    # the raw connection gets the heartbeat push about 5 s after it connected
    raw.settimeout(WAIT + 5)
    got = rd.frame(raw=True)
    check("raw: heartbeat push is upstream's bytes (00 03 05 01 04), about 5 s after connecting",
          got == kv.RECORDED["heartbeat"] and time.time() - raw_at > 3, repr((got, time.time() - raw_at)))
    raw.sendall(kv.RECORDED["quit"])
    rest = b""
    try:
        raw.settimeout(WAIT)
        while True:
            d = raw.recv(65536)
            if not d:
                break
            rest += d
    except OSError:
        pass
    check("raw: quit -> the connection closes without an answer",
          all(kv.parse(f[2:])[0] == "REQUEST" for f in split_frames(rest)), repr(rest))
    raw.close()

    beat_typer.join()
    rc, out, err = beat.finish(timeout=WAIT + 15)
    beats = [t for t, l in beat.lines if l == "REQUEST\theartbeat"]
    check("client.lua, quit after 12.5 s: two heartbeat lines, about 5 s apart",
          out == TRANSCRIPT[:5] + ["REQUEST\theartbeat"] * 2 + ["Request:\t3"] and rc == 1
          and beats[1] - beats[0] > 2.5, repr((rc, out, beats)))

    # ------------------------------------------------------------------ bad clients
    other = connect(port)
    other_rd = kv.Reader(other)

    def quiet(lines):
        """Log lines that are not about every connection (launch, trace, open/close)."""
        return [l for l in lines if not re.search(r"LAUNCH|KILL self|TRACE|New client from|^socket (close|error)\t", l)]

    def bad(name, action, expect_text):
        before = len(log(node_log))
        victim = connect(port)
        lost = action(victim)
        deadline = time.time() + WAIT
        new = []
        while time.time() < deadline:
            new = quiet(log(node_log)[before:])
            if new:
                time.sleep(0.3)  # a second line would show up by now
                new = quiet(log(node_log)[before:])
                break
            time.sleep(0.05)
        check("%s: the client loses its connection" % name, lost)
        check("%s: one log line (%s)" % (name, expect_text), len(new) == 1 and expect_text in new[0], repr(new))
        other.sendall(kv.get(7, b"hello"))
        r = other_rd.response()
        check("%s: other clients still served" % name, r is not None and r[0] == 7 and kv.get_result(r[1]) == b"world",
              repr(r))
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

    bad("garbage in a frame", send_and_wait(kv.frame(b"\xff" * 50)), "sent a malformed message")
    bad("an unknown protocol tag", send_and_wait(kv.request(9, 1)), "sent a malformed message")
    bad("a response from the client", send_and_wait(kv.frame(kv.pack(kv.encode_struct({1: 1})))),
        "sent a malformed message")
    bad("disconnect mid-frame", hang_up(struct.pack(">H", 100) + b"\x15\x02"),
        "closed in the middle of a frame (2 of 100 bytes received)")
    bad("reset mid-frame", hang_up(struct.pack(">H", 100) + b"\x15\x02", reset=True),
        "Connection reset by peer")
    other.close()

    # the debug console runs next to the example
    try:
        d = socket.create_connection((HOST, console_port), timeout=WAIT)
        d.sendall(b"list\n")
        d.settimeout(WAIT)
        buf = b""
        while b"<CMD" not in buf:
            x = d.recv(65536)
            if not x:
                break
            buf += x
        d.close()
        check("debug_console answers on its port", b"<CMD OK>" in buf and b"watchdog" in buf, repr(buf[:200]))
    except OSError as e:
        check("debug_console answers on its port", False, str(e))

    print("# kv: %d checks passed, %d failed" % tuple(RESULTS))


def split_frames(data):
    out = []
    while len(data) >= 2:
        (n,) = struct.unpack(">H", data[:2])
        out.append(data[:2 + n])
        data = data[2 + n:]
    return out


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        import traceback
        traceback.print_exc()
        check("driver ran to the end", False, "%s: %s" % (type(e).__name__, e))

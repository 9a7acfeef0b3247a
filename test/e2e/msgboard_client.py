#!/usr/bin/env python3
"""Drives the message board example (examples/msgboard) over TCP for
test/e2e/test_mysql.sh.  Prints PASS/FAIL lines.

    msgboard_client.py PORT store     several clients set messages, get them back
    msgboard_client.py PORT persist   after a node restart: everything is still there
"""
import socket
import sys
import threading

TEXTS = [
    "hello",
    "it's a \"quoted\" 'text'; -- with SQL in it: '); drop table msgs; --",
    "line one\nline two\r\nline three",
    "back\\slash \\n literal, tab\there, \\\\ double",
    "\u4f60\u597d\uff0c\u4e16\u754c \u00e9\u00e0\u00fc \u0645\u0631\u062d\u0628\u0627 \U0001f600\U0001f680",
    "",
    " leading and trailing spaces ",
    "x" * 60000,
]

failures = 0


def check(name, cond, why=""):
    global failures
    if cond:
        print("PASS msgboard: " + name)
    else:
        failures += 1
        print("FAIL msgboard: %s: %s" % (name, why))
    sys.stdout.flush()


def escape(b):
    return b.replace(b"\\", b"\\\\").replace(b"\n", b"\\n").replace(b"\r", b"\\r")


def unescape(b):
    out = bytearray()
    i = 0
    while i < len(b):
        c = b[i:i + 1]
        if c == b"\\" and i + 1 < len(b):
            n = b[i + 1:i + 2]
            out += {b"n": b"\n", b"r": b"\r", b"\\": b"\\"}.get(n, b"\\" + n)
            i += 2
        else:
            out += c
            i += 1
    return bytes(out)


class Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.s.recv(65536)
            if not data:
                raise EOFError("connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def send(self, raw):
        self.s.sendall(raw)

    def set(self, text):
        self.send(b"set " + escape(text.encode("utf-8")) + b"\n")
        return self.line()

    def get(self):
        self.send(b"get\r\n")
        rows = []
        while True:
            ln = self.line()
            if ln == b"end":
                return rows
            mid, _, text = ln.partition(b" ")
            rows.append((int(mid), unescape(text)))

    def close(self):
        self.s.close()


def store(port):
    c = Client(port)
    ids = {}
    for t in TEXTS:
        r = c.set(t)
        ok = r.startswith(b"ok ")
        check("set %r... answers ok <id>" % t[:20], ok, r[:80])
        if ok:
            ids[int(r[3:])] = t.encode("utf-8")
    rows = dict(c.get())
    for mid, want in ids.items():
        got = rows.get(mid)
        check("get returns message %d byte-exact (%d bytes)" % (mid, len(want)), got == want,
              "got %r" % (got[:60] if got else got))

    # several clients at once, each storing its own messages
    results = {}

    def worker(n):
        try:
            w = Client(port)
            mine = []
            for k in range(20):
                text = "client %d message %d \u00fc\n\u2603" % (n, k)
                r = w.set(text)
                mine.append((int(r[3:]), text.encode("utf-8")))
            results[n] = (mine, dict(w.get()))
            w.close()
        except Exception as e:  # noqa: BLE001 -- reported as a failure
            results[n] = e

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    good = 0
    for n in range(8):
        r = results.get(n)
        if isinstance(r, tuple):
            mine, seen = r
            if all(seen.get(mid) == text for mid, text in mine):
                good += 1
    check("8 concurrent clients x 20 messages: every one stored and listed", good == 8,
          "%d of 8 clients ok: %r" % (good, [results.get(n) for n in range(8) if not isinstance(results.get(n), tuple)]))

    total = len(c.get())
    check("a second client sees all messages", total == len(ids) + 160, "%d rows" % total)

    c.send(b"frobnicate\n")
    r = c.line()
    check("an unknown command gets an error line", r.startswith(b"error unknown command"), r)
    c.send(b"set " + b"y" * 70000 + b"\n")
    r = c.line()
    check("a text longer than the column gets an error line, not a crash", r.startswith(b"error"), r[:80])
    check("... and the connection still works", c.set("after the error").startswith(b"ok "))
    c.send(b"quit\n")
    check("quit says bye", c.line() == b"bye")
    c.close()
    with open(sys.argv[3], "w") as f:
        f.write("%d %s\n" % (len(ids) + 161, TEXTS[4].encode("utf-8").hex().upper()))


def persist(port):
    want = int(open(sys.argv[3]).read().split()[0])
    c = Client(port)
    rows = c.get()
    check("messages persist across a node restart", len(rows) == want, "%d rows, want %d" % (len(rows), want))
    check("... byte-exact", any(t == TEXTS[4].encode("utf-8") for _, t in rows) and
          any(t == TEXTS[2].encode("utf-8") for _, t in rows))
    c.close()


def main():
    port = int(sys.argv[1])
    try:
        {"store": store, "persist": persist}[sys.argv[2]](port)
    except Exception as e:  # noqa: BLE001 -- any failure is a FAIL line
        check("client run", False, repr(e))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""HTTP clients for test/e2e/test_metrics.sh, polite and hostile.

  metrics_client.py PORT get PATH             status line, then the body (stdout)
  metrics_client.py PORT lint FILE            checks an exposition text ourselves
  metrics_client.py PORT slow PID             one byte a second
  metrics_client.py PORT bighead PID          a header of up to 1 GB, as fast as possible
  metrics_client.py PORT many PID N           N connections at once, half sending half a head
Each hostile mode prints `key value` lines that the shell checks: what the
server answered, how long a normal scrape took meanwhile, the node's
resident memory before and after (from /proc/PID/status).
"""
import re
import socket
import sys
import time

HOST = "127.0.0.1"


def rss_kb(pid):
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def get(port, path, timeout=10.0):
    """(status, body bytes, seconds) of one GET."""
    t0 = time.monotonic()
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: metrics_client\r\n\r\n" % (path, HOST, port)).encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.1 (\d+) ", head)
    status = int(m.group(1)) if m else 0
    cl = re.search(rb"\r\nContent-Length: (\d+)", head)
    if cl and int(cl.group(1)) != len(body):
        status = -1  # a cut answer
    return status, body, time.monotonic() - t0


def scrape_time(port):
    """Seconds one /metrics takes, or 99 when it fails."""
    try:
        status, body, dt = get(port, "/metrics", timeout=5.0)
        return dt if status == 200 and b"skynet_services" in body else 99.0
    except OSError:
        return 99.0


def read_answer(s, limit=5.0):
    """Whatever the server sends until it closes (or limit seconds)."""
    s.settimeout(limit)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def status_of(data):
    m = re.match(rb"HTTP/1\.1 (\d+) ", data)
    return int(m.group(1)) if m else 0


def cmd_get(port, path):
    status, body, _ = get(port, path)
    sys.stdout.write("%d\n" % status)
    sys.stdout.flush()
    sys.stdout.buffer.write(body)


NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})? (?P<value>\S+)$')


def cmd_lint(path):
    """Our own reading of the naming conventions, besides promtool's."""
    problems = []
    types, helps, seen_family_end = {}, {}, set()
    current = None
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            if name in helps:
                problems.append("line %d: second HELP for %s" % (n, name))
            helps[name] = True
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            types[name] = typ
            if current and current != name:
                seen_family_end.add(current)
            if name in seen_family_end:
                problems.append("line %d: family %s is split" % (n, name))
            current = name
            if typ == "counter" and not name.endswith("_total"):
                problems.append("counter %s does not end in _total" % name)
            if typ != "counter" and name.endswith("_total"):
                problems.append("%s %s ends in _total" % (typ, name))
            if re.search(r"_(ms|milliseconds|us|kb|mb|kilobytes|megabytes)(_|$)", name):
                problems.append("%s is not in base units" % name)
            continue
        m = SAMPLE.match(line)
        if not m:
            problems.append("line %d: not a sample: %r" % (n, line))
            continue
        name = m.group(1)
        family = re.sub(r"_(sum|count|bucket)$", "", name) if name not in types else name
        if family not in types or family not in helps:
            problems.append("line %d: %s has no TYPE/HELP" % (n, name))
        elif family != current:
            problems.append("line %d: a sample of %s outside its family" % (n, name))
        try:
            float(m.group("value"))
        except ValueError:
            problems.append("line %d: value %r" % (n, m.group("value")))
    print("families %d" % len(types))
    for p in problems:
        print("problem " + p)


def cmd_slow(port, pid):
    s = socket.create_connection((HOST, port))
    req = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    t0 = time.monotonic()
    scrapes = []
    answer = b""
    s.settimeout(1.0)
    for i, b in enumerate(req):
        try:
            s.send(bytes([b]))
        except OSError:
            break
        # one normal scrape per byte sent: served while this client dawdles
        scrapes.append(scrape_time(port))
        try:
            chunk = s.recv(65536)
            if chunk == b"":
                break
            answer += chunk
            if answer:
                answer += read_answer(s, 2.0)
                break
        except socket.timeout:
            pass
        except ConnectionResetError:
            break
    print("status %d" % status_of(answer))
    print("seconds %.1f" % (time.monotonic() - t0))
    print("bytes_sent %d of %d" % (i + 1, len(req)))
    print("max_scrape %.3f" % max(scrapes))


def cmd_bighead(port, pid):
    before = rss_kb(pid)
    s = socket.create_connection((HOST, port))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    line = b"X-Junk: " + b"a" * 65000 + b"\r\n"
    sent = 0
    limit = 1 << 30
    s.settimeout(5.0)
    t0 = time.monotonic()
    try:
        while sent < limit and time.monotonic() - t0 < 20:
            sent += s.send(line)
    except (BrokenPipeError, ConnectionResetError, socket.timeout) as e:
        print("stopped %s" % type(e).__name__)
    answer = read_answer(s, 3.0)
    print("status %d" % status_of(answer))
    print("bytes_sent %d" % sent)
    print("max_scrape %.3f" % scrape_time(port))
    print("rss_growth_kb %d" % (rss_kb(pid) - before))


def cmd_many(port, pid, n):
    before = rss_kb(pid)
    conns = []
    for i in range(n):
        try:
            s = socket.create_connection((HOST, port), timeout=5.0)
        except OSError as e:
            print("connect_failed %d %s" % (i, e))
            break
        if i % 2 == 0:
            s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Half: ")
        conns.append(s)
    print("opened %d" % len(conns))
    # while the crowd holds its connections, a normal client still gets through
    times = [scrape_time(port) for _ in range(3)]
    print("max_scrape %.3f" % max(times))
    print("rss_growth_kb %d" % (rss_kb(pid) - before))
    for s in conns:
        s.close()
    time.sleep(1.0)
    print("after_scrape %.3f" % scrape_time(port))


def main():
    port = int(sys.argv[1])
    mode = sys.argv[2]
    if mode == "get":
        cmd_get(port, sys.argv[3])
    elif mode == "lint":
        cmd_lint(sys.argv[3])
    elif mode == "slow":
        cmd_slow(port, sys.argv[3])
    elif mode == "bighead":
        cmd_bighead(port, sys.argv[3])
    elif mode == "many":
        cmd_many(port, sys.argv[3], int(sys.argv[4]))


if __name__ == "__main__":
    main()

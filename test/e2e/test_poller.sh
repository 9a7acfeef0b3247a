#!/usr/bin/env bash
# Who polls the sockets (skynet-src/skynet_poller.c): while traffic flows an
# idle worker polls them in place of the socket thread and runs what it
# reads itself.  Checked here: a socket event never waits long behind that
# worker when it gets stuck in a long handler (another worker, or the
# socket thread, takes the polling over), and once traffic stops nobody
# keeps polling (the node goes idle).
source "$(dirname "$0")/lib.sh"

PORT=$(free_ports 1)
write_config "$E2E_WORK/poller.config" poller_lines "poller_port = $PORT"
out="$E2E_WORK/poller.log"
./skynet "$E2E_WORK/poller.config" > "$out" 2>&1 &
pid=$!
E2E_PIDS+=("$pid")
if ! wait_for "$out" "poller_lines listening" 10; then
	fail "poller: node starts" "$(tail -5 "$out")"
	exit 0
fi

# Each trial: a burst of ping-pongs on connection E (a worker takes the
# polling over), then "spin 300" on connection B -- its handler runs on the
# worker that read it, for 300 ms -- and, 50 ms into it, one ping on E.
# Prints the ping's latencies in ms, then the node's CPU ticks used in one
# second of quiet after the traffic.
result=$(timeout 60 python3 - "$PORT" "$pid" <<'PY'
import socket, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]

def conn():
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s, s.makefile("rb")

def ask(c, line):
    c[0].sendall(line)
    return c[1].readline()

def cpu_ticks():
    with open("/proc/%s/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])

b, e = conn(), conn()
assert ask(e, b"ping\n") == b"pong\n" and ask(b, b"ping\n") == b"pong\n"
lat = []
for _ in range(5):
    for _ in range(300):
        assert ask(e, b"ping\n") == b"pong\n"
    b[0].sendall(b"spin 300\n")
    time.sleep(0.05)
    t0 = time.monotonic()
    assert ask(e, b"ping\n") == b"pong\n"
    lat.append((time.monotonic() - t0) * 1000)
    assert b[1].readline() == b"done\n"
time.sleep(0.3)
c0 = cpu_ticks()
time.sleep(1)
print(" ".join("%.1f" % x for x in lat), cpu_ticks() - c0)
PY
)
echo "# poller: ping latencies behind a 300 ms handler (ms) and idle CPU ticks: ${result:-none}"
read -r -a fields <<< "$result"
if [ "${#fields[@]}" -ne 6 ]; then
	fail "poller: the client ran" "$(tail -5 "$out")"
	exit 0
fi
median=$(printf '%s\n' "${fields[@]:0:5}" | sort -n | sed -n 3p)
expect "poller: a socket event waits no more than 100 ms behind a worker stuck in a handler (median ${median} ms)" \
	awk -v m="$median" 'BEGIN { exit !(m < 100) }'
expect "poller: an idle node after traffic uses under 10% of a core (${fields[5]} ticks of 100)" \
	test "${fields[5]}" -lt 10
expect "poller: the node is still running" kill -0 "$pid"
kill "$pid" 2>/dev/null

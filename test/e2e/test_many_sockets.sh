#!/usr/bin/env bash
# Tens of thousands of sockets: the Echo example holds 10,000 client
# connections open at once (20,000+ descriptors between node and client),
# echoes one message on every one of them, and lets them all go.
source "$(dirname "$0")/lib.sh"

N=10000
# Each process needs N descriptors plus a margin; raise the limit if allowed.
ulimit -n $((N + 1000)) 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((N + 200)) ]; then
	echo "SKIP many sockets: open-file limit $(ulimit -n) is below $((N + 200)) and cannot be raised"
	exit 0
fi
PORT=$(free_ports 1)
write_config "$E2E_WORK/many.config" echo_many "echo_many_port = \"$PORT\""
out="$E2E_WORK/many.log"
./skynet "$E2E_WORK/many.config" > "$out" 2>&1 &
pid=$!
E2E_PIDS+=("$pid")
wait_for "$out" "echo_many listening" 10

result=$(timeout 120 python3 - "$PORT" "$N" <<'PY'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
t0 = time.time()
conns = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    conns.append(s)
opened = time.time() - t0
for i, s in enumerate(conns):
    s.sendall(b"%d\n" % i)
ok = 0
for i, s in enumerate(conns):
    want = b"%d\n" % i
    got = b""
    while len(got) < len(want):
        chunk = s.recv(64)
        if not chunk:
            break
        got += chunk
    ok += got == want
for s in conns:  # the node closes first: wait for its EOF
    s.settimeout(30)
    while s.recv(64):
        pass
    s.close()
print("%d %.2f %.2f" % (ok, opened, time.time() - t0))
PY
)
read -r echoed opened total <<< "$result"
echo "# many sockets: $N connections opened in ${opened:-?} s, all echoed and closed in ${total:-?} s"
expect "many sockets: $N concurrent connections each get their echo" test "${echoed:-0}" -eq "$N"
for _ in $(seq 1 200); do
	[ "$(grep -c 'echo_many closed' "$out")" -ge "$N" ] && break
	sleep 0.05
done
expect "many sockets: the node saw all $N connections close" test "$(grep -c 'echo_many closed' "$out")" -eq "$N"
expect "many sockets: the node is still running" kill -0 "$pid"
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
exit 0

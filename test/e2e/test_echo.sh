#!/usr/bin/env bash
# Echo (user notes, section 四) exactly as the notes run it:
# ./skynet examples/Echoconfig, then real TCP clients on 127.0.0.1:8888
# (test/e2e/echo_client.py): 1 and 200 concurrent connections, payloads from
# 1 byte to 8 MiB, half-close, abrupt reset, hang-up with output pending,
# connect/disconnect log lines, and the node still serving afterwards.
source "$(dirname "$0")/lib.sh"

PORT=8888
out="$E2E_WORK/echo.log"
client() { python3 test/e2e/echo_client.py "$PORT" "$@"; }

# client_ok NAME ARGS...: PASS when the client prints OK
client_ok() {
	local name=$1 r
	shift
	r=$(client "$@" 2>&1)
	if [[ "$r" == OK* ]]; then pass "$name"; else fail "$name" "$r"; fi
}

# The example's port is fixed: refuse to run against somebody else's server.
if ! python3 - "$PORT" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("0.0.0.0", int(sys.argv[1])))
except OSError as e:
    sys.exit(1)
EOF
then
	fail "echo: port $PORT is free" "another process listens on $PORT ($(ss -ltnp 2>/dev/null | grep ":$PORT " | head -1)); stop it and rerun"
	exit 0
fi

./skynet examples/Echoconfig > "$out" 2>&1 &
pid=$!
E2E_PIDS+=("$pid")
if ! wait_for "$out" "Listen on 0.0.0.0:$PORT" 10; then
	fail "echo: node listens on $PORT" "no 'Listen on' line; log: $(tail -5 "$out" | tr '\n' '|')"
	exit 0
fi
pass "echo: node listens on $PORT"

client_ok "echo: 1 connection, payloads 1 B .. 64 KiB" echo 1 1 2 100 4096 65536
client_ok "echo: 1 connection, 1 MiB then 8 MiB" echo 1 1048576 8388608
client_ok "echo: 200 concurrent connections, 1 B / 1000 B / 64 KiB each" echo 200 1 1000 65536
client_ok "echo: 8 concurrent connections, 8 MiB each" echo 8 8388608
client_ok "echo: half-close after 1 byte: echo then EOF" halfclose 1
client_ok "echo: half-close after 100000 bytes: echo then EOF" halfclose 100000
client_ok "echo: half-close after 8 MiB: echo then EOF" halfclose 8388608

# bad clients: reset with data in flight, hang-ups with output pending
for size in 0 10 1048576; do client reset "$size" > /dev/null; done
for size in 10 4194304; do client hangup "$size" > /dev/null; done
sleep 0.3
expect "echo: process alive after resets and hang-ups" kill -0 "$pid"
client_ok "echo: still serves after bad clients" echo 1 1 65536

# every connection is logged once when it starts and once when it ends
total=$((1 + 1 + 200 + 8 + 3 + 3 + 2 + 1))
n=50
while [ "$n" -gt 0 ] && [ "$(grep -c ' disconnect addr:127\.0\.0\.1:' "$out")" -lt "$total" ]; do
	sleep 0.1
	n=$((n - 1))
done
connects=$(grep -cE '^\[:[0-9a-f]+\] [0-9]+ connect addr:127\.0\.0\.1:[0-9]+$' "$out")
disconnects=$(grep -cE '^\[:[0-9a-f]+\] [0-9]+ disconnect addr:127\.0\.0\.1:[0-9]+$' "$out")
expect "echo: one 'connect addr:' log line per connection ($connects of $total)" test "$connects" -eq "$total"
expect "echo: one 'disconnect addr:' log line per connection ($disconnects of $total)" test "$disconnects" -eq "$total"
expect "echo: no Lua error or traceback in the log" bash -c "! grep -qE 'traceback|lua call|error :' '$out'"

# performance note only (never fails): 64-byte round trips on one connection
lat=$(client latency 2000 2>&1)
echo "# echo: $lat"

kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null # status 143 (SIGTERM) is expected here
exit 0

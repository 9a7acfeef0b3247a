#!/usr/bin/env bash
# The KV database example (user notes, section 一) exactly as the notes run
# it: ./skynet examples/config, then `lua examples/client.lua` (Debian's
# lua5.4 with luaclib/client.so) driven through pipes by
# test/e2e/kv_driver.py: set/get/quit answers, shared data between clients,
# the heartbeat, the protocol seen by raw TCP clients, and bad clients
# (garbage, a frame over the limit, disconnect or reset mid-frame), each of
# which must lose only its own connection with one log line.
source "$(dirname "$0")/lib.sh"

# The example's ports are fixed: refuse to run against somebody else's server.
for port in 8888 8000; do
	if ! python3 - "$port" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("0.0.0.0", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
	then
		fail "kv: port $port is free" "another process listens on $port ($(ss -ltnp 2>/dev/null | grep ":$port " | head -1)); stop it and rerun"
		exit 0
	fi
done
if ! command -v lua > /dev/null; then
	fail "kv: lua interpreter" "no 'lua' in PATH (Debian package lua5.4)"
	exit 0
fi

out="$E2E_WORK/kv.log"
./skynet examples/config > "$out" 2>&1 &
pid=$!
E2E_PIDS+=("$pid")
if ! wait_for "$out" "Watchdog listen on 0.0.0.0:8888" 10; then
	fail "kv: node starts the example" "no 'Watchdog listen on' line; log: $(tail -5 "$out" | tr '\n' '|')"
	exit 0
fi
pass "kv: ./skynet examples/config starts main, debug_console, simpledb, watchdog, gate"

timeout -k 5 200 python3 test/e2e/kv_driver.py "$out"
expect "kv: node alive after all clients" kill -0 "$pid"
expect "kv: no Lua error or traceback in the log" bash -c "! grep -qE 'traceback|lua call|error :' '$out'"
# every agent is gone once its client is (the example leaks no service)
sleep 0.5
launched=$(grep -c 'LAUNCH snlua agent' "$out")
exited=$(grep -E '^\[:([0-9a-f]+)\] KILL self' "$out" | awk '{print $1}' | sort -u > "$E2E_WORK/killed"; \
	grep 'LAUNCH snlua agent' "$out" | awk '{print $1}' | grep -cxFf "$E2E_WORK/killed")
expect "kv: every agent exits with its client ($exited of $launched)" test "$exited" -eq "$launched"

kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
exit 0

#!/usr/bin/env bash
# Upstream's KV database example (user notes, section 一) end to end:
# ./skynet examples/config (harbor 1, its own master, sproto agents) and the
# real examples/client.lua on Debian's lua5.4, fed stdin as in the recorded
# session (`hello` at +1 s, `get hello` at +2 s, `quit` at +3 s), its stdout
# and the server's lines compared with the recording; two heartbeats in a
# 12.5 s pause; `lua` and `example/client.lua` as the notes spell them;
# upstream's package.path/cpath; raw sproto clients (upstream's recorded
# bytes, pipelining, 20 at once) and bad clients, each of which loses only
# its own connection with one log line.  Driver: test/e2e/kv_driver.py.
#
# The example's ports (2013, 2526, 8000, 8888) are fixed; this test runs the
# same config with free ports instead (config keys kv_gate_port,
# kv_console_port).
source "$(dirname "$0")/lib.sh"
W=$E2E_WORK

for cmd in lua5.4 lua; do
	if ! command -v "$cmd" > /dev/null; then
		fail "kv: $cmd interpreter" "no '$cmd' in PATH (Debian package lua5.4)"
		exit 0
	fi
done

read -r PM PA PG PC PX < <(free_ports 5)
cat > "$W/kv.config" <<EOF2
include "$ROOT/examples/config"
master = "127.0.0.1:$PM"
standalone = "127.0.0.1:$PM"
address = "127.0.0.1:$PA"
kv_gate_port = $PG
kv_console_port = $PC
EOF2
# upstream's client.lua finds its modules from the skynet root like this
sed -e 's|^package.cpath = .*|package.cpath = "luaclib/?.so"|' \
	-e 's|^package.path = .*|package.path = "lualib/?.lua;examples/?.lua"|' \
	examples/client.lua > "$W/client_upstream_paths.lua"
expect "kv: the upstream-paths client variant differs only in package.path/cpath" \
	test "$(diff examples/client.lua "$W/client_upstream_paths.lua" | grep -c '^>')" -eq 2

out="$W/kv.log"
# the node's stdin is a fifo this script writes to (the console service reads it)
mkfifo "$W/stdin"
exec 3<> "$W/stdin"
./skynet "$W/kv.config" < "$W/stdin" > "$out" 2>&1 3>&- &
pid=$!
E2E_PIDS+=("$pid")
if ! wait_for "$out" "Watchdog listen on 0.0.0.0:$PG" 10; then
	fail "kv: node starts the example" "no 'Watchdog listen on' line; log: $(tail -5 "$out" | tr '\n' '|')"
	exit 0
fi
pass "kv: examples/config starts the master, protoloader, debug_console, simpledb, watchdog, gate"
expect "kv: the node is harbor 1 and runs its own master" \
	grep -q "cslave: harbor 1 joined the master at 127.0.0.1:$PM" "$out"

timeout -k 5 200 python3 test/e2e/kv_driver.py "$out" "$PG" "$PC" "$W"
expect "kv: node alive after all clients" kill -0 "$pid"
expect "kv: no Lua error or traceback in the log" bash -c "! grep -qE 'traceback|lua call|error :' '$out'"
# every agent is gone once its client is (the example leaks no service);
# they exit after their client's close reaches them, so wait up to 10 s
agents_exited() {
	launched=$(grep -c 'LAUNCH snlua agent' "$out")
	grep -E '^\[:([0-9a-f]+)\] KILL self' "$out" | awk '{print $1}' | sort -u > "$W/killed"
	exited=$(grep 'LAUNCH snlua agent' "$out" | awk '{print $1}' | grep -cxFf "$W/killed")
	[ "$exited" -eq "$launched" ]
}
for _ in $(seq 100); do agents_exited && break; sleep 0.1; done
expect "kv: every agent exits with its client ($exited of $launched)" test "$exited" -eq "$launched"

# the console launches what is typed on the node's stdin, and exits at its end
console=$(sed -n 's/^\[:\([0-9a-f]*\)\] LAUNCH snlua console$/\1/p' "$out")
printf 'nosuchservice 1 2\n\ndebug_console %s\n' "$PX" >&3
expect "kv: console: a line typed on stdin launches that service" \
	wait_for "$out" "Start debug console at 127.0.0.1:$PX" 10
expect "kv: console: a service that cannot start is logged, the console goes on" \
	grep -q "^\[:$console\] console: nosuchservice 1 2: .*nosuchservice" "$out"
exec 3>&-
expect "kv: console: exits at the end of stdin" wait_for "$out" "^\[:$console\] KILL self" 10

kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
exit 0

#!/usr/bin/env bash
# Messages addressed to another harbor's handle on a single node (harbor =
# 0), from outside the node: a 15-byte cluster push to :01000001 from a raw
# TCP client, and the debug console's `info :ffffffff`.  They used to
# bounce between skynet_send and the harbor service forever, one core at
# 100%.  Now: one log line each, an answer to the console, an idle node.
source "$(dirname "$0")/lib.sh"
W=$E2E_WORK

read -r P_CONSOLE P_CLUSTER < <(free_ports 2)
write_config "$W/node.config" remote_probe "console_port = \"$P_CONSOLE\"" "cluster_port = \"$P_CLUSTER\"" \
	"cluster = \"$W/empty.map\""
: > "$W/empty.map"
./skynet "$W/node.config" > "$W/node.log" 2>&1 &
pid=$!
E2E_PIDS+=("$pid")
if ! wait_for "$W/node.log" "READY" 15; then
	fail "remote handle: node starts" "$(tail -5 "$W/node.log" | tr '\n' '|')"
	exit 0
fi

# node_cpu_ticks: user + system CPU of the node, in clock ticks (1/100 s)
node_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }

python3 - "$P_CLUSTER" <<'PY'
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
# tag 0 (whole request) to handle 0x01000001, session 0 (a push), 4 bytes
body = b"\x00" + struct.pack("<II", 0x01000001, 0) + b"ping"
frame = struct.pack(">H", len(body)) + body
assert len(frame) == 15
s.sendall(frame)
time.sleep(0.3)
s.close()
PY
expect "remote handle: a cluster push to :01000001 is dropped with one log line naming it" \
	wait_for "$W/node.log" "harbor: dropped a message from :[0-9a-f]* to :01000001: no such node" 5

out=$(python3 test/e2e/console_client.py "$P_CONSOLE" --timeout 5 "info :ffffffff" 2>&1)
if [[ "$out" == *"CLIENT TIMEOUT"* ]]; then
	fail "remote handle: the console answers info :ffffffff" "no answer within 5 s"
else
	pass "remote handle: the console answers info :ffffffff"
fi
expect "remote handle: the console's info :ffffffff is dropped with a log line" \
	wait_for "$W/node.log" "to :ffffffff: no such node" 5

sleep 0.3
t0=$(node_cpu_ticks)
sleep 1
t1=$(node_cpu_ticks)
used=$((t1 - t0))
expect "remote handle: the node is idle afterwards ($used ticks of CPU in 1 s)" test "$used" -lt 30
out=$(python3 test/e2e/console_client.py "$P_CONSOLE" --timeout 5 "list" 2>&1)
expect "remote handle: the console still serves commands" grep -q "<CMD OK>" <<< "$out"
kill "$pid" 2>/dev/null

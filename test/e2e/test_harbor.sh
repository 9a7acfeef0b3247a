#!/usr/bin/env bash
# Harbor mode between real node processes:
#   wire: a node whose master and peer harbor 9 are test/e2e/harbor_peer.py
#     (written from the wire format): every byte it sends is checked, then the
#     peer misbehaves (bad id byte, a frame over 16 MiB, a byte-split frame)
#   three nodes: master on node 1, a global name registered on node 2 is
#     called and sent to from node 3 (payloads 0 B .. 4 MiB, order, 64
#     coroutines); bad input to the master and on slave links from a raw
#     Python peer; then the master is killed, then node 2 with a call in
#     flight: the callers get errors instead of hanging
# Lua services: test/e2e/lua/harbor_node.lua, harbor_echo.lua.
source "$(dirname "$0")/lib.sh"
W=$E2E_WORK
PEER="python3 test/e2e/harbor_peer.py"

# relay LOG: the PASS/FAIL lines a node logged, without the address prefix
relay() { sed -n 's/^\[:[0-9a-f]*\] \(PASS .*\|FAIL .*\)$/\1/p' "$1"; }

# harbor_config FILE ID ROLE MASTER_PORT ADDRESS_PORT [extra lines...]
harbor_config() {
	local file=$1 id=$2 role=$3 mport=$4 aport=$5
	shift 5
	write_config "$file" harbor_node "harbor_role = \"$role\"" "master = \"127.0.0.1:$mport\"" \
		"address = \"127.0.0.1:$aport\"" "$@"
	sed -i "s/^harbor = 0$/harbor = $id/" "$file"
}

$PEER selftest

# ------------------------------------------------ wire checks with a Python master
read -r PM PS PN < <(free_ports 3)
harbor_config "$W/probe.config" 2 probe "$PM" "$PN"
$PEER probe "$PM" "$PS" "$PN" 20 > "$W/peer.out" 2>&1 &
peer=$!
E2E_PIDS+=("$peer")
wait_for "$W/peer.out" "peer listening" 10
./skynet "$W/probe.config" > "$W/probe.log" 2>&1 &
probe_pid=$!
E2E_PIDS+=("$probe_pid")
wait "$peer"
cat "$W/peer.out"
expect "harbor peer: the node logs the bad handshake id" \
	wait_for "$W/probe.log" "harbor: closed the connection from 127.0.0.1:[0-9]*: handshake id 0 is id 0" 5
expect "harbor peer: the node logs the frame over 16 MiB" \
	wait_for "$W/probe.log" "Message is too long from harbor 9" 5
expect "harbor peer: harbor.link(9) returns when the link is closed" wait_for "$W/probe.log" "PROBE link9down" 5
expect "harbor peer: harbor.linkmaster() returns when the master goes away" \
	wait_for "$W/probe.log" "PROBE masterdown" 5
expect "harbor peer: a pending queryname fails when the master goes away" \
	wait_for "$W/probe.log" "PROBE noname false .*master is down" 5
wait_for "$W/probe.log" "DONE" 5
relay "$W/probe.log"
kill "$probe_pid" 2>/dev/null

# ------------------------------------------------------------------ three nodes
read -r P0 P1 P2 P3 P9 < <(free_ports 5)
harbor_config "$W/n1.config" 1 master "$P0" "$P1" "standalone = \"127.0.0.1:$P0\""
harbor_config "$W/n2.config" 2 server "$P0" "$P2"
harbor_config "$W/n3.config" 3 client "$P0" "$P3"
./skynet "$W/n1.config" > "$W/n1.log" 2>&1 &
n1=$!
E2E_PIDS+=("$n1")
if ! wait_for "$W/n1.log" "READY" 15; then
	fail "harbor: node 1 (master) starts" "$(tail -5 "$W/n1.log" | tr '\n' '|')"
	exit 0
fi
./skynet "$W/n2.config" > "$W/n2.log" 2>&1 &
n2=$!
E2E_PIDS+=("$n2")
if ! wait_for "$W/n2.log" "READY" 15; then
	fail "harbor: node 2 starts" "$(tail -5 "$W/n2.log" | tr '\n' '|')"
	exit 0
fi
expect "harbor: the master announces node 2 to node 1 (C)" \
	wait_for "$W/n1.log" "cmaster: harbor 2 joined" 5
./skynet "$W/n3.config" > "$W/n3.log" 2>&1 &
n3=$!
E2E_PIDS+=("$n3")
if ! wait_for "$W/n3.log" "PHASE1" 60; then
	fail "harbor: node 3 finishes its calls and sends" "$(tail -5 "$W/n3.log" | tr '\n' '|')"
	relay "$W/n3.log"
	exit 0
fi

# bad input while everything runs
$PEER badmaster "$P0"
expect "harbor master: bad handshakes are logged" wait_for "$W/n1.log" "cmaster: refused .*harbor id 2 is already taken" 5
$PEER badslave "$P0" "$P9" 3 20
expect "harbor: node 1 logs the wrong handshake id" wait_for "$W/n1.log" "Invalid shakehand id 8 from harbor 9" 5
expect "harbor: node 2 logs the frame over 16 MiB" wait_for "$W/n2.log" "Message is too long from harbor 9" 5
expect "harbor: node 3 logs the short frame" wait_for "$W/n3.log" "Message is too short from harbor 9" 5
expect "harbor: node 3 logs the unknown destination" wait_for "$W/n3.log" "Unknown destination :03fffff0" 5
expect "harbor: the master announces harbor 9's departure" wait_for "$W/n3.log" "the master says harbor 9 is down" 5
for p in "$n1" "$n2" "$n3"; do
	expect "harbor: node pid $p is still running after the bad input" kill -0 "$p"
done

# the master goes away, then node 2 with a call in flight
kill -9 "$n1"
if ! wait_for "$W/n3.log" "INFLIGHT" 20; then
	fail "harbor: node 3 notices the master is gone" "$(tail -5 "$W/n3.log" | tr '\n' '|')"
	relay "$W/n3.log"
	exit 0
fi
kill -9 "$n2"
wait_for "$W/n3.log" "DONE" 30
relay "$W/n3.log"
expect "harbor: node 3 finished (nobody hangs)" grep -q "DONE" "$W/n3.log"
expect "harbor: node 3 logs that harbor 2 is down" grep -q "harbor: harbor 2 (.*) is down: connection closed" "$W/n3.log"
expect "harbor: node 3 is still running" kill -0 "$n3"
kill "$n3" 2>/dev/null

#!/usr/bin/env bash
# skynet.cluster between real node processes (user notes, section 七):
#   two nodes: call/send/proxy/register/query, value types, errors,
#     multi-part boundaries, 32 MiB both ways, 1,000 calls from 64 coroutines
#   three nodes, calling each other in chains
#   faults: kill -9 a node with calls in flight, calls to the dead node,
#     restart and reconnect; cluster.reload with a changed address / false
#   malformed and oversized frames from a raw socket peer (python3): the
#     peer is disconnected with one log line, the node keeps serving
#   a mixed cluster with a Python peer written from the wire format
#     (test/e2e/cluster_peer.py), as caller and as listener
#   nodes in separate network namespaces with their own addresses (root only)
#   the cluster PingPong example, examples/Pconfig.c1 + Pconfig.c2
# Lua services: test/e2e/lua/cluster_{server,echo,client}.lua.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster_lib.sh"

read -r P_A P_B P_C P_B2 P_PY P_X <<< "$(free_ports 6)"
A=127.0.0.1:$P_A B=127.0.0.1:$P_B C=127.0.0.1:$P_C B2=127.0.0.1:$P_B2

# --- the byte layer against known-good frames -----------------------------
write_map "$W/none.map"
run_client wire wire "$W/none.map" ""

# --- two nodes ----------------------------------------------------------
write_map "$W/two.map" a=$A b=$B b2=$B2
start_server b b "$W/two.map" && pid_b=$SERVER_PID
t0=$(date +%s)
run_client basic basic "$W/two.map" a
echo "# cluster: basic scenario took $(( $(date +%s) - t0 )) s"

# --- a Python peer written from the wire format, as the caller ----------
r=$($PEER call 127.0.0.1 "$P_B" 2>&1)
if [[ "$r" == OK* ]]; then pass "mixed: $r"; else fail "mixed: python peer calls a skynet node" "$r"; fi
r=$($PEER burst 127.0.0.1 "$P_B" 2>&1)
if [[ "$r" == OK* ]]; then pass "mixed: $r"; else fail "mixed: a burst on a new connection" "$r"; fi

# --- malformed and oversized input: disconnect, keep serving -------------
$PEER hold 127.0.0.1 "$P_B" 3 > "$W/hold.out" 2>&1 &
hold=$!
before=$(grep -c 'cluster: disconnect ' "$W/b.log")
kinds="tag empty short name orphan huge overrun start"
for kind in $kinds; do
	r=$($PEER malformed 127.0.0.1 "$P_B" "$kind" 2>&1)
	if [[ "$r" == OK* ]]; then pass "malformed: $kind frame -> $r"; else fail "malformed: $kind frame" "$r"; fi
done
sleep 0.2
after=$(grep -c 'cluster: disconnect ' "$W/b.log")
expect "malformed: exactly one log line per bad peer ($((after - before)) for 8)" test $((after - before)) -eq 8
wait "$hold"
r=$(cat "$W/hold.out")
if [[ "$r" == OK* ]]; then pass "malformed: a well-behaved peer kept being served meanwhile ($r)"; else fail "malformed: well-behaved peer" "$r"; fi
expect "malformed: the node is still running" kill -0 "$pid_b"
run_client ping ping "$W/two.map" ""
bad=$(grep -E 'lua call|Segmentation|double free|free\(\)|assertion|init service failed' "$W/b.log" | grep -v 'cluster_echo.lua' | head -3)
if [ -z "$bad" ]; then pass "malformed: no crash or Lua error in the node's log"; else fail "malformed: no crash or Lua error in the node's log" "$bad"; fi

# --- cluster.open(port, maxclient) ----------------------------------------
write_config "$W/maxc.config" cluster_server "cluster_name = \"m\"" "cluster_port = \"$P_X\"" "cluster_maxclient = \"3\""
./skynet "$W/maxc.config" > "$W/maxc.log" 2>&1 &
pid_m=$!
E2E_PIDS+=("$pid_m")
if wait_for "$W/maxc.log" "LISTEN 0.0.0.0 $P_X" 10; then
	pass "open: cluster.open(port) listens on 0.0.0.0 and returns the port"
	r=$($PEER maxclient 127.0.0.1 "$P_X" 3 2>&1)
	if [[ "$r" == OK* ]]; then pass "open: $r"; else fail "open: maxclient" "$r"; fi
else
	fail "open: cluster.open(port, maxclient)" "no LISTEN line: $(tail -3 "$W/maxc.log" | tr '\n' '|')"
fi
stop "$pid_m"

# --- a Python peer as a listening node ----------------------------------
write_map "$W/py.map" a=$A py=127.0.0.1:$P_PY
$PEER listen 127.0.0.1 "$P_PY" 20 > "$W/pylisten.out" 2>&1 &
pyl=$!
sleep 0.3
run_client peer peer "$W/py.map" ""
wait "$pyl"
r=$(cat "$W/pylisten.out")
if [[ "$r" == OK* ]]; then pass "mixed: $r"; else fail "mixed: python listener" "$r"; fi

# --- faults: kill -9 with calls in flight, restart -----------------------
client_config fault fault "$W/two.map" ""
timeout -k 5 120 ./skynet "$W/fault.config" > "$W/fault.log" 2>&1 &
fpid=$!
E2E_PIDS+=("$fpid")
if wait_file "$W/sync-fault/inflight.ready" 20; then
	stop "$pid_b"
	touch "$W/sync-fault/killed.go"
	if wait_file "$W/sync-fault/down.ready" 20; then
		start_server b-restarted b "$W/two.map" && pid_b=$SERVER_PID
		touch "$W/sync-fault/restarted.go"
	fi
fi
wait "$fpid"
report fault

# --- cluster.reload: changed address, false, back, file re-read ---------
start_server b2 b2 "$W/two.map" && pid_b2=$SERVER_PID
cp "$W/two.map" "$W/reload.map"
run_client reload reload "$W/reload.map" "" "cluster_b1 = \"$B\"" "cluster_b2 = \"$B2\""
stop "$pid_b2"

# --- three nodes --------------------------------------------------------
write_map "$W/three.map" a=$A b=$B c=$C
stop "$pid_b"
start_server b3 b "$W/three.map" && pid_b=$SERVER_PID
start_server c c "$W/three.map" && pid_c=$SERVER_PID
run_client three three "$W/three.map" a
stop "$pid_b"
stop "$pid_c"

# --- each node in its own network namespace -------------------------------
ns1=skc1-$$ ns2=skc2-$$
if [ "$(id -u)" = 0 ] && ip netns add "$ns1" 2>/dev/null; then
	netns_cleanup() { ip netns del "$ns1" 2>/dev/null; ip netns del "$ns2" 2>/dev/null; }
	trap 'netns_cleanup; e2e_cleanup' EXIT
	if ip netns add "$ns2" && ip link add "vsk1-$$" type veth peer name "vsk2-$$" &&
		ip link set "vsk1-$$" netns "$ns1" && ip link set "vsk2-$$" netns "$ns2" &&
		ip -n "$ns1" addr add 10.231.7.1/24 dev "vsk1-$$" && ip -n "$ns2" addr add 10.231.7.2/24 dev "vsk2-$$" &&
		ip -n "$ns1" link set "vsk1-$$" up && ip -n "$ns2" link set "vsk2-$$" up &&
		ip -n "$ns1" link set lo up && ip -n "$ns2" link set lo up; then
		write_map "$W/ns.map" a=10.231.7.1:$P_X b=10.231.7.2:$P_X
		if start_server nsb b "$W/ns.map" ip netns exec "$ns2"; then
			pid_nsb=$SERVER_PID
			client_config netns netns "$W/ns.map" a
			timeout -k 5 60 ip netns exec "$ns1" ./skynet "$W/netns.config" > "$W/netns.log" 2>&1
			report netns
			r=$(ip netns exec "$ns1" $PEER call 10.231.7.2 "$P_X" 2>&1)
			if [[ "$r" == OK* ]]; then pass "netns: python peer in another namespace: $r"; else fail "netns: python peer" "$r"; fi
			expect "netns: node b saw the caller's own address 10.231.7.1" grep -q 'socket accept from 10.231.7.1:' "$W/nsb.log"
			stop "$pid_nsb"
		fi
	else
		fail "netns: set up two namespaces joined by a veth pair" "ip commands failed"
	fi
	netns_cleanup
else
	echo "# cluster: network-namespace variant skipped (needs root and ip netns; uid $(id -u))"
fi

# --- the cluster PingPong example (fixed ports 7001, 7002) -----------------
if python3 -c 'import socket,sys
for p in (7001, 7002):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", p))' 2>/dev/null; then
	./skynet examples/Pconfig.c2 > "$W/c2.log" 2>&1 &
	pc2=$!
	E2E_PIDS+=("$pc2")
	./skynet examples/Pconfig.c1 > "$W/c1.log" 2>&1 &
	pc1=$!
	E2E_PIDS+=("$pc1")
	wait_for "$W/c2.log" "recv ping count=3" 15
	expect "example: node2 receives count=1 from node1's ping" grep -q 'recv ping count=1$' "$W/c2.log"
	expect "example: node1 receives count=2 back from node2" grep -q 'recv ping count=2$' "$W/c1.log"
	expect "example: the counter keeps bouncing (count=3 on node2)" grep -q 'recv ping count=3$' "$W/c2.log"
	expect "example: no error in either log" bash -c "! grep -qi 'error' '$W/c1.log' '$W/c2.log'"
	stop "$pc1"
	stop "$pc2"
else
	fail "example: ports 7001 and 7002 are free" "another process uses them; stop it and rerun"
fi
exit 0

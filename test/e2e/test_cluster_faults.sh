#!/usr/bin/env bash
# skynet.cluster against hostile peers (issue #10), each driven by its real
# trigger:
#   listeners that answer with garbage, an impossible frame, half a frame
#     or half a multi-part answer: the caller's calls fail saying why, in
#     bounded time, and the next call reconnects
#   callers that leave multi-part requests unfinished: the per-connection
#     and per-node caps disconnect them, stale ones are dropped, the node's
#     memory stays bounded
# Python peer: test/e2e/cluster_peer.py; Lua: test/e2e/lua/cluster_*.lua.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster_lib.sh"

read -r P_G P_I P_H P_M P_U P_S <<< "$(free_ports 6)"

# rss_kib PID
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# --- listeners that break the protocol --------------------------------------
write_map "$W/bad.map" garbage=127.0.0.1:$P_G impossible=127.0.0.1:$P_I half=127.0.0.1:$P_H halfmulti=127.0.0.1:$P_M
$PEER badlisten 127.0.0.1 60 garbage:$P_G impossible:$P_I half:$P_H halfmulti:$P_M > "$W/badlisten.out" 2>&1 &
bl=$!
E2E_PIDS+=("$bl")
if wait_for "$W/badlisten.out" LISTENING 10; then
	run_client protocol protocol "$W/bad.map" "" "cluster_read_timeout = 50"
	wait "$bl"
	r=$(grep -v LISTENING "$W/badlisten.out")
	if [[ "$r" == OK* ]]; then pass "protocol: $r"; else fail "protocol: python bad listeners" "$r"; fi
	n=$(grep -c 'closing the connection: protocol error: ' "$W/protocol.log")
	expect "protocol: one log line per broken connection ($n for 4)" test "$n" -eq 4
else
	fail "protocol: python bad listeners start" "$(cat "$W/badlisten.out")"
fi

# --- unfinished multi-part requests ------------------------------------------
CAP=1048576 NODECAP=2097152
write_map "$W/u.map" u=127.0.0.1:$P_U st=127.0.0.1:$P_S
SERVER_EXTRA=("cluster_max_unfinished = $CAP" "cluster_max_unfinished_node = $NODECAP")
if start_server u u "$W/u.map"; then
	pid_u=$SERVER_PID
	for msgs in 1 4; do
		r=$($PEER overcap 127.0.0.1 "$P_U" $CAP $msgs 2>&1)
		if [[ "$r" == OK* ]]; then pass "unfinished: $r"; else fail "unfinished: per-connection cap, $msgs message(s)" "$r"; fi
	done
	sleep 0.2
	n=$(grep -c 'cluster: disconnect .*pass cluster_max_unfinished (' "$W/u.log")
	expect "unfinished: one log line per connection over its cap ($n for 2)" test "$n" -eq 2
	r=$($PEER nodecap 127.0.0.1 "$P_U" $CAP $NODECAP 2>&1)
	if [[ "$r" == OK* ]]; then pass "unfinished: $r"; else fail "unfinished: per-node cap" "$r"; fi
	sleep 0.2
	n=$(grep -c 'cluster: disconnect .*pass cluster_max_unfinished_node (' "$W/u.log")
	expect "unfinished: one log line for the connection over the node's cap ($n)" test "$n" -eq 1
	# 8 connections try to leave 16 MiB each unfinished: without the caps
	# the node would hold 128 MiB; with them, what it holds stays under
	# 2 MiB, and what the socket thread read ahead and malloc keeps adds
	# some 30 MiB whatever the peers send
	rss0=$(rss_kib "$pid_u")
	$PEER hoard 127.0.0.1 "$P_U" 8 16 > "$W/hoard.out" 2>&1 &
	hp=$!
	if wait_for "$W/hoard.out" HELD 60; then
		rss1=$(rss_kib "$pid_u")
		echo "# unfinished: node RSS $((rss0 / 1024)) MiB before, $((rss1 / 1024)) MiB while 8 peers hoard ($(grep HELD "$W/hoard.out"))"
		expect "unfinished: the node's memory stays bounded (grew $(((rss1 - rss0) / 1024)) MiB, limit 64)" test $((rss1 - rss0)) -lt $((64 * 1024))
	else
		fail "unfinished: hoarding peers" "$(cat "$W/hoard.out")"
	fi
	wait "$hp"
	stop "$pid_u"
fi
SERVER_EXTRA=("cluster_unfinished_timeout = 50")
if start_server st st "$W/u.map"; then
	r=$($PEER stale 127.0.0.1 "$P_S" 5 2>&1)
	if [[ "$r" == OK* ]]; then pass "unfinished: $r"; else fail "unfinished: stale message dropped" "$r"; fi
	# the two may go in one sweep or in two, a centisecond apart
	lines=$(grep -c 'dropped [0-9]* unfinished multi-part message(s)' "$W/st.log")
	n=$(sed -n 's/.*dropped \([0-9]*\) unfinished multi-part message(s) (\([0-9]*\) bytes.*/\1 \2/p' "$W/st.log" | awk '{ m += $1; b += $2 } END { print m + 0, b + 0 }')
	expect "unfinished: the stale request and push dropped, logged ($n in $lines line(s))" test "$n" = "2 65536" -a "$lines" -ge 1 -a "$lines" -le 2
	stop "$SERVER_PID"
fi
SERVER_EXTRA=()

exit 0

#!/usr/bin/env bash
# skynet.cluster against hostile peers (issue #10), each driven by its real
# trigger:
#   listeners that answer with garbage, an impossible frame, half a frame
#     or half a multi-part answer: the caller's calls fail saying why, in
#     bounded time, and the next call reconnects
# Python peer: test/e2e/cluster_peer.py; Lua: test/e2e/lua/cluster_*.lua.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster_lib.sh"

read -r P_G P_I P_H P_M <<< "$(free_ports 4)"

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

exit 0

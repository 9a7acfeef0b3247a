#!/usr/bin/env bash
# cluster.call_timeout and the cluster heartbeat (issue #13): a remote
# handler slower than the deadline, a listener that accepts and never
# answers, an upstream-like listener (python, test/e2e/cluster_peer.py)
# whose idle connection survives the probes, and a node frozen with
# SIGSTOP then thawed.  The checks are made by the client node
# (test/e2e/lua/cluster_client.lua, scenario "heartbeat").
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster_lib.sh"

read -r P_B P_M P_P <<< "$(free_ports 3)"
write_map "$W/hb.map" b=127.0.0.1:$P_B mute=127.0.0.1:$P_M py=127.0.0.1:$P_P
$PEER mute 127.0.0.1 "$P_M" 60 > "$W/mute.out" 2>&1 &
mute=$!
E2E_PIDS+=("$mute")
$PEER listen 127.0.0.1 "$P_P" 30 > "$W/py.out" 2>&1 &
py=$!
E2E_PIDS+=("$py")
if start_server hb_b b "$W/hb.map" && wait_for "$W/mute.out" LISTENING 10; then
	pid_b=$SERVER_PID
	client_config hb heartbeat "$W/hb.map" "" "cluster_heartbeat = 0.5"
	timeout -k 5 120 ./skynet "$W/hb.config" > "$W/hb.log" 2>&1 &
	cl=$!
	E2E_PIDS+=("$cl")
	if wait_file "$W/sync-hb/freeze.ready" 60; then
		kill -STOP "$pid_b"
		touch "$W/sync-hb/frozen.go"
		if wait_file "$W/sync-hb/thaw.ready" 60; then
			kill -CONT "$pid_b"
			touch "$W/sync-hb/thawed.go"
		fi
	fi
	kill -CONT "$pid_b" 2>/dev/null
	wait "$cl"
	report hb
	n=$(grep -c 'is not responding (no byte for' "$W/hb.log")
	expect "heartbeat: one log line per connection declared not responding ($n for 2)" test "$n" -eq 2
	stop "$pid_b"
fi
stop "$mute"
stop "$py"
exit 0

#!/usr/bin/env bash
# Shutdown always comes: a start service that fails while thousands of
# messages are still queued for the harbor service (whose context outlives
# its handle) must not leave a worker requeueing that mailbox forever.  The
# hang was intermittent, so the case runs many times.
source "$(dirname "$0")/lib.sh"
W=$E2E_WORK
RUNS=${SHUTDOWN_RUNS:-30}

hung=0
bad_status=0
for i in $(seq 1 "$RUNS"); do
	count=$(( 1000 + (i * 577) % 2001 ))   # 1,000 to 3,000 pending messages
	write_config "$W/shut.config" shutdown_probe "probe_count = \"$count\""
	timeout -k 1 10 ./skynet "$W/shut.config" > "$W/shut.$i.out" 2>&1
	rc=$?
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		hung=$((hung + 1))
	elif [ "$rc" -ne 1 ]; then
		bad_status=$((bad_status + 1))
	fi
done
expect "shutdown: a failing start service with 1,000-3,000 messages pending for harbor exits ($RUNS runs, $hung hung)" \
	test "$hung" -eq 0
expect "shutdown: every such run exits with status 1" test "$bad_status" -eq 0
expect "shutdown: the start service's error is logged" grep -q "shutdown probe fails on purpose" "$W/shut.1.out"

#!/usr/bin/env bash
# PingPong exactly as the user's notes run it: ./skynet examples/Pconfig
source "$(dirname "$0")/lib.sh"

out="$E2E_WORK/pingpong.log"
./skynet examples/Pconfig > "$out" 2>&1 &
pid=$!
E2E_PIDS+=("$pid")
wait_for "$out" "recv ping count=3" 10
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null

expect "pingpong: bootstrap launches launcher as :00000003" grep -q '^\[:00000003\] LAUNCH snlua launcher' "$out"
expect "pingpong: main service runs as :00000008" grep -q '^\[:00000008\] \[Pmain\] start' "$out"
expect "pingpong: two ping services launched" test "$(grep -c 'LAUNCH snlua ping' "$out")" -eq 2
ping1=$(grep -m1 'LAUNCH snlua ping' "$out" | sed 's/^\[:\([0-9a-f]*\)\].*/\1/')
ping2=$(grep 'LAUNCH snlua ping' "$out" | sed -n '2s/^\[:\([0-9a-f]*\)\].*/\1/p')
expect "pingpong: the second ping receives count=1" grep -q "^\[:$ping2\] \[$((16#$ping2))\] recv ping count=1" "$out"
expect "pingpong: the first ping receives count=2" grep -q "^\[:$ping1\] \[$((16#$ping1))\] recv ping count=2" "$out"
expect "pingpong: the counter keeps bouncing (count=3)" grep -q "recv ping count=3" "$out"
expect "pingpong: main exits after starting the game" grep -q '^\[:00000008\] KILL self' "$out"
expect "pingpong: no error in the log" bash -c "! grep -qi 'error' '$out'"

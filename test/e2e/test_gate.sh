#!/usr/bin/env bash
# Gates with real TCP clients: the Lua gate (service/gate.lua on
# snax.gateserver) and the C gate (cservice/gate.so), their commands and
# the messages to their watchdog, framing cut anywhere, limits (maxclient,
# maxpacket, 16 MiB), bad clients, and launch-parameter errors.
# test/e2e/lua/gate_probe.lua is the watchdog; test/e2e/gate_client.py
# drives it over a control connection and prints the PASS/FAIL lines.
source "$(dirname "$0")/lib.sh"

# three free loopback ports: control, C gate (S), C gate (L)
read -r ctl cport lport < <(free_ports 3)

conf="$E2E_WORK/gate.config"
out="$E2E_WORK/gate.log"
write_config "$conf" gate_probe "gate_ctl_port = $ctl" "gate_c_port = $cport" "gate_l_port = $lport"
./skynet "$conf" > "$out" 2>&1 &
pid=$!
E2E_PIDS+=("$pid")
if ! wait_for "$out" "gate_probe ready" 10; then
	fail "gate: node starts its gates" "no 'gate_probe ready'; log: $(tail -5 "$out" | tr '\n' '|')"
	exit 0
fi
pass "gate: node starts two Lua gates and two C gates"

timeout -k 5 200 python3 test/e2e/gate_client.py "$ctl" "$out"
# The probe aborts when the client closes its control connection, so the
# node must now end by itself, cleanly: a crash under the bad clients would
# show as a signal or a non-zero status.
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
rc=$?
expect "gate: node survives every client and ends cleanly (status $rc)" test "$rc" -eq 0
# the two commands that must raise leave their traceback in the log; nothing else may
expect "gate: no other Lua error in the log (2 expected)" test "$(grep -c 'lua call' "$out")" -eq 2
exit 0

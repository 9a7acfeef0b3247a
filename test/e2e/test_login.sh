#!/usr/bin/env bash
# test_login.sh -- the login example (examples/login) with its
# real client on Debian's lua5.4: the client's output and the node's log
# follow upstream's recorded session; then clients that lie at every step
# of the login and gate protocols (test/e2e/lua/login_liar.lua) get the
# upstream's error codes or are dropped, and honest clients are still served.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster_lib.sh" # free_ports

read -r LP GP <<< "$(free_ports 2)"
cat > "$W/config" <<CONF
include "$ROOT/examples/login/config"
thread = 2
login_port = $LP
gate_port = $GP
login_timeout = 100
CONF
LOG=$W/node.log
./skynet "$W/config" > "$LOG" 2>&1 &
E2E_PIDS+=("$!")
NODE=$!
if ! wait_for "$LOG" "Listen on" 15; then
	fail "login: node starts" "$(tail -5 "$LOG" | tr '\n' '|')"
	exit 0
fi
pass "login: node starts (login server and gate listening)"

# --- the real client: upstream's transcript --------------------------------
run_client() {
	timeout 20 lua5.4 examples/login/client.lua 127.0.0.1 "$LP" "$GP" < /dev/null > "$1" 2>&1
}
run_client "$W/client1.out"
rc=$?
expect "client: exits with status 0 ($rc)" test $rc -eq 0
want=$(printf '%s\n' 'sceret is 	[0-9a-f]{16}' '200 MQ==' 'login ok, subid=	1' 'connect' '200 OK' \
	'===>	echo	0' 'disconnect' 'connect again' '200 OK' '===>	fake	0' '===>	again	1' \
	'<===	true	echo	0' '<===	true	again	1' 'disconnect')
i=0
ok=1
while IFS= read -r pattern; do
	i=$((i + 1))
	line=$(sed -n "${i}p" "$W/client1.out")
	if ! [[ "$line" =~ ^$pattern$ ]]; then
		ok=0
		fail "client: line $i is /$pattern/" "got '$line'; output: $(tr '\n\t' '|>' < "$W/client1.out")"
	fi
done <<< "$want"
[ $ok -eq 1 ] && pass "client: stdout is the recorded session, line for line (14 lines)"
expect "client: nothing more on stdout" test "$(wc -l < "$W/client1.out")" -eq 14
secret=$(sed -n 's/^sceret is 	//p' "$W/client1.out")
has() { if grep -Eq -- "$3" "$2"; then pass "$1"; else fail "$1" "no /$3/ in $(tail -8 "$2" | tr '\n' '|')"; fi; }
wait_for "$LOG" "AFK" 5
has "node: login server listen line" "$LOG" "^\[:[0-9a-f]{8}\] login server listen at : 127.0.0.1 $LP$"
has "node: the gate is launched with the login server's address" "$LOG" "LAUNCH snlua gated [0-9]+$"
has "node: a slave logs the connection" "$LOG" "^\[:[0-9a-f]{8}\] connect from 127.0.0.1:[0-9]+ \(fd = [0-9]+\)$"
has "node: logind prints the login with the client's secret" "$LOG" "^hello@sample is login, secret is $secret$"
has "node: one msgagent per login" "$LOG" "LAUNCH snlua msgagent$"
has "node: the agent logs 'hello is login'" "$LOG" "^\[:[0-9a-f]{8}\] hello is login$"
has "node: the agent logs AFK when the client leaves" "$LOG" "^\[:[0-9a-f]{8}\] AFK$"
expect "node: the master and 8 login slaves" test "$(grep -c "LAUNCH snlua logind$" "$LOG")" -eq 9

# --- lying clients ------------------------------------------------------------
timeout 120 lua5.4 test/e2e/lua/login_liar.lua "$ROOT" 127.0.0.1 "$LP" "$GP" > "$W/liar.out" 2>&1
rc=$?
cat "$W/liar.out" | grep -E '^(PASS|FAIL) '
expect "liars: the script ran to its end (status $rc)" test $rc -eq 0
grep -vE '^(PASS|FAIL) ' "$W/liar.out" | head -5
has "node: bad logins are logged as invalid client" "$LOG" "invalid client \(fd = [0-9]+\) error = .*Invalid password"
has "node: a line over 8 KiB hits the slave's socket limit" "$LOG" "socket buffer overflow"
has "node: a silent client is logged as timed out" "$LOG" "handshake timed out"
has "node: a short request is logged as an invalid package" "$LOG" "Invalid package .* : ab$"
has "node: a third copy of a session is a conflict" "$LOG" "Invalid package Conflict session 33 : "

# --- honest again: a second login of hello kicks the first session ---------
run_client "$W/client2.out"
expect "client again: status 0 after all the liars" test $? -eq 0
has "client again: the full session" "$W/client2.out" "^<===	true	again	1$"
has "client again: the old session of hello is kicked (agent logs out)" "$LOG" "^\[:[0-9a-f]{8}\] hello is logout$"
has "client again: logind prints the logout" "$LOG" "^hello@sample is logout$"
expect "node: still running" kill -0 "$NODE"
bad=$(grep -E 'Segmentation|double free|assertion|stack traceback' "$LOG" | head -3)
if [ -z "$bad" ]; then pass "node: no crash or Lua traceback in the log"; else fail "node: no crash or Lua traceback in the log" "$bad"; fi

#!/usr/bin/env bash
# The debug console's guards (issue #10: one command must not kill or
# misuse the console), driven over real TCP and HTTP by
# test/e2e/console_client.py:
#   node A (start = console_main, harbor 0): handles parsed strictly, system
#     services refused by kill/exit, commands that change the node refused
#     over HTTP unless POSTed with X-Skynet-Console: 1, typed Lua (`call`)
#     bounded in time and memory away from the console, inject's wait
#     bounded;
#   node H (harbor 3, standalone): cmaster and the C harbor service refused,
#     other harbors' handles refused by kill/logon.
# test_console.sh checks the commands themselves.
source "$(dirname "$0")/lib.sh"
W=$E2E_WORK

PORT=$(free_ports 1)

con() { python3 test/e2e/console_client.py "$PORT" "$@"; }

# has NAME FILE REGEX (grep -E on the output file)
has() {
	if grep -Eq -- "$3" "$2"; then pass "$1"; else fail "$1" "no line matching /$3/ in: $(head -c 700 "$2" | tr '\n\t' '|>')"; fi
}
# the address listed for a launch command, e.g. addr_of "console_probe probe"
# (list lines end with the service's call counters: <TAB>waiting:<n>...)
addr_of() { grep -E "	snlua $1(	waiting:|\$)" "$W/list.out" | head -1 | cut -f1; }

# ============================================================ node A
LOG=$W/node.log
write_config "$W/a.config" console_main "console_port = \"$PORT\""
./skynet "$W/a.config" > "$LOG" 2>&1 &
pid=$!
E2E_PIDS+=("$pid")
if ! wait_for "$LOG" "console_main: ready" 30; then
	fail "console guard: node starts" "$(tail -5 "$LOG" | tr '\n' '|')"
	exit 0
fi
con list > "$W/list.out"
PROBE=$(addr_of "console_probe probe")
CONSOLE=$(addr_of "debug_console $PORT")

# raw HTTP POST to the console: post BODY [HEADER...] (Host is 127.0.0.1)
post() {
	local body=$1 h="" x
	shift
	for x in "$@"; do h="$h$x\\r\\n"; done
	con --timeout 20 --raw "POST / HTTP/1.1\\r\\nHost: 127.0.0.1:$PORT\\r\\n${h}Content-Length: ${#body}\\r\\n\\r\\n$body"
}
OKPOST="X-Skynet-Console: 1"

# (3) handles are parsed strictly; the well-formed forms still work
short=":$(printf %x $((16#${PROBE#:})))"
bare=$(printf %x $((16#${PROBE#:})))
con "kill 99999999999999999999999" "kill :zz" "kill :123456789" "info :0" "info abc" "kill :ff000001" \
	"ping $PROBE" "ping $short" "ping $bare" "ping .probe" > "$W/addr.out"
for a in 99999999999999999999999 :zz :123456789 :0; do
	has "address: '$a' is refused as not an address" "$W/addr.out" \
		"^bad address '$a' \(want :<1-8 hex digits>, <1-8 hex digits> or \.name\): Need an address$"
done
has "address: 'info abc' is hex :00000abc, which does not exist" "$W/addr.out" ":00000abc: no such service \(it exited or never existed\)$"
has "address: a handle of another harbor is refused" "$W/addr.out" \
	"^:ff000001 is not a service of this node \(harbor 255; this node is harbor 0\)$"
expect "address: 6 errors, then $PROBE, $short, $bare and .probe all reach the service" \
	bash -c "[ \$(grep -c '^<CMD Error>\$' '$W/addr.out') -eq 6 ] && [ \$(grep -c '^<CMD OK>\$' '$W/addr.out') -eq 4 ]"
con --timeout 10 --raw 'GET /info/:zz HTTP/1.1\r\n\r\n' > "$W/addrh.out"
has "address: over HTTP too" "$W/addrh.out" "^bad address ':zz' "

# (2) the node's system services cannot be killed or told to exit
DCENTER=$(addr_of datacenterd)
CSLAVE=$(addr_of cdummy)
CHARBOR=$(printf ':%08x' $((16#${CSLAVE#:} + 1)))
con "kill :00000003" "kill .launcher" "exit .launcher" "kill .service" "exit .cslave" "kill $CHARBOR" \
	"kill .logger" "exit $DCENTER" "kill $CONSOLE" "exit $CONSOLE" "dbgcmd .launcher EXIT" \
	"start console_probe after_refusals" "ping .probe" > "$W/sys.out"
post "kill .service" "$OKPOST" > "$W/sysh.out"
has "system: 'kill :00000003' refused: the launcher" "$W/sys.out" "^kill :00000003 refused: the launcher is a system service$"
expect "system: kill :00000003, kill/exit .launcher and dbgcmd .launcher EXIT refused (4)" \
	test "$(grep -c 'refused: the launcher is a system service$' "$W/sys.out")" -eq 4
has "system: the service manager" "$W/sys.out" "^kill :[0-9a-f]{8} refused: the service manager \(\.service\) is a system service$"
has "system: the harbor service" "$W/sys.out" "^exit $CSLAVE refused: the harbor service \(\.cslave\) is a system service$"
has "system: the C harbor service ($CHARBOR)" "$W/sys.out" "^kill $CHARBOR refused: the C harbor service is a system service$"
has "system: the logger" "$W/sys.out" "^kill :[0-9a-f]{8} refused: the logger is a system service$"
has "system: the datacenter" "$W/sys.out" "^exit $DCENTER refused: the datacenter \(DATACENTER\) is a system service$"
has "system: the console itself (kill)" "$W/sys.out" "^kill $CONSOLE refused: this debug console is a system service$"
has "system: the console itself (exit)" "$W/sys.out" "^exit $CONSOLE refused: this debug console is a system service$"
has "system: dbgcmd EXIT is refused as well" "$W/sys.out" "^dbgcmd EXIT :00000003 refused: the launcher is a system service$"
has "system: newservice still works afterwards" "$W/sys.out" "^:[0-9a-f]{8}	console_probe$"
expect "system: 11 refusals, then start and ping answer" \
	bash -c "[ \$(grep -c '^<CMD Error>\$' '$W/sys.out') -eq 11 ] && [ \$(grep -c '^<CMD OK>\$' '$W/sys.out') -eq 2 ]"
has "system: over HTTP too" "$W/sysh.out" "^kill :[0-9a-f]{8} refused: the service manager \(\.service\) is a system service$"

# (4) over HTTP, commands that change the node need POST + X-Skynet-Console: 1
con "start console_probe webvictim" > "$W/web0.out"
WV=$(grep -E '^:[0-9a-f]{8}	console_probe$' "$W/web0.out" | cut -f1)
con --timeout 10 --raw "GET /kill/$WV HTTP/1.1\\r\\nHost: 127.0.0.1:$PORT\\r\\n\\r\\n" > "$W/web1.out"
expect "http: GET /kill/<addr> is refused with 405" test "$(tr '\n' '|' < "$W/web1.out")" = \
	"Welcome to skynet console|405 Method Not Allowed: kill changes the node: send it as POST with the header X-Skynet-Console: 1|<CMD Error>|"
con --timeout 10 --raw "GET /exit/$WV\\r\\n" > "$W/web2.out"
has "http: GET /exit/<addr> (HTTP/0.9) is refused with 405" "$W/web2.out" "^405 Method Not Allowed: exit changes the node"
post "kill $WV" > "$W/web3.out"
has "http: POST kill without X-Skynet-Console is refused with 403" "$W/web3.out" \
	"^403 Forbidden: kill changes the node: a POST needs the header X-Skynet-Console: 1 \(a cross-site form cannot send it\)$"
post "kill $WV" "X-Skynet-Console: 0" > "$W/web4.out"
has "http: X-Skynet-Console must be 1" "$W/web4.out" "^403 Forbidden: kill changes the node"
body="kill $WV"
con --timeout 10 --raw "POST / HTTP/1.1\\r\\nHost: evil.example:$PORT\\r\\n$OKPOST\\r\\nContent-Length: ${#body}\\r\\n\\r\\n$body" > "$W/web5.out"
has "http: a Host that is a DNS name is refused (DNS rebinding)" "$W/web5.out" \
	"^403 Forbidden: kill changes the node: Host evil\.example:$PORT is not an IP address or localhost"
con --timeout 10 --raw "OPTIONS /kill/$WV HTTP/1.1\\r\\nOrigin: http://evil.example\\r\\n\\r\\n" > "$W/web6.out"
expect "http: other methods (a CORS preflight) get 405 and the connection closes" test "$(tr '\n' '|' < "$W/web6.out")" = \
	"Welcome to skynet console|405 Method Not Allowed: the console takes HTTP GET (commands that only look) and POST, not OPTIONS|<CMD Error>|"
con "ping $WV" > "$W/web7.out"
has "http: the service is still alive after the refused requests" "$W/web7.out" "^<CMD OK>$"
post "kill $WV" "$OKPOST" > "$W/web8.out"
expect "http: POST kill with X-Skynet-Console: 1 kills" test "$(tr '\n' '|' < "$W/web8.out")" = \
	"Welcome to skynet console|$WV	snlua console_probe webvictim|<CMD OK>|"
if command -v curl > /dev/null; then
	CV=$(con "start console_probe curlvictim" | grep -E '^:[0-9a-f]{8}	console_probe$' | cut -f1)
	curl -s --max-time 10 --http0.9 "http://127.0.0.1:$PORT/kill/$CV" > "$W/curl1.out"
	curl -s --max-time 10 --http0.9 -H 'X-Skynet-Console: 1' --data "kill $CV" "http://127.0.0.1:$PORT/" > "$W/curl2.out"
	has "http: curl GET /kill is refused" "$W/curl1.out" "^405 Method Not Allowed: kill changes the node"
	has "http: curl -H 'X-Skynet-Console: 1' --data 'kill <addr>' kills (the README's example)" "$W/curl2.out" \
		"^$CV	snlua console_probe curlvictim$"
fi
con --timeout 10 --raw "GET /list HTTP/1.1\\r\\nHost: 127.0.0.1:$PORT\\r\\n\\r\\n" > "$W/web9.out"
has "http: GET of a command that only looks still answers" "$W/web9.out" "^$CONSOLE	snlua debug_console $PORT	waiting:"
# every command of the spec is classified: GET refuses exactly the ones that change the node
CHANGE="gc start log snax kill exit killtask dbgcmd call trace inject logon logoff signal profactive dumpheap clearcache setenv debug"
LOOK="help list stat mem cmem jmem service info task uniqtask ping netstat getenv"
# one client process for the 32 requests: "<cmd><TAB><first line after the welcome>"
python3 - "$PORT" $CHANGE $LOOK > "$W/classes.out" <<'PY'
import socket, sys
port = int(sys.argv[1])
for c in sys.argv[2:]:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(("GET /%s\r\n" % c).encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    lines = data.decode(errors="replace").split("\n")
    print("%s\t%s" % (c, lines[1] if len(lines) > 1 else "(nothing)"))
PY
wrong=""
for c in $CHANGE; do grep -q "^$c	405 Method Not Allowed: $c changes the node" "$W/classes.out" || wrong="$wrong $c"; done
for c in $LOOK; do grep -q "^$c	405" "$W/classes.out" && wrong="$wrong $c"; done
[ "$(wc -l < "$W/classes.out")" -eq 32 ] || wrong="$wrong (only $(wc -l < "$W/classes.out") answers)"
expect "http: GET refuses the 19 commands that change the node and answers the 13 that look (wrong:${wrong:- none})" \
	test -z "$wrong"

# (1) typed Lua runs bounded, away from the console
LOOP='call .probe (function() while true do end end)()'
con --timeout 30 "$LOOP" "ping .probe" > "$W/loop1.out" &
looppid=$!
sleep 0.3
con --timeout 30 "ping .probe" > "$W/loop2.out"
wait "$looppid"
has "call: an endless loop in the expression is stopped with a clear line" "$W/loop1.out" "^call: evaluation stopped after 1 s$"
expect "call: ... <CMD Error>, and the same connection's next command answers" \
	bash -c "sed -n '3,\$p' '$W/loop1.out' | tr '\n' '|' | grep -qE '^<CMD Error>\\|[0-9]+\\|<CMD OK>\\|\$'"
has "call: another connection is answered meanwhile" "$W/loop2.out" "^<CMD OK>$"
post "$LOOP" "$OKPOST" > "$W/looph.out"
has "call: over HTTP too" "$W/looph.out" "^call: evaluation stopped after 1 s$"
con 'call .probe "echo", #("x"):rep(64 * 1024 * 1024)' \
	'call .probe ("a"):rep(40):find(("a-"):rep(20) .. "b")' 'call .probe function() end' \
	'call .probe "echo", ("ab"):rep(3):upper(), #("x"):rep(1000)' > "$W/eval.out"
has "call: an expression past the memory limit stops with a clear line" "$W/eval.out" \
	"^call: evaluation ran out of memory \(limit 32 MB\)$"
has "call: pattern matching (backtracking no hook can stop) is not offered" "$W/eval.out" \
	"string method 'find' is not available in console expressions$"
has "call: a value that cannot travel in a message is an error" "$W/eval.out" "^call: the values cannot be sent: "
expect "call: the other string methods still work (1<TAB>ABABAB, 2<TAB>1000, n<TAB>2)" \
	bash -c "grep -A3 -E '^1	ABABAB\$' '$W/eval.out' | tr '\n' '|' | grep -q '^1	ABABAB|2	1000|n	2|<CMD OK>|'"
# code injected into another service is its business; the console's wait is
# bounded (the injected loop ends by itself after 7 s, past the 5 s bound)
printf 'local t0 = os.time()\nwhile os.time() - t0 < 7 do end\n' > "$W/loop.lua"
con --timeout 30 "inject .probe $W/loop.lua" > "$W/injloop.out"
has "inject: the console stops waiting for a looping injection and says so" "$W/injloop.out" \
	"^$PROBE is not answering \(no reply in 5 s\)$"
deadline=$((SECONDS + 30))
while [ "$SECONDS" -lt "$deadline" ]; do
	con --timeout 10 "ping .probe" > "$W/injping.out"
	grep -q '^<CMD OK>$' "$W/injping.out" && break
	sleep 0.2
done
has "inject: the service answers again once its loop is over" "$W/injping.out" "^<CMD OK>$"

expect "console guard: node still running" kill -0 "$pid"
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null || true

# ============================================================ node H: harbor mode
# system services and handles of other harbors with harbor = 3 (standalone:
# this node also runs the master, cmaster)
LOGH=$W/harbor.log
read -r PORT MPORT APORT < <(free_ports 3)
write_config "$W/h.config" console_main "console_port = \"$PORT\"" "master = \"127.0.0.1:$MPORT\"" \
	"address = \"127.0.0.1:$APORT\"" "standalone = \"127.0.0.1:$MPORT\""
sed -i 's/^harbor = 0$/harbor = 3/' "$W/h.config"
./skynet "$W/h.config" > "$LOGH" 2>&1 &
pid=$!
E2E_PIDS+=("$pid")
if wait_for "$LOGH" "console_main: ready" 30; then
	con list > "$W/hlist.out"
	HMASTER=$(grep -E '	snlua cmaster(	|$)' "$W/hlist.out" | cut -f1)
	HSLAVE=$(grep -E '	snlua cslave(	|$)' "$W/hlist.out" | cut -f1)
	HPROBE=$(grep -E '	snlua console_probe probe(	|$)' "$W/hlist.out" | cut -f1)
	HCHARBOR=$(printf ':%08x' $((16#${HSLAVE#:} + 1)))
	con "kill $HMASTER" "exit $HSLAVE" "kill $HCHARBOR" "kill :01000005" "logon :01000005" "ping ${HPROBE#:03}" \
		'call .probe "echo", 7' > "$W/harbor.out"
	has "harbor mode: the master (cmaster) is refused" "$W/harbor.out" \
		"^kill $HMASTER refused: the harbor master \(cmaster\) is a system service$"
	has "harbor mode: .cslave is refused" "$W/harbor.out" "^exit $HSLAVE refused: the harbor service \(\.cslave\) is a system service$"
	has "harbor mode: the C harbor service is refused" "$W/harbor.out" "^kill $HCHARBOR refused: the C harbor service is a system service$"
	expect "harbor mode: kill/logon of another harbor's handle are refused (2)" \
		test "$(grep -c '^:01000005 is not a service of this node (harbor 1; this node is harbor 3)$' "$W/harbor.out")" -eq 2
	has "harbor mode: a bare hex handle gets this node's harbor byte" "$W/harbor.out" "^[0-9]+$"
	has "harbor mode: call evaluates and answers" "$W/harbor.out" "^1	7$"
else
	fail "harbor mode: node starts" "$(tail -5 "$LOGH" | tr '\n' '|')"
fi
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null || true

exit 0

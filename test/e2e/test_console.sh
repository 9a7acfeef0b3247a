#!/usr/bin/env bash
# debug_console (user notes section 六) driven over real
# TCP by test/e2e/console_client.py against a running node:
#   node A (start = console_main): every command's output shape and
#     content, error cases, the HTTP form, memlimit, netstat byte counts,
#     and, last, a stuck service that must not block stat/mem;
#   node B: 10,000 services, `list` and `stat` timed.
# Helper services: test/e2e/lua/console_{main,probe,net}.lua.
source "$(dirname "$0")/lib.sh"
W=$E2E_WORK

read -r PORT NPORT < <(free_ports 2)

con() { python3 test/e2e/console_client.py "$PORT" "$@"; }

# has NAME FILE REGEX / lacks NAME FILE REGEX (grep -E on the output file)
has() {
	if grep -Eq -- "$3" "$2"; then pass "$1"; else fail "$1" "no line matching /$3/ in: $(head -c 700 "$2" | tr '\n\t' '|>')"; fi
}
lacks() {
	if grep -Eq -- "$3" "$2"; then fail "$1" "unexpected line matching /$3/: $(grep -E -m1 -- "$3" "$2" | tr '\t' '>')"; else pass "$1"; fi
}
# the address listed for a launch command, e.g. addr_of "console_probe probe"
addr_of() { grep -E "	snlua $1(	waiting:|\$)" "$W/list.out" | head -1 | cut -f1; }
# seconds a command took (client --time output)
took() { sed -n "s/^# TIME $1 //p" "$2" | head -1; }

# ============================================================ node A
LOG=$W/node.log
write_config "$W/a.config" console_main "console_port = \"$PORT\"" "console_netport = \"$NPORT\"" \
	"logpath = \"$W\"" "snax = \"$ROOT/test/lua/?.lua\""
./skynet "$W/a.config" > "$LOG" 2>&1 &
pid=$!
E2E_PIDS+=("$pid")
if ! wait_for "$LOG" "console_main: ready" 30; then
	fail "console: node starts" "$(tail -5 "$LOG" | tr '\n' '|')"
	exit 0
fi
has "console: logs 'Start debug console at 127.0.0.1:<port>'" "$LOG" "^\[:[0-9a-f]{8}\] Start debug console at 127\.0\.0\.1:$PORT\$"

# --- welcome, help, list -------------------------------------------------
con help > "$W/help.out"
expect "console: first line is 'Welcome to skynet console'" test "$(head -1 "$W/help.out")" = "Welcome to skynet console"
missing=""
for c in help list stat info exit kill mem cmem jmem gc start snax log service logon logoff signal ping \
	call trace netstat task uniqtask killtask debug inject dbgcmd clearcache getenv setenv profactive dumpheap; do
	grep -q "^$c	" "$W/help.out" || missing="$missing $c"
done
expect "console: help lists every command upstream's console has (missing:${missing:- none})" test -z "$missing"
sed -n '2,$p' "$W/help.out" | grep -v '^<CMD' | cut -f1 > "$W/help.names"
expect "console: help is sorted by name" bash -c "sort -c '$W/help.names'"
expect "console: help ends with <CMD OK>" test "$(tail -1 "$W/help.out")" = "<CMD OK>"

con list > "$W/list.out"
PROBE=$(addr_of "console_probe probe")
SPIN=$(addr_of "console_probe spin")
LIMITED=$(addr_of "console_probe limited")
NET=$(addr_of "console_net $NPORT")
CONSOLE=$(addr_of "debug_console $PORT")
expect "console: list shows the services with their launch commands" \
	test -n "$PROBE" -a -n "$SPIN" -a -n "$LIMITED" -a -n "$NET" -a -n "$CONSOLE"
bad=$(sed -n '2,$p' "$W/list.out" | grep -v '^<CMD OK>$' | grep -cvE '^:[0-9a-f]{8}	snlua ')
expect "console: every list line is ':<8hex><TAB>snlua <name args>' ($bad others)" test "$bad" -eq 0
bad=$(sed -n '2,$p' "$W/list.out" | grep -v '^<CMD OK>$' | grep -cvE '	waiting:[0-9]+	timeout:[0-9]+	timeout_late:[0-9]+$')
expect "console: every list line ends with '<TAB>waiting:<n><TAB>timeout:<n><TAB>timeout_late:<n>' ($bad others)" test "$bad" -eq 0
nlist=$(grep -cE '^:[0-9a-f]{8}	' "$W/list.out")

# --- stat, mem, gc, cmem -------------------------------------------------
con stat mem > "$W/stat.out"
nstat=$(grep -cE '^:[0-9a-f]{8}	cpu:[0-9.e-]+	message:[0-9]+	mqlen:[0-9]+	task:[0-9]+	timeout:[0-9]+	timeout_late:[0-9]+	waiting:[0-9]+$' "$W/stat.out")
expect "console: stat prints ':addr<TAB>cpu:<s><TAB>message:<n><TAB>mqlen:<n><TAB>task:<n>' (upstream's), then <TAB>timeout:<n><TAB>timeout_late:<n><TAB>waiting:<n>, for each of the $nlist listed services ($nstat)" \
	test "$nstat" -eq "$nlist"
nmem=$(grep -cE '^:[0-9a-f]{8}	[0-9]+\.[0-9]{2} Kb \(snlua .*\)$' "$W/stat.out")
expect "console: mem prints ':addr<TAB><x.xx> Kb (<launch command>)' for each service ($nmem)" test "$nmem" -eq "$nlist"
has "console: stat counts the console's own suspended tasks" "$W/stat.out" "^$CONSOLE	cpu:[0-9.e-]+	message:[0-9]+	mqlen:0	task:[1-9]"

# the numbers are real: cpu time and message count of one service
con "stat" 'call .probe "burn", 300' 'call .probe "echo"' 'call .probe "echo"' 'call .probe "echo"' "stat" > "$W/cpu.out"
grep -E "^$PROBE	cpu:" "$W/cpu.out" | sed -E 's/.*cpu:([0-9.e-]+)	message:([0-9]+).*/\1 \2/' > "$W/cpu.nums"
read -r c0 n0 < <(sed -n 1p "$W/cpu.nums")
read -r c1 n1 < <(sed -n 2p "$W/cpu.nums")
echo "# console: $PROBE before: cpu $c0 s, $n0 messages; after a 0.3 s busy call and 3 calls: cpu $c1 s, $n1 messages"
expect "stat: cpu grows by the CPU time the service spent ($c0 -> $c1 s)" \
	awk -v a="$c0" -v b="$c1" 'BEGIN { exit !(b - a >= 0.25 && b - a < 5) }'
expect "stat: message counts the 4 calls and the second STAT ($n0 -> $n1)" test "$((n1 - n0))" -eq 5
# calls waiting and timed out: .caller makes calls that .callee parks
CALLER=$(addr_of "console_probe caller")
calls() { grep -E "^$CALLER	" "$1" | sed -E 's/.*	(timeout:[0-9]+	timeout_late:[0-9]+	waiting:[0-9]+)$/\1/;s/.*	(waiting:[0-9]+	timeout:[0-9]+	timeout_late:[0-9]+)$/\1/' | tr '\t\n' ' |'; }
# poll_stat FILE REGEX: stat until .caller's line matches (at most 10 s)
poll_stat() {
	local i
	for i in $(seq 1 50); do
		con stat list > "$1"
		grep -Eq "^$CALLER	cpu:.*	$2\$" "$1" && return 0
		sleep 0.2
	done
	return 1
}
con 'call .caller "callpark", 5' > /dev/null
poll_stat "$W/calls1.out" "timeout:0	timeout_late:0	waiting:5"
has "calls: 5 calls stuck on a callee: stat shows waiting:5" "$W/calls1.out" "^$CALLER	cpu:.*	task:[0-9]+	timeout:0	timeout_late:0	waiting:5\$"
has "calls: ... and list too" "$W/calls1.out" "^$CALLER	snlua console_probe caller	waiting:5	timeout:0	timeout_late:0\$"
con 'call .caller "callpark", 2, 20' > /dev/null
poll_stat "$W/calls2.out" "timeout:2	timeout_late:0	waiting:5"
has "calls: 2 more calls with a 0.2 s deadline: stat shows timeout:2, still waiting:5 ($(calls "$W/calls2.out"))" "$W/calls2.out" "^$CALLER	cpu:.*	timeout:2	timeout_late:0	waiting:5\$"
has "calls: ... and list too" "$W/calls2.out" "^$CALLER	snlua console_probe caller	waiting:5	timeout:2	timeout_late:0\$"
con 'call .callee "release"' > /dev/null
poll_stat "$W/calls3.out" "timeout:2	timeout_late:2	waiting:0"
has "calls: the callee answers all 7: waiting:0, and the 2 late replies counted as timeout_late:2 ($(calls "$W/calls3.out"))" "$W/calls3.out" "^$CALLER	cpu:.*	timeout:2	timeout_late:2	waiting:0\$"
has "calls: ... and list too" "$W/calls3.out" "^$CALLER	snlua console_probe caller	waiting:0	timeout:2	timeout_late:2\$"

con mem 'call .probe "alloc", 3072' mem 'call .probe "free"' mem > "$W/alloc.out"
awk -v a="$PROBE" -F'\t' '$1 == a { print $2 }' "$W/alloc.out" | sed -E 's/ Kb.*//' > "$W/alloc.kb"
m0=$(sed -n 1p "$W/alloc.kb"); m1=$(sed -n 2p "$W/alloc.kb"); m2=$(sed -n 3p "$W/alloc.kb")
echo "# console: mem of $PROBE: $m0 Kb, after alloc 3072 KiB: $m1 Kb, after free: $m2 Kb"
expect "console: mem grows by ~3 MB after the service allocates ($m0 -> $m1 Kb)" \
	awk -v a="$m0" -v b="$m1" 'BEGIN { exit !(b - a > 2900 && b - a < 4000) }'
expect "console: mem shrinks after it frees ($m1 -> $m2 Kb)" awk -v a="$m1" -v b="$m2" 'BEGIN { exit !(a - b > 2900) }'
has "console: call alloc answers through the lua protocol" "$W/alloc.out" "^1	3072$"

con gc cmem > "$W/gc.out"
ngc=$(grep -cE '^:[0-9a-f]{8}	[0-9]+\.[0-9]{2} Kb \(snlua .*\)$' "$W/gc.out")
expect "console: gc prints the mem table afterwards ($ngc lines)" test "$ngc" -eq "$nlist"
wait_for "$LOG" "GC [0-9.]* Kb -> [0-9.]* Kb, cost" 5
has "console: gc makes every service log 'GC <a> Kb -> <b> Kb, cost <t> sec'" "$LOG" "^\[$PROBE\] GC [0-9.]+ Kb -> [0-9.]+ Kb, cost [0-9.]+ sec$"
ncmem=$(grep -cE '^:[0-9a-f]{8}	[0-9]+$' "$W/gc.out")
expect "console: cmem prints ':addr<TAB><bytes>' per service ($ncmem)" test "$ncmem" -eq "$nlist"
has "console: cmem prints a total" "$W/gc.out" "^total	[0-9]+$"
has "console: cmem says C allocations are not tracked per service" "$W/gc.out" "not tracked per service"

# --- info, ping, call, getenv/setenv, dbgcmd, trace, inject ---------------
con "info .probe a b" "ping .probe" 'call .probe "echo", 1, "x"' "call .probe" "getenv thread" "getenv console_nope" \
	"setenv console_x 42" "getenv console_x" "setenv console_x 43" "dbgcmd .probe STAT" "dbgcmd .probe SUPPORT lua" \
	"dbgcmd .probe NOSUCH" "trace .probe on" "service" "clearcache" > "$W/cmds.out"
has "console: info prints info_func's table (args<TAB>1:a<TAB>2:b<TAB>n:2)" "$W/cmds.out" "^args	1:a	2:b	n:2$"
has "console: info: plain values as key<TAB>value" "$W/cmds.out" "^hello	world$"
expect "console: ping prints the round trip in centiseconds" \
	bash -c "grep -A2 -E '^mode	probe\$' '$W/cmds.out' | sed -n 3p | grep -qE '^[0-9]+\$'"
expect "console: call prints the packed results (1<TAB>1, 2<TAB>x, n<TAB>2)" \
	bash -c "grep -A3 -E '^1	1\$' '$W/cmds.out' | tr '\n' '|' | grep -q '^1	1|2	x|n	2|<CMD OK>|'"
has "console: call without arguments: 'need arguments'" "$W/cmds.out" "need arguments$"
has "console: getenv prints name<TAB>value" "$W/cmds.out" "^thread	2$"
has "console: getenv of an unset key prints nil" "$W/cmds.out" "^console_nope	nil$"
has "console: setenv adds a key getenv then sees" "$W/cmds.out" "^console_x	42$"
has "console: setenv of an existing key is an error" "$W/cmds.out" "Can't setenv exist key : console_x$"
expect "console: dbgcmd STAT prints cpu/message/mqlen/task" \
	bash -c "grep -A3 -E '^cpu	' '$W/cmds.out' | tr '\n' '|' | grep -qE '^cpu	[0-9.e-]+\|message	[0-9]+\|mqlen	0\|task	0\|'"
has "console: dbgcmd SUPPORT lua prints true" "$W/cmds.out" "^true$"
has "console: dbgcmd with an unknown debug command is an error naming it" "$W/cmds.out" "unknown debug command NOSUCH"
wait_for "$LOG" "Turn trace log" 5
has "console: trace on: the target logs 'Turn trace log true for lua'" "$LOG" "^\[$PROBE\] Turn trace log true for lua$"
has "console: service lists the unique services" "$W/cmds.out" "^console_probe	:[0-9a-f]{8}$"
nok=$(grep -c '^<CMD OK>$' "$W/cmds.out"); nerr=$(grep -c '^<CMD Error>$' "$W/cmds.out")
expect "console: one terminator per command (12 OK + 3 Error: $nok + $nerr)" test "$nok" -eq 12 -a "$nerr" -eq 3

printf 'print("injected", ...)\nprint(type(_U), type(_P.lua))\n' > "$W/inj.lua"
printf 'error("inject boom")\n' > "$W/bad.lua"
con "inject .probe $W/inj.lua a b" "inject .probe $W/bad.lua" "inject .probe $W/nope.lua" > "$W/inject.out"
has "console: inject prints what the code printed" "$W/inject.out" "^injected	a	b$"
has "console: inject: _U and _P are in scope" "$W/inject.out" "^table	table$"
has "console: inject: a failing chunk is an error with its message" "$W/inject.out" "bad\.lua:1: inject boom"
has "console: inject: a missing file prints Can't open" "$W/inject.out" "^Can't open $W/nope\.lua$"

# --- logon / logoff -------------------------------------------------------
con "logon .probe" 'call .probe "echo", "logged"' "logoff .probe" > "$W/logon.out"
plog="$W/${PROBE#:}.log"
expect "console: logon writes the service's messages to <logpath>/<addr>.log" test -s "$plog"

# --- task, uniqtask, killtask -------------------------------------------
con --timeout 20 'call .probe "park"' > "$W/park.out" &
parkpid=$!
for _ in $(seq 1 40); do
	con "task .probe" > "$W/task.out"
	grep -q 'session: ' "$W/task.out" && break
	sleep 0.1
done
has "console: task prints 'thread: 0x... session: n<TAB>stack traceback:'" "$W/task.out" "^thread: 0x[0-9a-f]+ session: [0-9]+	stack traceback:$"
has "console: task: the traceback names the suspended function" "$W/task.out" "console_probe\.lua:[0-9]+: in "
co=$(grep -oE '^thread: 0x[0-9a-f]+' "$W/task.out" | head -1 | cut -d' ' -f2)
con "uniqtask .probe" "killtask .probe $co" "killtask .probe 0xdead" "task .probe" > "$W/kt.out"
has "console: uniqtask prints '<count><TAB>sessions:[<s>]'" "$W/kt.out" "^1	sessions:\[[0-9]+\]$"
has "console: uniqtask: then the traceback" "$W/kt.out" "^	stack traceback:$"
has "console: killtask of an unknown coroutine prints Not found" "$W/kt.out" "^Not found$"
wait "$parkpid"
has "console: killtask ends the parked request (its caller gets an error)" "$W/park.out" "request killed"
# (the killed session may stay listed as "BREAK session: n" until its wakeup comes)
expect "console: task after killtask lists no coroutine" bash -c "! sed -n '/^Not found/,\$p' '$W/kt.out' | grep -q '^thread: '"
has "console: killtask logs 'Kill <co>'" "$LOG" "^\[$PROBE\] Kill thread: $co$"

# --- start, log, kill, exit, snax, debug ---------------------------------
P2=$(free_ports 1)
con "start console_probe victim" "start console_probe leaver" "log console_probe logged" "start console_nosuch" \
	"start debug_console 127.0.0.1 $P2 extra" "start debug_console 127.0.0.1 $P2" > "$W/start.out"
VICTIM=$(grep -E '^:[0-9a-f]{8}	console_probe$' "$W/start.out" | sed -n 1p | cut -f1)
LEAVER=$(grep -E '^:[0-9a-f]{8}	console_probe$' "$W/start.out" | sed -n 2p | cut -f1)
LOGGED=$(grep -E '^:[0-9a-f]{8}	console_probe$' "$W/start.out" | sed -n 3p | cut -f1)
expect "console: start/log print ':addr<TAB>name'" test -n "$VICTIM" -a -n "$LEAVER" -a -n "$LOGGED"
expect "console: start of a failing service prints Failed (twice: missing file, 3 console args)" \
	test "$(grep -c '^Failed$' "$W/start.out")" -eq 2
expect "console: log turns the message log on from the start" test -e "$W/${LOGGED#:}.log"
welcome2=$(python3 test/e2e/console_client.py "$P2" "ping .probe" 2>&1 | head -2 | tr '\n' '|')
expect "console: a console started with (ip, port) serves on that port ($welcome2)" test "$welcome2" = "Welcome to skynet console|0|"

con list "kill $VICTIM" list "kill $VICTIM" "exit $LEAVER" > "$W/kill.out"
has "console: kill prints ':addr<TAB>snlua <launch command>'" "$W/kill.out" "^$VICTIM	snlua console_probe victim$"
expect "console: kill removes the service from list" \
	test "$(grep -c "^$VICTIM	" "$W/kill.out")" -eq 2 # the list before and the kill line, not the list after
has "console: kill of a dead service is an error" "$W/kill.out" "$VICTIM: no such service"
for _ in $(seq 1 20); do
	con list > "$W/list2.out"
	grep -q "^$LEAVER	" "$W/list2.out" || break
	sleep 0.1
done
lacks "console: exit makes the service leave (gone from list)" "$W/list2.out" "^$LEAVER	"

con "snax snax_ping" "snax nosuch_snax" > "$W/snax.out"
has "console: snax launches a snax service, printing ':addr<TAB>name'" "$W/snax.out" "^:[0-9a-f]{8}	snax_ping$"
has "console: snax of a missing service file prints Failed" "$W/snax.out" "^Failed$"
con "debug .probe" jmem profactive dumpheap > "$W/missing.out"
has "console: debug says the debugger cannot attach" "$W/missing.out" "^Debugger attach failed"
has "console: jmem says there is no jemalloc" "$W/missing.out" "^jemalloc is not linked"
expect "console: profactive/dumpheap say heap profiling needs jemalloc" \
	test "$(grep -c 'heap profiling needs jemalloc' "$W/missing.out")" -eq 2

# --- concurrent connections --------------------------------------------------
cpids=()
for i in $(seq 1 20); do
	con --timeout 30 list "ping .probe" "getenv thread" > "$W/conc.$i.out" &
	cpids+=($!)
done
wait "${cpids[@]}"
okc=0
for i in $(seq 1 20); do
	[ "$(grep -c '^<CMD OK>$' "$W/conc.$i.out")" -eq 3 ] && okc=$((okc + 1))
done
expect "console: 20 concurrent connections all answered ($okc)" test "$okc" -eq 20

# --- error cases ------------------------------------------------------------
con bogus "ping" "ping zz" "ping .nosuch" "ping 7fffff" "info :7fffff" "kill :7fffff" "logon 7fffff" \
	"stat x" "ping .probe" > "$W/err.out"
expect "console: unknown command: 'Invalid command...', empty line, <CMD Error>" \
	bash -c "sed -n '2,4p' '$W/err.out' | tr '\n' '|' | grep -qx 'Invalid command, type help for command list||<CMD Error>|'"
expect "console: missing/bad address: 'Need an address' (2)" test "$(grep -c 'Need an address$' "$W/err.out")" -eq 2
has "console: unknown .name: 'Not a valid name'" "$W/err.out" "Not a valid name$"
expect "console: dead address: 'no such service' (4)" test "$(grep -c ':007fffff: no such service' "$W/err.out")" -eq 4
has "console: bad timeout argument is an error" "$W/err.out" "timeout must be a number"
expect "console: 9 errors, then the console still answers" \
	bash -c "[ \$(grep -c '^<CMD Error>\$' '$W/err.out') -eq 9 ] && tail -2 '$W/err.out' | head -1 | grep -qE '^[0-9]+\$'"

long=$(head -c 100000 /dev/zero | tr '\0' 'x')
con --timeout 10 --raw "$long" > "$W/long.out"
expect "console: a 100 kB line without newline closes that connection" \
	test "$(tr '\n' '|' < "$W/long.out")" = "Welcome to skynet console|"
con "ping .probe" > "$W/after.out"
has "console: and the console still answers" "$W/after.out" "^<CMD OK>$"

# --- memlimit -----------------------------------------------------------------
con 'call .limited "alloc", 2048' "ping .limited" > "$W/limit.out"
has "memlimit: the service logged its limit" "$LOG" "^\[$LIMITED\] Set memory limit to 1\.00 M$"
has "memlimit: allocating past it fails with 'not enough memory'" "$W/limit.out" "not enough memory"
expect "memlimit: the service still answers afterwards" bash -c "sed -n 4p '$W/limit.out' | grep -qE '^[0-9]+\$'"

# --- netstat ------------------------------------------------------------------
con --hold "$NPORT" 1000 --local netstat > "$W/net1.out"
con --hold "$NPORT" 3000 netstat > "$W/net2.out"
hp1=$(sed -n 's/^# HOLD //p' "$W/net1.out")
hp2=$(sed -n 's/^# HOLD //p' "$W/net2.out")
lp=$(sed -n 's/^# LOCAL //p' "$W/net1.out")
has "netstat: the console's listen socket, bound to 127.0.0.1 by default" "$W/net1.out" \
	"^[0-9]+	accept:[0-9]+	address:$CONSOLE	id:[0-9]+	(rtime:[^	]*	)?sock:127\.0\.0\.1:$PORT	type:LISTEN$"
has "netstat: the test service's listen socket" "$W/net1.out" "	address:$NET	id:[0-9]+	(rtime:[^	]*	)?sock:127\.0\.0\.1:$NPORT	type:LISTEN$"
has "netstat: a client that sent 1000 bytes shows read:1000" "$W/net1.out" \
	"^[0-9]+	address:$NET	id:[0-9]+	peer:127\.0\.0\.1:$hp1	read:1000	reading:true	rtime:[0-9.]+s	type:TCP	writing:false$"
has "netstat: 3000 bytes show as read:2.9296875K" "$W/net2.out" "	peer:127\.0\.0\.1:$hp2	read:2\.9296875K	"
has "netstat: the console connection counts 'netstat\\n' read (8) and the welcome line written (26)" "$W/net1.out" \
	"^[0-9]+	address:$CONSOLE	id:[0-9]+	peer:127\.0\.0\.1:$lp	read:8	reading:true	rtime:[0-9.]+s	type:TCP	write:26	writing:false	wtime:[0-9.]+s$"

# --- HTTP form ------------------------------------------------------------
con --timeout 10 --raw 'GET /info/.probe/x/y HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n' > "$W/http1.out"
printf 'Welcome to skynet console\nargs\t1:x\t2:y\tn:2\nhello\tworld\nmode\tprobe\n<CMD OK>\n' > "$W/http1.want"
expect "http: GET /info/.probe/x/y runs 'info .probe x y', raw output, then close" cmp -s "$W/http1.out" "$W/http1.want"
con --timeout 10 --raw 'GET /getenv/thread\r\n' > "$W/http2.out"
expect "http: HTTP/0.9 request line (no headers)" test "$(tr '\n' '|' < "$W/http2.out")" = "Welcome to skynet console|thread	2|<CMD OK>|"
con --timeout 10 --raw 'POST / HTTP/1.1\r\nContent-Length: 13\r\n\r\ngetenv thread' > "$W/http3.out"
expect "http: POST uses the body as the command line" test "$(tr '\n' '|' < "$W/http3.out")" = "Welcome to skynet console|thread	2|<CMD OK>|"
con --timeout 10 --raw 'GET /nosuch HTTP/1.1\r\n\r\n' > "$W/http4.out"
has "http: an unknown command is an error" "$W/http4.out" "^Invalid command"
if command -v curl > /dev/null; then
	curl -s --max-time 10 --http0.9 "http://127.0.0.1:$PORT/ping/.probe" > "$W/curl.out"
	expect "http: curl --http0.9 reads the reply" test "$(sed -n 3p "$W/curl.out")" = "<CMD OK>"
fi
has "console: logs '<peer> connected'" "$LOG" "^\[$CONSOLE\] 127\.0\.0\.1:[0-9]+ connected$"
has "console: logs '<peer> disconnect'" "$LOG" "^\[$CONSOLE\] 127\.0\.0\.1:[0-9]+ disconnect$"

# --- a stuck service does not block the console (last: it keeps a worker busy)
con --timeout 30 'call .spin "spin"' > "$W/spin.out" &
spinpid=$!
wait_for "$LOG" "console_probe: spinning" 10
# (0.5 s timeouts: stat, mem and list wait that long each for the stuck
# service, and the stuck call itself gives up after the console's 5 s)
con --time "stat 50" "mem 50" "list 50" "signal .spin 0" > "$W/stuck.out"
ts=$(took stat "$W/stuck.out")
echo "# console: stat with one service stuck in a busy loop: $ts s (timeout 0.5 s)"
expect "stuck: stat answers after its timeout ($ts s < 10 s)" awk -v t="$ts" 'BEGIN { exit !(t != "" && t < 10) }'
has "stuck: stat shows the stuck service as TIMEOUT" "$W/stuck.out" "^$SPIN	TIMEOUT$"
has "stuck: stat still reports the others" "$W/stuck.out" "^$PROBE	cpu:"
has "stuck: mem shows it as TIMEOUT (launch command)" "$W/stuck.out" "^$SPIN	TIMEOUT \(snlua console_probe spin\)$"
has "stuck: list shows it with upstream's line only (no counters)" "$W/stuck.out" "^$SPIN	snlua console_probe spin$"
has "stuck: list still shows the others' counters" "$W/stuck.out" "^$PROBE	snlua console_probe probe	waiting:0	"
wait "$spinpid"
has "stuck: signal 0 breaks the loop; the stuck call fails with the reason" "$W/spin.out" "failed: .*signal 0"
wait_for "$LOG" "recv a signal 0" 5
has "stuck: signal delivers the signal (the service logs it)" "$LOG" "^\[$SPIN\] recv a signal 0$"
con "ping .spin" > "$W/spinping.out"
has "stuck: the interrupted service answers again" "$W/spinping.out" "<CMD OK>"
expect "console: node still running" kill -0 "$pid"
lacks "console: the console service never raised" "$LOG" "^\[$CONSOLE\] .*(lua call|console session)"
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null || true

# ============================================================ node B: 10,000 services
N=10000
LOGB=$W/many.log
PORT=$(free_ports 1) # a fresh port: node A's may linger in TIME_WAIT
write_config "$W/b.config" console_main "console_port = \"$PORT\"" "console_many = \"$N\""
./skynet "$W/b.config" > "$LOGB" 2>&1 &
pid=$!
E2E_PIDS+=("$pid")
if ! wait_for "$LOGB" "console_main: ready" 200; then
	fail "scale: node with $N services starts" "$(tail -3 "$LOGB" | tr '\n' '|')"
	exit 0
fi
sed -n 's/.*console_main: \(started .*\)/# scale: \1/p' "$LOGB"
sleep 1
con --timeout 120 --time list stat list stat > "$W/many.out"
n=$(grep -cE '^:[0-9a-f]{8}	snlua ' "$W/many.out")
ns=$(grep -cE '^:[0-9a-f]{8}	cpu:' "$W/many.out")
tl=$(took list "$W/many.out")
ts=$(took stat "$W/many.out")
tl2=$(grep '^# TIME list' "$W/many.out" | sed -n 2p | cut -d' ' -f4)
ts2=$(grep '^# TIME stat' "$W/many.out" | sed -n 2p | cut -d' ' -f4)
echo "# scale: list of $((n / 2)) services: $tl s, again $tl2 s; stat: $ts s (first, loads the debug module), again $ts2 s"
expect "scale: list shows all $N services and more ($((n / 2)))" test $((n / 2)) -gt "$N"
expect "scale: stat reports them all ($((ns / 2)))" test $((ns / 2)) -gt "$N"
expect "scale: list answers in under 5 s ($tl s)" awk -v t="$tl" 'BEGIN { exit !(t != "" && t < 5) }'
expect "scale: stat answers in under 5 s ($ts s)" awk -v t="$ts" 'BEGIN { exit !(t != "" && t < 5) }'
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null || true
exit 0

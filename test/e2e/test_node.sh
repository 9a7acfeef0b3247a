#!/usr/bin/env bash
# Node-level behaviour: file logger format, SIGHUP log reopen, daemon mode
# with its pid file, overload warnings, the endless-loop monitor.
source "$(dirname "$0")/lib.sh"
W=$E2E_WORK

# --- file logger and SIGHUP reopen -------------------------------------
write_config "$W/hup.config" logprobe "logger = \"$W/node.log\"" "probe_wait = \"150\""
./skynet "$W/hup.config" > "$W/hup.out" 2>&1 &
pid=$!
E2E_PIDS+=("$pid")
if wait_for "$W/node.log" "probe line one" 10; then
	mv "$W/node.log" "$W/node.log.1"
	kill -HUP "$pid"
fi
wait "$pid"
rc=$?
expect "logger: file lines carry a dd/mm/yy HH:MM:SS.cc timestamp" \
	grep -Eq '^[0-9]{2}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{2} \[:[0-9a-f]{8}\] probe line one$' "$W/node.log.1"
expect "logger: SIGHUP reopens the file (later lines go to the new file)" grep -q 'probe line two' "$W/node.log"
expect "logger: the renamed file keeps only the earlier lines" bash -c "! grep -q 'probe line two' '$W/node.log.1'"
expect "abort: node exits with status 0" test "$rc" -eq 0
expect "abort: lines logged just before abort are flushed" grep -q 'probe line two' "$W/node.log"

# --- print() and log lines from many threads stay whole ------------------
write_config "$W/lines.config" printlines "thread = 4"
timeout 60 ./skynet "$W/lines.config" > "$W/lines.out" 2>&1
pad=$(printf 'x%.0s' $(seq 180))
prints=$(grep -cE "^print	[1-4]	[0-9]+	$pad\$" "$W/lines.out")
logs=$(grep -cE "^\[:[0-9a-f]{8}\] log [1-4] [0-9]+ $pad\$" "$W/lines.out")
expect "print: 1,600 lines printed by 4 services at once come out whole ($prints)" test "$prints" -eq 1600
expect "logger: 1,600 lines logged alongside them come out whole ($logs)" test "$logs" -eq 1600

# --- daemon mode --------------------------------------------------------
write_config "$W/daemon.config" logprobe "logger = \"$W/daemon.log\"" "daemon = \"$W/skynet.pid\"" "probe_wait = \"200\""
t0=$(date +%s%N)
./skynet "$W/daemon.config" > "$W/daemon.out" 2>&1
rc=$?
t1=$(date +%s%N)
expect "daemon: the command returns 0 at once" test "$rc" -eq 0 -a $(( (t1 - t0) / 1000000 )) -lt 1000
wait_for "$W/daemon.log" "probe line one" 10
dpid=$(cat "$W/skynet.pid" 2>/dev/null)
E2E_PIDS+=("$dpid")
expect "daemon: pid file names the live daemon" kill -0 "${dpid:-0}"
./skynet "$W/daemon.config" > "$W/daemon2.out" 2>&1
rc2=$?
expect "daemon: a second start is refused while it runs" bash -c "[ $rc2 -eq 1 ] && grep -q 'Skynet is already running, pid = $dpid.' '$W/daemon2.out'"
wait_for "$W/daemon.log" "probe line two" 10
for _ in $(seq 1 100); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.05; done
expect "daemon: the process ends after abort" bash -c "! kill -0 $dpid 2>/dev/null"
expect "daemon: pid file removed at normal exit" test ! -e "$W/skynet.pid"
expect "daemon: stdout is detached (nothing printed)" test ! -s "$W/daemon.out"

# --- overload warning and endless-loop monitor -------------------------
write_config "$W/spin.config" spinner
./skynet "$W/spin.config" > "$W/spin.out" 2>&1 &
pid=$!
E2E_PIDS+=("$pid")
wait_for "$W/spin.out" "spinner busy=" 10
busy=$(sed -n 's/.*spinner busy=:\([0-9a-f]*\).*/\1/p' "$W/spin.out" | head -1)
expect "overload: a mailbox past 1024 messages logs a warning from that service" \
	grep -q "^\[:$busy\] error: May overload, message queue length = " "$W/spin.out"
wait_for "$W/spin.out" "maybe in an endless loop" 15
expect "monitor: a message running for 5-10 s is reported as an endless loop" \
	grep -q "^\[:00000000\] error: A message from \[ :[0-9a-f]\{8\} \] to \[ :$busy \] maybe in an endless loop (version = [0-9]*)" "$W/spin.out"
kill -9 "$pid" 2>/dev/null

# --- per-service message log (LOGON/LOGOFF, logpath) --------------------
mkdir -p "$W/msglogs"
write_config "$W/msglog.config" msglog "logpath = \"$W/msglogs\""
timeout 10 ./skynet "$W/msglog.config" > "$W/msglog.out" 2>&1
logfile=$(ls "$W"/msglogs/*.log 2>/dev/null | head -1)
expect "msglog: LOGON opens <logpath>/<8hex>.log and says so" \
	bash -c "[ -n '$logfile' ] && grep -q 'Open log file $logfile' '$W/msglog.out'"
expect "msglog: the file starts with the open time" bash -c "head -1 '$logfile' | grep -q '^open time: [0-9]* '"
expect "msglog: each message is logged as :source type session time hexpayload" \
	grep -Eq '^:00000008 10 0 [0-9]+ 2c68656c6c6f$' "$logfile"
expect "msglog: LOGOFF writes the close time" grep -q '^close time: [0-9]*$' "$logfile"

# --- code cache: framework code loses debug info, user code keeps it ----
write_config "$W/strip.config" stripprobe
timeout 10 ./skynet "$W/strip.config" > "$W/strip.out" 2>&1
expect "codecache: framework functions are cached without debug info" grep -q 'stripprobe framework=? ' "$W/strip.out"
expect "codecache: user functions keep file and line" grep -q 'own=.*stripprobe.lua:6$' "$W/strip.out"
write_config "$W/nostrip.config" stripprobe 'codecache_strip = false'
timeout 10 ./skynet "$W/nostrip.config" > "$W/nostrip.out" 2>&1
expect "codecache: codecache_strip = false keeps framework debug info" grep -q 'stripprobe framework=.*lualib/skynet/ext.lua' "$W/nostrip.out"

# --- SIGNAL 0 interrupts a handler stuck in a loop ----------------------
write_config "$W/sig.config" sigprobe
timeout 10 ./skynet "$W/sig.config" > "$W/sig.out" 2>&1
expect "signal: SIGNAL 0 breaks a busy loop and the service answers again" grep -q 'sigprobe recovered' "$W/sig.out"
expect "signal: the interrupted handler's error is logged" grep -q 'signal 0' "$W/sig.out"

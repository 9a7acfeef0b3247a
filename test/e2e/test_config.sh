#!/usr/bin/env bash
# The config file: good files (include, $VAR, defaults written back) and a
# matrix of bad ones, each of which must give one clear stderr line, a
# non-zero exit status and no hang.
source "$(dirname "$0")/lib.sh"
W=$E2E_WORK

# run_bad NAME CONFIG PATTERN: skynet must exit non-zero within 10 s and say PATTERN on stderr
run_bad() {
	local name=$1 conf=$2 pattern=$3
	timeout 10 ./skynet "$conf" > "$W/out" 2> "$W/err"
	local rc=$?
	if [ $rc -eq 124 ]; then
		fail "$name" "skynet hung"
	elif [ $rc -eq 0 ]; then
		fail "$name" "exit status 0"
	elif ! grep -q -- "$pattern" "$W/err"; then
		fail "$name" "stderr lacks '$pattern': $(head -c 300 "$W/err")"
	else
		pass "$name"
	fi
}

./skynet > /dev/null 2> "$W/err"
rc=$?
expect "config: no argument prints usage and exits 1" bash -c "[ $rc -eq 1 ] && grep -q 'usage: skynet configfilename' '$W/err'"

run_bad "config: missing file is named" "$W/nonexistent.config" "nonexistent.config"

echo 'thread = = 2' > "$W/syntax.config"
run_bad "config: syntax error reports file and line" "$W/syntax.config" "syntax.config:1:"

echo 'thread = $SKYNET_TEST_UNSET_VAR' > "$W/unset.config"
run_bad "config: unset \$VAR is fatal" "$W/unset.config" "os.getenv() failed: SKYNET_TEST_UNSET_VAR"

write_config "$W/thread0.config" cfgprobe 'thread = 0'
run_bad "config: thread = 0 is rejected" "$W/thread0.config" "Invalid thread 0 , should be in \[1,1024\]"

write_config "$W/threadx.config" cfgprobe 'thread = "many"'
run_bad "config: non-numeric thread is rejected" "$W/threadx.config" "thread = many"

write_config "$W/table.config" cfgprobe 'servers = { "a" }'
run_bad "config: table value is rejected" "$W/table.config" "Invalid config table key = servers"

write_config "$W/cpath.config" cfgprobe 'cpath = "./cservice/"'
run_bad "config: cpath without ? is rejected" "$W/cpath.config" "Invalid C service path"

write_config "$W/logger.config" cfgprobe "logger = \"$W/no/such/dir/log\""
run_bad "config: unwritable logger file" "$W/logger.config" "Can't launch logger service"

write_config "$W/boot.config" cfgprobe 'bootstrap = "nosuchmodule x"'
run_bad "config: missing bootstrap module names the paths tried" "$W/boot.config" "try open nosuchmodule failed : .*cservice/nosuchmodule.so"

# A lua_path that misses lualib: the bootstrap service cannot load the
# scheduler.  The node used to idle forever with only the logger alive.
write_config "$W/lpath.config" cfgprobe "lua_path = \"$W/nowhere/?.lua\""
timeout 10 ./skynet "$W/lpath.config" > "$W/out" 2>&1
rc=$?
if [ $rc -eq 124 ]; then
	fail "config: bootstrap that fails to load stops the node" "skynet hung"
elif [ $rc -eq 0 ]; then
	fail "config: bootstrap that fails to load stops the node" "exit status 0"
elif ! grep -q "bootstrap service failed to start" "$W/out" || ! grep -q "module 'skynet.require' not found" "$W/out"; then
	fail "config: bootstrap that fails to load stops the node" "output lacks the reason: $(head -c 300 "$W/out")"
else
	pass "config: bootstrap that fails to load stops the node"
fi

write_config "$W/start.config" no_such_start_service
run_bad "config: missing start service names the paths searched" "$W/start.config" "test/e2e/lua/no_such_start_service.lua"

# A good config: include relative to the including file, $VAR, value types,
# defaults visible through getenv.
mkdir -p "$W/sub"
write_config "$W/sub/base.inc" cfgprobe
cat > "$W/sub/main.config" <<'CONF'
include "base.inc"
greeting = "hello $SKYNET_TEST_GREETING"
answer = 42
ratio = 0.5
enabled = true
root = "./"
CONF
SKYNET_TEST_GREETING=world timeout 10 ./skynet "$W/sub/main.config" > "$W/good.out" 2>&1
rc=$?
expect "config: good config boots and exits 0" test $rc -eq 0
expect "config: include resolves relative to the including file" grep -q 'cfgprobe start=cfgprobe' "$W/good.out"
expect "config: \$VAR substituted inside strings" grep -q 'greeting=hello world' "$W/good.out"
expect "config: numbers and booleans become strings" grep -q 'answer=42 ratio=0.5 enabled=true' "$W/good.out"
expect "config: defaults written back (thread, harbor, profile, logservice)" grep -q 'thread=2 harbor=0 profile=true logservice=logger' "$W/good.out"
expect "config: missing keys read as nil" grep -q 'daemon=nil' "$W/good.out"

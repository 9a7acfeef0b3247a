#!/usr/bin/env bash
# The one test runner.  Runs, in order:
#   1. C unit tests       build/unit/test_*            (PASS/FAIL lines on stdout)
#   2. Lua test services  test/lua/test_*.lua          (each the start service of its own node)
#   3. end-to-end tests   test/e2e/test_*.sh           (start real nodes and clients)
# Every check prints one `PASS <name>` or `FAIL <name>: <why>` line; the run
# ends with `N passed, N failed` and fails if anything failed.  A test file
# that printed neither line made no check: that is a failure too.
# TEST_FILTER=<substring> runs only the matching files.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK=$(mktemp -d /tmp/skynet-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
FILTER=${TEST_FILTER:-}
LUA_TIMEOUT=${LUA_TEST_TIMEOUT:-60}

passed=0
failed=0
failures=()

# count_output NAME FILE: tally the PASS/FAIL lines of one test program;
# one that has none made no check, and fails (saying why, if it printed a
# SKIP line).
count_output() {
	local name=$1 file=$2 p f why
	p=$(grep -c -E '(^|\] )PASS ' "$file")
	f=$(grep -c -E '(^|\] )FAIL ' "$file")
	passed=$((passed + p))
	failed=$((failed + f))
	while IFS= read -r line; do failures+=("$name: $line"); done < <(grep -E '(^|\] )FAIL ' "$file")
	if [ $((p + f)) -eq 0 ]; then
		why=$(grep -m1 -E '(^|\] )SKIP ' "$file")
		fail_one "$name made no check (no PASS or FAIL line)${why:+: $why}"
	fi
}

fail_one() {
	failed=$((failed + 1))
	failures+=("$1")
	echo "FAIL $1"
}

selected() { [ -z "$FILTER" ] || [[ "$1" == *"$FILTER"* ]]; }

echo "== C unit tests"
for bin in build/unit/test_*; do
	[ -x "$bin" ] || continue
	selected "$bin" || continue
	out="$WORK/$(basename "$bin").out"
	timeout 120 "$bin" > "$out" 2>&1
	rc=$?
	count_output "$bin" "$out"
	grep -E '^FAIL ' "$out"
	if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$out"; then
		fail_one "$bin exited with status $rc"
		tail -5 "$out"
	fi
	echo "   $bin: $(grep -c '^PASS ' "$out") passed"
done

echo "== Lua test services"
for file in test/lua/test_*.lua; do
	[ -f "$file" ] || continue
	selected "$file" || continue
	name=$(basename "$file" .lua)
	conf="$WORK/$name.config"
	cat > "$conf" <<CONF
thread = 2
harbor = 0
start = "$name"
bootstrap = "snlua bootstrap"
cpath = "./cservice/?.so"
luaservice = "./service/?.lua;./test/lua/?.lua;./examples/?.lua"
lualoader = "./lualib/loader.lua"
lua_path = "./lualib/?.lua;./lualib/?/init.lua;./test/lua/?.lua"
lua_cpath = "./luaclib/?.so"
CONF
	out="$WORK/$name.out"
	timeout -k 5 "$LUA_TIMEOUT" ./skynet "$conf" > "$out" 2>&1
	rc=$?
	count_output "$name" "$out"
	grep -E '\] FAIL ' "$out"
	if ! grep -q '\] DONE' "$out"; then
		fail_one "$name did not finish (exit status $rc); last lines:"
		tail -15 "$out"
	fi
	echo "   $name: $(grep -c '\] PASS ' "$out") passed"
done

echo "== end-to-end tests"
for script in test/e2e/test_*.sh; do
	[ -f "$script" ] || continue
	selected "$script" || continue
	out="$WORK/$(basename "$script").out"
	timeout -k 5 300 bash "$script" > "$out" 2>&1
	rc=$?
	count_output "$script" "$out"
	grep -E '^FAIL ' "$out"
	if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$out"; then
		fail_one "$script exited with status $rc"
		tail -10 "$out"
	fi
	echo "   $script: $(grep -c '^PASS ' "$out") passed"
done

if [ ${#failures[@]} -gt 0 ]; then
	echo "== failures"
	printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]

#!/usr/bin/env bash
# fuzz/run.sh -- build and run every libFuzzer target fuzz/fuzz_<name>.c.
#
#   fuzz/run.sh [SECONDS] [NAME...]    (default 60 s per target, all targets)
#
# Each target names the sources it links in a comment line near its top:
#   // fuzz-sources: lualib-src/lua-seri.c skynet-src/foo.c
# It is built with clang -fsanitize=fuzzer,address,undefined into
# fuzz/bin/<name>, then run for SECONDS on the corpus fuzz/corpus-<name>/
# (git-ignored), seeded from fuzz/seeds/<name>/ when that exists.
# Prints one line per target:  fuzz <name> runs <N> crashes <0|1>
# and exits non-zero if any target failed to build or crashed.  Crash
# inputs are kept in fuzz/bin/ (artifact_prefix) with the full log beside.
set -u
cd "$(dirname "$0")/.." || exit 2

SECONDS_PER_TARGET=${1:-60}
shift || true
CC=${FUZZ_CC:-clang}
LUA_INC=${LUA_INC:-/usr/include/lua5.4}
if [ -z "${LUA_LIB:-}" ]; then
	for f in /usr/lib/*/liblua5.4.a /usr/lib/liblua5.4.a; do
		[ -e "$f" ] && LUA_LIB=$f && break
	done
fi
CFLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -I$LUA_INC -Iskynet-src -Ilualib-src"

if [ -z "${LUA_LIB:-}" ]; then
	echo "fuzz: static Lua (liblua5.4.a) not found" >&2
	exit 2
fi

targets=()
if [ $# -gt 0 ]; then
	for n in "$@"; do targets+=("fuzz/fuzz_$n.c"); done
else
	for f in fuzz/fuzz_*.c; do [ -e "$f" ] && targets+=("$f"); done
fi
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no targets" >&2
	exit 2
fi

mkdir -p fuzz/bin
failed=0
for src in "${targets[@]}"; do
	name=$(basename "$src" .c)
	name=${name#fuzz_}
	bin=fuzz/bin/$name
	log=fuzz/bin/$name.log
	extra=$(sed -n 's|^// fuzz-sources:||p' "$src" | head -n1)
	# shellcheck disable=SC2086  # $CFLAGS and $extra are word lists
	if ! $CC $CFLAGS -o "$bin" "$src" $extra \
		-Wl,--whole-archive "$LUA_LIB" -Wl,--no-whole-archive -lm -ldl -lpthread \
		>"$log" 2>&1; then
		echo "fuzz $name build failed (see $log)" >&2
		cat "$log" >&2
		echo "fuzz $name runs 0 crashes 1"
		failed=1
		continue
	fi
	corpus=fuzz/corpus-$name
	mkdir -p "$corpus"
	if [ -d "fuzz/seeds/$name" ]; then
		cp -n fuzz/seeds/"$name"/* "$corpus"/ 2>/dev/null || true
	fi
	"$bin" -max_total_time="$SECONDS_PER_TARGET" -max_len=4096 -timeout=25 \
		-print_final_stats=1 -artifact_prefix="fuzz/bin/$name-" "$corpus" >"$log" 2>&1
	rc=$?
	# libFuzzer ends with "Done N runs in S second(s)"; if it died early,
	# fall back to the last "#N ..." status line.
	runs=$(sed -n 's/^Done \([0-9][0-9]*\) runs.*/\1/p' "$log" | tail -n1)
	if [ -z "$runs" ]; then
		runs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$log" | tail -n1)
	fi
	crashed=0
	if [ $rc -ne 0 ] || grep -q '^==[0-9]*==ERROR\|^SUMMARY: \|deadly signal' "$log"; then
		crashed=1
		failed=1
		echo "--- fuzz $name failed (exit $rc), log $log:" >&2
		grep -m1 -A30 'ERROR\|deadly signal\|failed:' "$log" >&2
	fi
	echo "fuzz $name runs ${runs:-0} crashes $crashed"
done
exit $failed

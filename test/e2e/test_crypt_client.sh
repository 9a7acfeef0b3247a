#!/usr/bin/env bash
# test_crypt_client.sh -- client.crypt and md5 in Debian's stand-alone
# lua5.4 (what examples/login/client.lua runs on): the module loads from
# luaclib/client.so and gives the spec's vectors (checks in
# test/e2e/lua/crypt_standalone.lua).
source "$(dirname "$0")/lib.sh"

if ! command -v lua5.4 >/dev/null; then
	fail "lua5.4 interpreter" "lua5.4 not installed"
	exit 0
fi
out="$E2E_WORK/standalone.out"
timeout 30 lua5.4 test/e2e/lua/crypt_standalone.lua "$ROOT" > "$out" 2>&1
rc=$?
cat "$out"
[ $rc -eq 0 ] || fail "lua5.4 crypt_standalone.lua exits cleanly" "exit status $rc"
grep -q '^PASS ' "$out" || fail "standalone checks ran" "no PASS line"

#!/usr/bin/env bash
# The config key call_timeout: every skynet.call and rawcall of the node
# gets that deadline (test/e2e/lua/timeout_config.lua makes the checks).
source "$(dirname "$0")/lib.sh"
W=$E2E_WORK

write_config "$W/timeout.config" timeout_config \
	"luaservice = \"$ROOT/service/?.lua;$ROOT/test/e2e/lua/?.lua;$ROOT/test/lua/?.lua\"" \
	"lua_path = \"$ROOT/lualib/?.lua;$ROOT/lualib/?/init.lua;$ROOT/test/lua/?.lua\"" \
	"call_timeout = 20"
timeout -k 5 60 ./skynet "$W/timeout.config" > "$W/out" 2>&1
grep -E '\] (PASS|FAIL) ' "$W/out" | sed 's/^\[[^]]*\] //'
grep -q '\] DONE' "$W/out" || fail "config call_timeout: node finished" "$(tail -5 "$W/out")"

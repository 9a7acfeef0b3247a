#!/usr/bin/env bash
# sproto outside a node: Debian's stand-alone lua5.4 loads sproto.core from
# luaclib/sproto.so (package.cpath = "luaclib/?.so", as upstream's
# examples/client.lua sets it) and runs every check of
# test/lua/sproto_cases.lua; dumpproto's listing; and the library's
# independence from the skynet core and the sanitizer runtime.
source "$(dirname "$0")/lib.sh"

LUA=$(command -v lua5.4 || command -v lua)
if [ -z "$LUA" ]; then
	fail "sproto: lua interpreter" "neither lua5.4 nor lua in PATH (Debian package lua5.4)"
	exit 0
fi

# 1. the shared checks, in the plain interpreter
"$LUA" test/e2e/lua/sproto_standalone.lua > "$E2E_WORK/cases.out" 2>&1
rc=$?
cat "$E2E_WORK/cases.out"
n=$(grep -c '^PASS ' "$E2E_WORK/cases.out")
if [ $rc -eq 0 ] && [ "$n" -gt 300 ]; then
	pass "sproto: $n checks pass in the stand-alone $($LUA -v 2>&1 | cut -d' ' -f1-2)"
else
	fail "sproto: stand-alone checks" "exit $rc, $n passed; last lines: $(tail -3 "$E2E_WORK/cases.out" | tr '\n' '|')"
fi

# 2. dumpproto prints upstream's listing (spec §2.5)
cat > "$E2E_WORK/dump.lua" <<'LUA'
package.cpath = "luaclib/?.so"
package.path = "lualib/?.lua"
local core = require "sproto.core"
local parser = require "sprotoparser"
core.dumpproto(core.newproto(parser.parse [[
.package { type 0 : integer  session 1 : integer }
handshake 1 { response { msg 0 : string } }
get 2 { request { what 0 : string } response { result 0 : string } }
set 3 { request { what 0 : string  value 1 : string } }
quit 4 {}
]]))
core.dumpproto(core.newproto(parser.parse [[
.Person { .PhoneNumber { number 0 : string  type 1 : integer }
          name 0 : string  id 1 : integer  phone 2 : *PhoneNumber
          height 4 : integer(2)  data 5 : binary  weight 6 : double }
.AddressBook { person 0 : *Person(id)  others 1 : *Person.PhoneNumber() }
.A {}
foo 1 { request A response nil }
]]))
LUA
cat > "$E2E_WORK/dump.want" <<'TXT'
=== 5 types ===
get.request
	what (0) string
get.response
	result (0) string
handshake.response
	msg (0) string
package
	type (0) integer
	session (1) integer
set.request
	what (0) string
	value (1) string
=== 4 protocol ===
	handshake (1) request:(null) response:handshake.response
	get (2) request:get.request response:get.response
	set (3) request:set.request
	quit (4) request:(null)
=== 4 types ===
A
AddressBook
	person (0) *Person key[1]
	others (1) *Person.PhoneNumber key[0] value[1]
Person
	name (0) string
	id (1) integer
	phone (2) *Person.PhoneNumber
	height (4) decimal(100)
	data (5) binary
	weight (6) double
Person.PhoneNumber
	number (0) string
	type (1) integer
=== 1 protocol ===
	foo (1) request:A response nil
TXT
"$LUA" "$E2E_WORK/dump.lua" > "$E2E_WORK/dump.got" 2>&1
if diff -u "$E2E_WORK/dump.want" "$E2E_WORK/dump.got" > "$E2E_WORK/dump.diff"; then
	pass "sproto: dumpproto prints upstream's listing"
else
	fail "sproto: dumpproto listing" "$(head -20 "$E2E_WORK/dump.diff" | tr '\n' '|')"
fi

# 3. sproto.so stands alone: it needs the Lua API (from whoever loads it),
# libc and libm, nothing of the skynet core and no sanitizer runtime.
so=luaclib/sproto.so
undef=$(nm -D --undefined-only "$so" | awk '{print $NF}' | grep -v -E '^(lua_|luaL_|_ITM_|__gmon_start__|__cxa_finalize)' | grep -v '@GLIBC' | tr '\n' ' ')
if [ -z "$undef" ]; then
	pass "sproto: $so needs only the Lua API and libc"
else
	fail "sproto: $so stands alone" "undefined symbols: $undef"
fi
if ldd "$so" 2>/dev/null | grep -q -E 'asan|ubsan|tsan'; then
	fail "sproto: $so without sanitizer runtime" "$(ldd "$so" | grep -E 'asan|ubsan|tsan' | tr '\n' ' ')"
else
	pass "sproto: $so does not link a sanitizer runtime"
fi
if nm -D --defined-only "$so" | grep -q ' T luaopen_sproto_core$'; then
	pass "sproto: $so exports luaopen_sproto_core"
else
	fail "sproto: $so exports luaopen_sproto_core" "$(nm -D --defined-only "$so" | grep ' T ' | tr '\n' ' ')"
fi

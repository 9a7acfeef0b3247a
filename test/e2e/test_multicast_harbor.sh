#!/usr/bin/env bash
# skynet.multicast across two harbor nodes (upstream's testmulticast2): node
# 1 owns a channel and has 10 subscribers; node 2 subscribes 10 more,
# publishes through the owner, receives the owner's messages, checks the
# errors of a missing remote channel and of a harbor without multicastd,
# and deletes the channel from afar.  Lua: test/e2e/lua/mc_node.lua and the
# subscriber test/lua/svc_mc_sub.lua.
source "$(dirname "$0")/lib.sh"
W=$E2E_WORK

read -r PM PA PB < <(free_ports 3)

relay() { sed -n 's/^\[:[0-9a-f]*\] \(PASS .*\|FAIL .*\)$/\1/p' "$1"; }

# node_config FILE HARBOR ROLE ADDRESS_PORT [extra lines...]
node_config() {
	local file=$1 id=$2 role=$3 aport=$4
	shift 4
	write_config "$file" mc_node "mc_role = \"$role\"" "master = \"127.0.0.1:$PM\"" \
		"address = \"127.0.0.1:$aport\"" \
		"luaservice = \"$ROOT/service/?.lua;$ROOT/test/e2e/lua/?.lua;$ROOT/test/lua/?.lua\"" "$@"
	sed -i "s/^harbor = 0$/harbor = $id/" "$file"
}

node_config "$W/a.config" 1 owner "$PA" "standalone = \"127.0.0.1:$PM\""
node_config "$W/b.config" 2 remote "$PB"
./skynet "$W/a.config" > "$W/a.log" 2>&1 &
a=$!
E2E_PIDS+=("$a")
if ! wait_for "$W/a.log" "READY" 20; then
	fail "multicast harbor: node 1 starts" "$(tail -5 "$W/a.log" | tr '\n' '|')"
	exit 0
fi
./skynet "$W/b.config" > "$W/b.log" 2>&1 &
b=$!
E2E_PIDS+=("$b")
wait_for "$W/b.log" "DONE" 60 || fail "multicast harbor: node 2 finishes" "$(tail -5 "$W/b.log" | tr '\n' '|')"
wait_for "$W/a.log" "DONE" 30 || fail "multicast harbor: node 1 finishes" "$(tail -5 "$W/a.log" | tr '\n' '|')"
relay "$W/a.log"
relay "$W/b.log"
expect "multicast harbor: no Lua error on node 1" sh -c "! grep -q 'error' '$W/a.log'"
kill "$a" "$b" 2>/dev/null

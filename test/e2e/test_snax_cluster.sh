#!/usr/bin/env bash
# test_snax_cluster.sh -- cluster.snax between two real nodes: node b runs
# the snax service test/e2e/lua/snax_remote.lua (unique, and one
# registered as @named), node a reaches it with cluster.snax and checks
# req/post/errors (test/e2e/lua/snax_cluster_client.lua).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster_lib.sh"

read -r P_A P_B <<< "$(free_ports 2)"
write_map "$W/map" a=127.0.0.1:$P_A b=127.0.0.1:$P_B
SNAX="snax = \"$ROOT/test/e2e/lua/?.lua\""
write_config "$W/b.config" snax_cluster_server "cluster = \"$W/map\"" "$SNAX"
./skynet "$W/b.config" > "$W/b.log" 2>&1 &
E2E_PIDS+=("$!")
if ! wait_for "$W/b.log" "READY b" 15; then
	fail "snax cluster: node b starts" "$(tail -5 "$W/b.log" | tr '\n' '|')"
	exit 0
fi
write_config "$W/a.config" snax_cluster_client "cluster = \"$W/map\"" "$SNAX"
timeout 30 ./skynet "$W/a.config" > "$W/a.log" 2>&1
sed -n 's/^\[:[0-9a-f]*\] \(\(PASS\|FAIL\) .*\)$/\1/p' "$W/a.log"
grep -q '\] DONE$' "$W/a.log" || fail "snax cluster: client finished" "$(tail -5 "$W/a.log" | tr '\n' '|')"
expect "snax cluster: the remote init ran once per service (2)" test "$(grep -c 'snax_remote init' "$W/b.log")" -eq 2
if grep -q 'LAUNCH snlua clusterproxy b' "$W/a.log"; then pass "snax cluster: a clusterproxy stands in locally"
else fail "snax cluster: a clusterproxy stands in locally" "no LAUNCH line"; fi

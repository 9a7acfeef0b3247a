#!/usr/bin/env bash
# The harbor links on the metrics endpoint, between two real harbor nodes
# (test/e2e/lua/metrics_harbor_node.lua), each serving /metrics: node 2
# makes 200 calls of 1,000 bytes to a service on node 1 and leaves one in
# flight; then
#   - both nodes export the link: up, bytes and messages each way (what
#     one side sent is what the other received, to the byte), node 2 the
#     requests waiting (1) and the round trip of the 200 answered ones;
#   - promtool check metrics accepts the output; Prometheus' types;
#   - node 2's console page shows the link in its peers table;
#   - node 1 killed: node 2 says the link is down and nothing waits.
source "$(dirname "$0")/lib.sh"
W=$E2E_WORK
read -r PM P1 P2 M1 M2 < <(free_ports 5)
has() {
	if grep -Eq -- "$3" "$2"; then pass "$1"; else fail "$1" "no line matching /$3/ in: $(grep harbor "$2" | head -c 800 | tr '\n' '|')"; fi
}
# val FILE SERIES: the value of one sample line (exact series text)
val() { awk -v s="$2" '$1 == s { print $2 }' "$1"; }
# ge A B: A >= B (decimals)
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 >= b + 0) }'; }
scrape() { python3 test/e2e/metrics_client.py "$1" get /metrics | sed 1d; }

# node_config FILE HARBOR ROLE ADDRESS_PORT METRICS_PORT [extra lines...]
node_config() {
	local file=$1 id=$2 role=$3 aport=$4 mport=$5
	shift 5
	write_config "$file" metrics_harbor_node "metrics_harbor_role = \"$role\"" "master = \"127.0.0.1:$PM\"" \
		"address = \"127.0.0.1:$aport\"" "metrics = \"127.0.0.1:$mport\"" "$@"
	sed -i "s/^harbor = 0$/harbor = $id/" "$file"
}
node_config "$W/n1.config" 1 one "$P1" "$M1" "standalone = \"127.0.0.1:$PM\""
node_config "$W/n2.config" 2 two "$P2" "$M2"
./skynet "$W/n1.config" > "$W/n1.log" 2>&1 &
n1=$!
E2E_PIDS+=("$n1")
if ! wait_for "$W/n1.log" "READY" 20; then
	fail "metrics harbor: node 1 starts" "$(tail -5 "$W/n1.log" | tr '\n' '|')"
	exit 0
fi
./skynet "$W/n2.config" > "$W/n2.log" 2>&1 &
n2=$!
E2E_PIDS+=("$n2")
if ! wait_for "$W/n2.log" "CALLS DONE" 60; then
	fail "metrics harbor: node 2 makes its calls" "$(tail -5 "$W/n2.log" | tr '\n' '|')"
	exit 0
fi
expect "metrics harbor: the 200 calls were answered" grep -q "CALLS DONE 200$" "$W/n2.log"
sleep 0.3
scrape "$M1" > "$W/m1.prom"
scrape "$M2" > "$W/m2.prom"

L1='{harbor="2"}' L2='{harbor="1"}'
expect "metrics harbor: node 2 says its link to harbor 1 is up" test "$(val "$W/m2.prom" "skynet_harbor_link_up$L2")" = 1
expect "metrics harbor: node 1 says its link to harbor 2 is up" test "$(val "$W/m1.prom" "skynet_harbor_link_up$L1")" = 1
s2=$(val "$W/m2.prom" "skynet_harbor_sent_bytes_total$L2")
r2=$(val "$W/m2.prom" "skynet_harbor_received_bytes_total$L2")
s1=$(val "$W/m1.prom" "skynet_harbor_sent_bytes_total$L1")
r1=$(val "$W/m1.prom" "skynet_harbor_received_bytes_total$L1")
expect "metrics harbor: node 2 sent the 200 x 1,000 bytes ($s2 bytes)" ge "$s2" 200000
expect "metrics harbor: ... and received the answers ($r2 bytes)" ge "$r2" 200000
expect "metrics harbor: what node 2 sent is what node 1 received ($s2 = $r1)" test -n "$s2" -a "$s2" = "$r1"
expect "metrics harbor: what node 1 sent is what node 2 received ($s1 = $r2)" test -n "$s1" -a "$s1" = "$r2"
ms2=$(val "$W/m2.prom" "skynet_harbor_sent_messages_total$L2")
mr1=$(val "$W/m1.prom" "skynet_harbor_received_messages_total$L1")
mr2=$(val "$W/m2.prom" "skynet_harbor_received_messages_total$L2")
ms1=$(val "$W/m1.prom" "skynet_harbor_sent_messages_total$L1")
# (the framework may add a request of its own: counts are compared, not fixed)
expect "metrics harbor: messages: node 2 sent its 201 requests at least, node 1 got them all ($ms2, $mr1)" \
	test -n "$ms2" -a "$ms2" = "$mr1" -a "${ms2:-0}" -ge 201
expect "metrics harbor: messages: node 1 answered all but the one in flight, node 2 got them ($ms1, $mr2)" \
	test -n "$ms1" -a "$ms1" = "$mr2" -a "${ms1:-0}" = "$((${ms2:-0} - 1))"
expect "metrics harbor: node 2 has one request waiting on harbor 1" test "$(val "$W/m2.prom" "skynet_harbor_calls_waiting$L2")" = 1
expect "metrics harbor: node 1 waits on nothing" test "$(val "$W/m1.prom" "skynet_harbor_calls_waiting$L1")" = 0
cnt=$(val "$W/m2.prom" "skynet_harbor_call_duration_seconds_count$L2")
sum=$(val "$W/m2.prom" "skynet_harbor_call_duration_seconds_sum$L2")
expect "metrics harbor: node 2 timed every answered call ($cnt = $ms1)" test -n "$cnt" -a "$cnt" = "$ms1"
expect "metrics harbor: ... their round trips add up to something, under 200 x 5 s ($sum s)" \
	awk -v s="$sum" 'BEGIN { exit !(s != "" && s > 0 && s < 1000) }'
expect "metrics harbor: node 1 made no calls" test "$(val "$W/m1.prom" "skynet_harbor_call_duration_seconds_count$L1")" = 0
for f in "skynet_harbor_sent_bytes_total counter" "skynet_harbor_received_bytes_total counter" \
	"skynet_harbor_sent_messages_total counter" "skynet_harbor_received_messages_total counter" \
	"skynet_harbor_calls_waiting gauge" "skynet_harbor_call_duration_seconds summary" "skynet_harbor_link_up gauge"; do
	has "metrics harbor: # TYPE $f" "$W/m2.prom" "^# TYPE $f$"
done
if command -v promtool > /dev/null; then
	promtool check metrics < "$W/m2.prom" > "$W/promtool.out" 2>&1
	rc=$?
	expect "metrics harbor: promtool check metrics finds nothing ($(head -c 300 "$W/promtool.out" | tr '\n' '|'))" \
		test $rc -eq 0 -a ! -s "$W/promtool.out"
else
	echo "SKIP metrics harbor: promtool check metrics: promtool not installed (Debian package prometheus)"
fi

CHROME=$(command -v chromium || command -v chromium-browser)
if [ -n "$CHROME" ]; then
	timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync --disable-dev-shm-usage \
		--user-data-dir="$W/chrome" --virtual-time-budget=4000 --dump-dom "http://127.0.0.1:$M2/" \
		> "$W/dom.html" 2>> "$W/chrome.log"
	has "chromium: node 2's peers table shows the harbor link: up, 1 waiting, the calls, a round trip, bytes and messages" \
		"$W/dom.html" "<tr><td>harbor 1</td><td class=\"up\">up</td><td class=\"num\">1</td><td class=\"num\">$cnt</td><td class=\"num\">[0-9.]+ ms</td><td class=\"num\">[0-9.]+ KiB / [0-9.]+ KiB</td><td class=\"num\">$mr2 / $ms2</td></tr>"
else
	echo "SKIP chromium: not installed (Debian package chromium); the harbor row of the page was not checked"
fi

kill -9 "$n1"
wait_for "$W/n2.log" "INFLIGHT" 10
has "metrics harbor: the call in flight fails when node 1 dies" "$W/n2.log" "INFLIGHT false .*harbor 1 is down"
scrape "$M2" > "$W/m2b.prom"
expect "metrics harbor: node 2 says the link is down" test "$(val "$W/m2b.prom" "skynet_harbor_link_up$L2")" = 0
expect "metrics harbor: ... and nothing waits on it" test "$(val "$W/m2b.prom" "skynet_harbor_calls_waiting$L2")" = 0
expect "metrics harbor: ... its byte counters stay (counters do not go back) ($s2)" \
	test "$(val "$W/m2b.prom" "skynet_harbor_sent_bytes_total$L2")" = "$s2"
kill "$n2" 2> /dev/null

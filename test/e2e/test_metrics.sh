#!/usr/bin/env bash
# The metrics endpoint (config `metrics`) of a node with something to
# watch (test/e2e/lua/metrics_main.lua: 30 idle services, a busy one, a
# memory hog, a cluster peer called every 50 ms, an application series):
#   - /metrics by our own reading of the format and, if installed, by
#     `promtool check metrics`;
#   - a real Prometheus (Debian `prometheus`) scraping the node every
#     second, queried through its HTTP API: series, types, a counter that
#     grows while traffic flows;
#   - /metrics.json, /service.json, errors;
#   - the longest-mailbox ranking: a service held in a loop with 1,000
#     messages behind it comes first, by name, in the JSON, in /metrics
#     and on the page; a service's task count (4 sleeping coroutines) in
#     /service.json and in the page's stat line;
#   - the console page in headless chromium: the rendered DOM shows the
#     node's real service names and numbers; a screenshot is kept
#     (build/test-artifacts/metrics_console.png);
#   - hostile clients: one byte a second, a 1 GB header, 1,000
#     connections; meanwhile scrapes stay fast and memory stays bounded;
#   - no `metrics` key: no endpoint.
# A missing package makes its checks print SKIP (never PASS).
source "$(dirname "$0")/lib.sh"
W=$E2E_WORK

read -r MPORT CPORT PPORT < <(free_ports 3)
cli() { python3 test/e2e/metrics_client.py "$MPORT" "$@"; }
has() {
	if grep -Eq -- "$3" "$2"; then pass "$1"; else fail "$1" "no line matching /$3/ in: $(head -c 600 "$2" | tr '\n' '|')"; fi
}
lacks() {
	if grep -Eq -- "$3" "$2"; then fail "$1" "unexpected /$3/: $(grep -E -m1 -- "$3" "$2")"; else pass "$1"; fi
}
# value KEY FILE: the value of a `key value` line
value() { sed -n "s/^$1 //p" "$2" | head -1; }
# le A B: A <= B (decimals)
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 <= b + 0) }'; }
# gt A B: A > B > 0 (decimals)
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && b != "" && a + 0 > b + 0 && b + 0 > 0) }'; }

CHROME=$(command -v chromium || command -v chromium-browser)
chrome() {
	local dir=$1
	shift
	timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync --disable-dev-shm-usage \
		--user-data-dir="$dir" "$@" 2>> "$W/chrome.log"
}

LOG=$W/node.log
write_config "$W/config" metrics_main "metrics = \"127.0.0.1:$MPORT\"" "metrics_top = 5" \
	"metrics_cluster_port = \"$CPORT\"" "metrics_jam_fifo = \"$W/jam\"" "thread = 4"
mkfifo "$W/jam1" "$W/jam2"
./skynet "$W/config" > "$LOG" 2>&1 &
NODE=$!
E2E_PIDS+=("$NODE")
if ! wait_for "$LOG" "metrics_main: ready" 30; then
	fail "metrics: node starts" "$(tail -5 "$LOG" | tr '\n' '|')"
	exit 0
fi
has "metrics: the service logs where it serves" "$LOG" "metrics: serving http://127\.0\.0\.1:$MPORT/metrics \(top 5 services\)"
has "metrics: skynet.metrics refuses a bad series name" "$LOG" "bad name refused: true"
sleep 1.5 # a few cluster calls, a history sample

# ------------------------------------------------------------ the jammed mailbox, tasks
# Two `jam` services hold two of the 4 workers (blocked opening $W/jam1
# and $W/jam2) with 1,000 and 300 messages queued behind them; nothing
# else here queues more than a few.
WAITER=$(sed -n 's/.*metrics_main: waiter \(:[0-9a-f]*\) jam .*/\1/p' "$LOG")
JAM=$(sed -n 's/.*metrics_main: waiter :[0-9a-f]* jam \(:[0-9a-f]*\) .*/\1/p' "$LOG")
JAM2=$(sed -n 's/.*metrics_main: waiter :[0-9a-f]* jam :[0-9a-f]* \(:[0-9a-f]*\).*/\1/p' "$LOG")
cli get /metrics.json | sed 1d > "$W/jam.json"
python3 - "$W/jam.json" > "$W/jam.out" 2>&1 << 'EOF'
import json, sys
top = json.load(open(sys.argv[1]))["top"]["mailbox"]
print("first", top[0]["address"], top[0]["name"], top[0]["mailbox"])
print("second", top[1]["address"], top[1]["mailbox"])
print("third", top[2]["mailbox"] if len(top) > 2 else 0)
EOF
has "metrics: /metrics.json ranks the longest mailbox first, with its name and 1,000 messages" "$W/jam.out" \
	"^first $JAM snlua metrics_worker jam $W/jam1 1000$"
has "metrics: ... the one with 300 second" "$W/jam.out" "^second $JAM2 300$"
has "metrics: ... and the next is far shorter" "$W/jam.out" "^third [0-9]{1,2}$"
cli get /metrics | sed 1d > "$W/jam.prom"
has "metrics: /metrics has the jammed service's mailbox" "$W/jam.prom" \
	"^skynet_service_mailbox_messages\{address=\"$JAM\",name=\"snlua metrics_worker jam $W/jam1\"\} 1000$"
cli get "/service.json?address=$WAITER" > "$W/waiter.txt"
has "metrics: /service.json gives a service's task count (4 coroutines asleep)" "$W/waiter.txt" \
	"\"address\":\"$WAITER\",\"name\":\"snlua metrics_worker waiter\",\"mailbox\":0,\"tasks\":4,"
if [ -n "$CHROME" ]; then
	chrome "$W/chrome0" --virtual-time-budget=4000 --dump-dom "http://127.0.0.1:$MPORT/#$WAITER" > "$W/dom0.html"
	has "chromium: the longest-mailbox table starts with the jammed service" "$W/dom0.html" \
		"<table id=\"top-mailbox\">.*<tbody><tr data-address=\"$JAM\"><td class=\"name\">snlua metrics_worker jam $W/jam1</td><td>$JAM</td><td class=\"num\">1,000</td><td class=\"num\">[0-9]+</td><td class=\"num\">[0-9,]+</td></tr><tr data-address=\"$JAM2\"><td class=\"name\">snlua metrics_worker jam $W/jam2</td><td>$JAM2</td><td class=\"num\">300</td>"
	has "chromium: the page shows the selected service's stat and mem (#$WAITER: task 4)" "$W/dom0.html" \
		"stat     cpu:[0-9.]+  message:[0-9]+  mqlen:0  task:4"
	has "chromium: ... and its mem line" "$W/dom0.html" "^mem      [0-9.]+ Kb</pre>"
else
	echo "SKIP chromium: not installed (Debian package chromium); the mailbox ranking was not checked on the page"
fi
for f in "$W/jam1" "$W/jam2"; do timeout 10 sh -c "echo go > $f"; done

# ------------------------------------------------------------ /metrics
cli get /metrics > "$W/m1.txt"
expect "metrics: GET /metrics answers 200" test "$(head -1 "$W/m1.txt")" = 200
sed 1d "$W/m1.txt" > "$W/m1.prom"
cli lint "$W/m1.prom" > "$W/lint.out"
lacks "metrics: every family has HELP and TYPE, counters end in _total, base units, no split family" "$W/lint.out" "^problem"
has "metrics: lint read the families" "$W/lint.out" "^families [2-9][0-9]"
for series in 'skynet_services [0-9]+' 'skynet_services_started_total [0-9]+' \
	'skynet_messages_dispatched_total\{protocol="lua"\} [1-9]' 'skynet_messages_sent_total\{protocol="lua"\} [1-9]' \
	'skynet_worker_busy_seconds_total\{worker="1"\} ' 'skynet_run_queue_mailboxes [0-9]' 'skynet_timers [0-9]' \
	'skynet_sockets\{kind="tcp"\} [1-9]' 'skynet_sockets\{kind="listen"\} [2-9]' 'skynet_socket_received_bytes_total [1-9]' \
	'skynet_lua_memory_bytes [1-9]' 'process_resident_memory_bytes [1-9]' 'process_cpu_seconds_total [0-9.]+' \
	'skynet_cluster_peer_state\{node="self",state="connected"\} 1$' 'skynet_cluster_peer_state\{node="self",state="down"\} 0$' \
	'skynet_cluster_call_duration_seconds_count\{node="self"\} [1-9]' 'skynet_cluster_calls_waiting\{node="self"\} [0-9]' \
	'metrics_test_events_total\{kind="tick"\} [1-9]'; do
	has "metrics: /metrics has /${series}/" "$W/m1.prom" "^$series"
done
has "metrics: per-service CPU of the busy service, by name and address" "$W/m1.prom" \
	'^skynet_service_cpu_seconds_total\{address=":[0-9a-f]{8}",name="snlua metrics_worker busy"\} [0-9.]+$'
has "metrics: per-service Lua memory of the hog (> 4 MB)" "$W/m1.prom" \
	'^skynet_service_lua_memory_bytes\{address=":[0-9a-f]{8}",name="snlua metrics_worker hog"\} [4-9][0-9]{6}$'
nsvc=$(grep -c '^skynet_service_messages_total{' "$W/m1.prom")
total=$(sed -n 's/^skynet_services //p' "$W/m1.prom")
expect "metrics: per-service series for at most 3 x top (5) services, not all $total ($nsvc)" \
	test "$nsvc" -ge 5 -a "$nsvc" -le 15 -a "$total" -gt 30

if command -v promtool > /dev/null; then
	promtool check metrics < "$W/m1.prom" > "$W/promtool.out" 2>&1
	rc=$?
	expect "metrics: promtool check metrics finds nothing ($(head -c 300 "$W/promtool.out" | tr '\n' '|'))" \
		test $rc -eq 0 -a ! -s "$W/promtool.out"
else
	echo "SKIP metrics: promtool check metrics: promtool not installed (Debian package prometheus)"
fi

# ------------------------------------------------------------ JSON, errors
cli get /metrics.json > "$W/j.txt"
sed 1d "$W/j.txt" > "$W/j.json"
python3 - "$W/j.json" > "$W/j.out" 2>&1 << 'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
n = d["node"]
print("services", n["services"])
print("busy_top_cpu", any(s["name"] == "snlua metrics_worker busy" for s in d["top"]["cpu"]))
print("hog_top_memory", d["top"]["memory"][0]["name"])
print("history", len(d["history"]))
print("peer", [p["labels"] for p in d["published"] if p["name"] == "skynet_cluster_peer_state" and p["value"] == 1])
print("hog_address", d["top"]["memory"][0]["address"])
EOF
has "metrics: /metrics.json parses and counts the services" "$W/j.out" "^services [3-9][0-9]$"
has "metrics: /metrics.json ranks the busy service by CPU" "$W/j.out" "^busy_top_cpu True"
has "metrics: /metrics.json ranks the hog first by memory" "$W/j.out" "^hog_top_memory snlua metrics_worker hog$"
has "metrics: /metrics.json carries the memory history" "$W/j.out" "^history [1-9]"
has "metrics: /metrics.json carries the cluster peer's state" "$W/j.out" "node=.*self.*state=.*connected"
HOG=$(value hog_address "$W/j.out")
cli get "/service.json?address=$HOG" > "$W/s.txt"
has "metrics: /service.json gives one service's stat and mem" "$W/s.txt" \
	"\"address\":\"$HOG\",\"name\":\"snlua metrics_worker hog\",\"mailbox\":[0-9]+,\"tasks\":0,\"messages\":[0-9]+,\"cpu\":[0-9.]+,\"memory\":[0-9]{7,}"
expect "metrics: /service.json of a gone service is 404" test "$(cli get '/service.json?address=:00ffffff' | head -1)" = 404
expect "metrics: an unknown path is 404" test "$(cli get /nope | head -1)" = 404
printf 'POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n' > "$W/post.req"
python3 -c "
import socket, sys
s = socket.create_connection(('127.0.0.1', $MPORT)); s.sendall(open('$W/post.req', 'rb').read())
print(s.recv(100).split(b'\r\n')[0].decode())" > "$W/post.out"
has "metrics: POST is 405" "$W/post.out" "^HTTP/1.1 405 Method Not Allowed"
cli get / > "$W/page.txt"
has "metrics: / serves the console page" "$W/page.txt" "<title>skynet node</title>"
lacks "metrics: the page fetches nothing from elsewhere" "$W/page.txt" "(src|href)=\"(https?:)?//"

# ------------------------------------------------------------ Prometheus
if command -v prometheus > /dev/null; then
	cat > "$W/prometheus.yml" << EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: skynet
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
EOF
	prometheus --config.file="$W/prometheus.yml" --storage.tsdb.path="$W/tsdb" \
		--web.listen-address="127.0.0.1:$PPORT" --log.level=warn > "$W/prometheus.log" 2>&1 &
	E2E_PIDS+=("$!")
	# pq QUERY: the values of an instant query, one `labels value` line each
	pq() {
		python3 - "$PPORT" "$1" << 'EOF'
import json, sys, urllib.parse, urllib.request
port, q = sys.argv[1], sys.argv[2]
try:
    url = "http://127.0.0.1:%s/api/v1/query?query=%s" % (port, urllib.parse.quote(q))
    d = json.load(urllib.request.urlopen(url, timeout=5))
    for r in d["data"]["result"]:
        print(json.dumps(r["metric"], sort_keys=True), r["value"][1])
except Exception as e:
    print("error", e)
EOF
	}
	up=""
	for _ in $(seq 1 60); do
		up=$(pq 'up{job="skynet"}' | awk '{print $NF}')
		[ "$up" = 1 ] && break
		sleep 0.5
	done
	expect "prometheus: scrapes the node (up == 1)" test "$up" = 1
	sleep 2
	python3 - "$PPORT" > "$W/meta.out" << 'EOF'
import json, sys, urllib.request
d = json.load(urllib.request.urlopen("http://127.0.0.1:%s/api/v1/metadata" % sys.argv[1], timeout=5))["data"]
for name in sorted(d):
    print(name, d[name][0]["type"])
EOF
	for nt in "skynet_services gauge" "skynet_messages_dispatched_total counter" "skynet_worker_busy_seconds_total counter" \
		"skynet_service_cpu_seconds_total counter" "skynet_service_lua_memory_bytes gauge" \
		"skynet_cluster_call_duration_seconds summary" "skynet_socket_sent_bytes_total counter" \
		"process_resident_memory_bytes gauge"; do
		has "prometheus: knows $nt" "$W/meta.out" "^$nt$"
	done
	pq 'skynet_service_cpu_seconds_total{name="snlua metrics_worker busy"}' > "$W/q1.out"
	has "prometheus: per-service series carry the service's name and address" "$W/q1.out" '"address": ":[0-9a-f]{8}".*"name": "snlua metrics_worker busy"'
	pq 'skynet_cluster_peer_state{node="self",state="connected"}' > "$W/q2.out"
	has "prometheus: the cluster peer is connected" "$W/q2.out" ' 1$'
	a=$(pq 'sum(skynet_messages_dispatched_total)' | awk '{print $NF}')
	sleep 3
	b=$(pq 'sum(skynet_messages_dispatched_total)' | awk '{print $NF}')
	expect "prometheus: messages dispatched grow while traffic flows ($a -> $b)" gt "$b" "$a"
	r=$(pq 'rate(skynet_cluster_call_duration_seconds_count[5s])' | awk '{print $NF}')
	expect "prometheus: cluster calls have a rate ($r/s)" gt "$r" 1
else
	echo "SKIP prometheus: not installed (Debian package prometheus); its checks did not run"
fi

# ------------------------------------------------------------ the console in chromium
if [ -n "$CHROME" ]; then
	cli get /metrics.json | sed 1d > "$W/j2.json"
	svc=$(python3 -c "import json; print(json.load(open('$W/j2.json'))['node']['services'])")
	chrome "$W/chrome1" --virtual-time-budget=4000 --dump-dom "http://127.0.0.1:$MPORT/" > "$W/dom.html"
	has "chromium: the page's script ran and loaded /metrics.json" "$W/dom.html" '<body data-loaded="1">'
	has "chromium: the page shows the node's service count ($svc)" "$W/dom.html" "<span id=\"node-services\">$svc</span>"
	has "chromium: the CPU table names the busy service" "$W/dom.html" '<td class="name">snlua metrics_worker busy</td><td>:[0-9a-f]{8}</td><td class="num">[0-9]+\.[0-9]{3}</td>'
	has "chromium: the memory table shows the hog's MiB" "$W/dom.html" '<td class="name">snlua metrics_worker hog</td><td>:[0-9a-f]{8}</td><td class="num">[4-9]\.[0-9] MiB</td>'
	has "chromium: the peers table shows the cluster peer connected" "$W/dom.html" '<td>cluster self</td><td class="up">connected</td>'
	has "chromium: the memory chart is drawn" "$W/dom.html" '<polyline [^>]*points="[0-9.]+,[0-9.]+ '
	chrome "$W/chrome2" --virtual-time-budget=4000 --window-size=1280,1000 --screenshot="$W/console.png" \
		"http://127.0.0.1:$MPORT/" > /dev/null
	mkdir -p build/test-artifacts && cp -f "$W/console.png" build/test-artifacts/metrics_console.png 2> /dev/null
	expect "chromium: a screenshot of the console (build/test-artifacts/metrics_console.png)" \
		test -s build/test-artifacts/metrics_console.png
else
	echo "SKIP chromium: not installed (Debian package chromium); the console page was not checked in a browser"
fi

# ------------------------------------------------------------ hostile clients
cli slow "$NODE" > "$W/slow.out"
has "hostile: a client sending one byte a second is answered 408 and cut off" "$W/slow.out" "^status 408$"
s=$(value seconds "$W/slow.out")
expect "hostile: ... after the request timeout (5 s), not later ($s s)" le "$s" 9
m=$(value max_scrape "$W/slow.out")
expect "hostile: ... while it dawdles, scrapes are answered at once (slowest $m s)" le "$m" 1

cli bighead "$NODE" > "$W/big.out"
sent=$(value bytes_sent "$W/big.out")
expect "hostile: a 1 GB header is cut off early ($sent bytes taken)" le "$sent" 67108864
g=$(value rss_growth_kb "$W/big.out")
expect "hostile: ... the node's memory does not follow it (+$g kB)" le "$g" 20000
m=$(value max_scrape "$W/big.out")
expect "hostile: ... and scrapes still work ($m s)" le "$m" 1

cli many "$NODE" 1000 > "$W/many.out"
has "hostile: 1,000 connections are accepted" "$W/many.out" "^opened 1000$"
m=$(value max_scrape "$W/many.out")
expect "hostile: ... a scraper still gets through while they are held ($m s)" le "$m" 1
g=$(value rss_growth_kb "$W/many.out")
expect "hostile: ... memory grows by a bounded amount (+$g kB)" le "$g" 20000
m=$(value after_scrape "$W/many.out")
expect "hostile: ... and after they go, scrapes work ($m s)" le "$m" 1

cli get /metrics | sed 1d > "$W/m2.prom"
has "hostile: the 408 answers are counted" "$W/m2.prom" '^skynet_metrics_http_requests_total\{code="408"\} [1-9]'
has "hostile: the 431 answer is counted" "$W/m2.prom" '^skynet_metrics_http_requests_total\{code="431"\} [1-9]'
has "hostile: the evictions are counted" "$W/m2.prom" '^skynet_metrics_http_evicted_total [1-9][0-9]{2}'
tcp=$(sed -n 's/^skynet_sockets{kind="tcp"} //p' "$W/m2.prom")
expect "hostile: the crowd's sockets are gone ($tcp tcp sockets left)" le "$tcp" 10
expect "hostile: the node is still running" kill -0 "$NODE"

# ------------------------------------------------------------ off when unset
write_config "$W/off.config" metrics_worker
./skynet "$W/off.config" > "$W/off.log" 2>&1 &
OFF=$!
E2E_PIDS+=("$OFF")
wait_for "$W/off.log" "LAUNCH snlua metrics_worker" 20
sleep 0.3
lacks "metrics: no metrics key, no metrics service" "$W/off.log" "LAUNCH metrics|metrics: serving"
kill "$OFF" 2> /dev/null

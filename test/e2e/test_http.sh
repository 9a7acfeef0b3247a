#!/usr/bin/env bash
# examples/simpleweb.lua (http.httpd) with real clients: Python's urllib and
# http.client plus raw sockets (test/e2e/http_client.py), and curl: decoded
# paths and queries, keep-alive, pipelining, chunked requests, every error
# status, requests in tiny writes, clients that stop mid-request, and the
# node still serving afterwards.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster_lib.sh"

read -r PORT <<< "$(free_ports 1)"
W=$E2E_WORK
write_config "$W/web.config" simpleweb "simpleweb_port = $PORT" "simpleweb_address = \"127.0.0.1\"" "simpleweb_idle = 2"
./skynet "$W/web.config" > "$W/web.log" 2>&1 &
pid=$!
E2E_PIDS+=("$pid")
if ! wait_for "$W/web.log" "Listen web port $PORT protocol:http" 10; then
	fail "simpleweb: listens" "log: $(tail -5 "$W/web.log" | tr '\n' '|')"
	exit 0
fi
pass "simpleweb: logs 'Listen web port $PORT protocol:http'"

timeout 60 python3 test/e2e/http_client.py "$PORT" || fail "http_client.py" "exit status $?"

# curl
U="http://127.0.0.1:$PORT"
out=$(curl -s --max-time 5 "$U/hello%20world?a=1&b=x%20y&a=2")
expect "curl: GET decoded path" grep -q "^path: /hello world$" <<< "$out"
expect "curl: GET query" grep -q "^query: b= x y$" <<< "$out"
expect "curl: 9000-byte POST -> 413" test "$(head -c 9000 /dev/zero | tr '\0' x | curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Expect:' --data-binary @- "$U/big")" = 413
expect "curl: HTTP/1.0 -> 200" test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --http1.0 "$U/old")" = 200
out=$(printf 'abc' | curl -s --max-time 5 -H 'Transfer-Encoding: chunked' --data-binary @- "$U/chunk")
expect "curl: chunked upload" grep -q "^abc$" <<< "$out"
n=$(curl -sv --max-time 5 "$U/r1" "$U/r2" "$U/r3" 2>&1 | grep -c 'Re-using existing connection')
expect "curl: keep-alive, 3 URLs on one connection ($n reuses)" test "$n" -eq 2
expect "curl: 4 KB body in one answer" bash -c "head -c 4000 /dev/zero | tr '\0' y | curl -s --max-time 5 -H 'Expect:' --data-binary @- '$U/p' | grep -q 'yyyy'"
# Expect: 100-continue (curl adds it by itself for a body over 1 MB, and
# then waits -- here up to 30 s, past --max-time -- for the 100 before
# sending the body)
out=$(head -c 4000 /dev/zero | tr '\0' y | curl -sv --max-time 5 --expect100-timeout 30 -H 'Expect: 100-continue' --data-binary @- "$U/e" 2>&1)
expect "curl: Expect: 100-continue answered with '100 Continue'" grep -q "^< HTTP/1.1 100 Continue" <<< "$out"
expect "curl: Expect: 100-continue, then the body is read (200)" grep -q "^yyyy" <<< "$out"
out=$(head -c 2000000 /dev/zero | tr '\0' x | curl -sv -o /dev/null -w 'code=%{http_code}\n' --max-time 5 --expect100-timeout 30 --data-binary @- "$U/big" 2>&1)
expect "curl: 2 MB POST (curl's own Expect) -> 413 at once, no 100" bash -c "grep -q '^> Expect: 100-continue' <<< \"\$1\" && grep -q '^code=413' <<< \"\$1\" && ! grep -q '100 Continue' <<< \"\$1\"" _ "$out"
# an idle keep-alive connection is closed after simpleweb_idle (2 s)
start=$(date +%s)
python3 - "$PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"GET /idle HTTP/1.1\r\nHost: x\r\n\r\n")
while s.recv(65536):
    pass
PY
el=$(( $(date +%s) - start ))
expect "idle keep-alive connection closed by the server (${el} s)" test "$el" -ge 1 -a "$el" -le 8

expect "simpleweb: node alive" kill -0 "$pid"
expect "simpleweb: no Lua error or traceback in the log" bash -c "! grep -qE 'traceback|lua call|error :' '$W/web.log'"
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
exit 0

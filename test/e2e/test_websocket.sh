#!/usr/bin/env bash
# examples/simplewebsocket.lua (http.websocket) with a WebSocket client of
# our own in Python (test/e2e/ws_client.py): handshake, echo at every length
# encoding, fragmentation, ping/pong, the close handshake, each protocol
# violation closed with its code, handshake errors; then the example as
# shipped (its own skynet client) printing the exchange upstream records.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster_lib.sh"

read -r PORT PORT2 <<< "$(free_ports 2)"
W=$E2E_WORK
write_config "$W/ws.config" simplewebsocket "simplewebsocket_port = $PORT" \
	"simplewebsocket_address = \"127.0.0.1\"" "simplewebsocket_client = \"false\""
./skynet "$W/ws.config" > "$W/ws.log" 2>&1 &
pid=$!
E2E_PIDS+=("$pid")
if ! wait_for "$W/ws.log" "Listen websocket port $PORT protocol:ws" 10; then
	fail "simplewebsocket: listens" "log: $(tail -5 "$W/ws.log" | tr '\n' '|')"
	exit 0
fi
timeout 60 python3 test/e2e/ws_client.py "$PORT" || fail "ws_client.py" "exit status $?"
expect "simplewebsocket: node alive after the bad clients" kill -0 "$pid"
expect "simplewebsocket: the close callback got code 4000 and reason" grep -q "ws close from: [0-9]*	4000	bye" "$W/ws.log"
expect "simplewebsocket: no Lua traceback in the log" bash -c "! grep -qE 'lua call|error :' '$W/ws.log'"
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null

# a server that reads the request with httpd first, then upgrades
# (websocket.accept with options.upgrade): test/e2e/lua/ws_upgrade.lua
read -r PORT3 <<< "$(free_ports 1)"
write_config "$W/up.config" ws_upgrade "ws_upgrade_port = $PORT3"
./skynet "$W/up.config" > "$W/up.log" 2>&1 &
pid=$!
E2E_PIDS+=("$pid")
if wait_for "$W/up.log" "ws_upgrade listening on $PORT3" 10; then
	timeout 30 python3 test/e2e/ws_client.py "$PORT3" upgrade || fail "ws_client.py upgrade" "exit status $?"
	expect "upgrade path: no error in the log" bash -c "! grep -qE 'ws_upgrade:|lua call|error :' '$W/up.log'"
else
	fail "ws_upgrade: listens" "log: $(tail -5 "$W/up.log" | tr '\n' '|')"
fi
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null

# the example as shipped: its client connects, sends, reads, pings
write_config "$W/ws2.config" simplewebsocket "simplewebsocket_port = $PORT2"
./skynet "$W/ws2.config" > "$W/ws2.log" 2>&1 &
pid=$!
E2E_PIDS+=("$pid")
wait_for "$W/ws2.log" "ws ping from:" 10
sleep 1.2
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
L=$W/ws2.log
expect "example: 'Listen websocket port' line" grep -q "Listen websocket port $PORT2 protocol:ws" "$L"
expect "example: accept line" grep -qE "^accept client socket_id: [0-9]+ addr:127.0.0.1:[0-9]+$" "$L"
expect "example: handshake line with url and addr" grep -qE "^ws handshake from: [0-9]+	url	/test_websocket	addr:	127.0.0.1:[0-9]+$" "$L"
expect "example: header block" grep -q "^sec-websocket-version	13$" "$L"
expect "example: '>: hello world!' then '<: hello world!'" bash -c "grep -A1 '^>: hello world!$' '$L' | grep -q '^<: hello world!$'"
expect "example: repeats every second" test "$(grep -c '^ws ping from:' "$L")" -ge 2
exit 0

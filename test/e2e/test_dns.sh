#!/usr/bin/env bash
# skynet.dns against a fake DNS server on loopback (test/e2e/dns_server.py):
# the checks are in test/e2e/lua/dns_check.lua.
source "$(dirname "$0")/lib.sh"

W=$E2E_WORK
python3 test/e2e/dns_server.py > "$W/dns.port" 2> "$W/dns.err" &
E2E_PIDS+=("$!")
wait_for "$W/dns.port" '[0-9]' 5 || { fail "dns: fake server starts" "$(cat "$W/dns.err")"; exit 0; }
PORT=$(head -1 "$W/dns.port")
write_config "$W/check.config" dns_check "dns_port = $PORT" "dns_hosts = \"$W/hosts\"" \
	"lua_path = \"$ROOT/lualib/?.lua;$ROOT/test/lua/?.lua\""
timeout 90 ./skynet "$W/check.config" > "$W/check.log" 2>&1
grep -oE '(PASS|FAIL) .*' "$W/check.log"
grep -q 'DONE' "$W/check.log" || fail "dns_check finished" "$(tail -5 "$W/check.log" | tr '\n' '|')"
expect "dns: 'Udp server open 127.0.0.1:$PORT' logged" grep -q "Udp server open 127.0.0.1:$PORT (" "$W/check.log"
expect "dns: 'DNS query silent.test timeout' logged" grep -q "DNS query silent.test timeout" "$W/check.log"
exit 0

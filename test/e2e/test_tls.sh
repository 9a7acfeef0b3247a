#!/usr/bin/env bash
# TLS (ltls on OpenSSL): certificates made here with the openssl command;
# simpleweb over https answering curl and Python (verified against our CA),
# simplewebsocket over wss answering the Python WebSocket client, and our
# httpc (https) and websocket client (wss) in test/e2e/lua/tls_check.lua.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster_lib.sh"

W=$E2E_WORK
if ! openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/key.pem" -out "$W/cert.pem" -days 2 \
	-subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" > "$W/openssl.log" 2>&1; then
	fail "tls: openssl makes a self-signed certificate" "$(tail -3 "$W/openssl.log" | tr '\n' '|')"
	exit 0
fi
read -r PWEB PWS PPLAIN <<< "$(free_ports 3)"
CERT="certfile = \"$W/cert.pem\"" KEY="keyfile = \"$W/key.pem\""

write_config "$W/web.config" simpleweb "simpleweb_port = $PWEB" "simpleweb_address = \"127.0.0.1\"" \
	"simpleweb_protocol = \"https\"" "$CERT" "$KEY"
write_config "$W/ws.config" simplewebsocket "simplewebsocket_port = $PWS" "simplewebsocket_address = \"127.0.0.1\"" \
	"simplewebsocket_protocol = \"wss\"" "simplewebsocket_client = \"false\"" "$CERT" "$KEY"
write_config "$W/plain.config" simpleweb "simpleweb_port = $PPLAIN" "simpleweb_address = \"127.0.0.1\""
for n in web ws plain; do
	./skynet "$W/$n.config" > "$W/$n.log" 2>&1 &
	E2E_PIDS+=("$!")
done
wait_for "$W/web.log" "protocol:https" 10 || fail "tls: https server up" "$(tail -3 "$W/web.log")"
wait_for "$W/ws.log" "protocol:wss" 10 || fail "tls: wss server up" "$(tail -3 "$W/ws.log")"
wait_for "$W/plain.log" "protocol:http" 10 || fail "tls: plain server up" "$(tail -3 "$W/plain.log")"

out=$(curl -s --max-time 5 --cacert "$W/cert.pem" "https://localhost:$PWEB/hello%20world?a=1")
expect "curl https (verified against our certificate)" grep -q "^path: /hello world$" <<< "$out"
out=$(curl -sk --max-time 5 -d 'x=1' "https://127.0.0.1:$PWEB/p")
expect "curl https POST" grep -q "^x=1$" <<< "$out"
out=$(head -c 3000 /dev/zero | tr '\0' y | curl -skv --max-time 5 --expect100-timeout 30 -H 'Expect: 100-continue' --data-binary @- "https://127.0.0.1:$PWEB/e" 2>&1)
expect "curl https: Expect: 100-continue answered through TLS, then 200" bash -c "grep -q '^< HTTP/1.1 100 Continue' <<< \"\$1\" && grep -q '^yyyy' <<< \"\$1\"" _ "$out"
n=$(curl -skv --max-time 5 "https://127.0.0.1:$PWEB/a" "https://127.0.0.1:$PWEB/b" 2>&1 | grep -c 'Re-using existing connection')
expect "curl https keep-alive ($n reuses)" test "$n" -eq 1
expect "python urllib https" python3 - "$PWEB" "$W/cert.pem" <<'PY'
import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[2])
with urllib.request.urlopen("https://localhost:%s/py" % sys.argv[1], context=ctx, timeout=5) as r:
    sys.exit(0 if b"path: /py" in r.read() else 1)
PY
timeout 60 python3 test/e2e/ws_client.py "$PWS" wss || fail "ws_client.py wss" "exit status $?"

write_config "$W/check.config" tls_check "tls_web_port = $PWEB" "tls_ws_port = $PWS" "tls_plain_port = $PPLAIN" \
	"tls_cafile = \"$W/cert.pem\"" "tls_dir = \"$W\"" "lua_path = \"$ROOT/lualib/?.lua;$ROOT/test/lua/?.lua\""
timeout 60 ./skynet "$W/check.config" > "$W/check.log" 2>&1
grep -oE '(PASS|FAIL) .*' "$W/check.log"
grep -q 'DONE' "$W/check.log" || fail "tls_check finished" "$(tail -5 "$W/check.log" | tr '\n' '|')"
expect "tls: servers alive" kill -0 "${E2E_PIDS[@]}"
expect "tls: no Lua error in the server logs" bash -c "! grep -qE 'lua call|error :|traceback' '$W/web.log' '$W/ws.log'"
exit 0

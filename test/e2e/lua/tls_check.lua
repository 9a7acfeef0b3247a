-- tls_check.lua -- started by test/e2e/test_tls.sh: httpc over https and
-- websocket over wss against the example servers the script started
-- (config keys tls_web_port, tls_ws_port, tls_plain_port, tls_cafile,
-- tls_dir), SNI, peer verification, and ltls errors.  Logs PASS/FAIL
-- lines, then DONE.
local skynet = require "skynet"
local httpc = require "http.httpc"
local websocket = require "http.websocket"
local tls = require "http.tlshelper"
local T = require "testlib"

T.run("tls_check", function()
	local web = tonumber(skynet.getenv "tls_web_port")
	local wsport = tonumber(skynet.getenv "tls_ws_port")
	local plain = tonumber(skynet.getenv "tls_plain_port")
	local cafile = skynet.getenv "tls_cafile"
	local dir = skynet.getenv "tls_dir"

	local code, body = httpc.get("https://127.0.0.1:" .. web, "/hello%20tls?a=1")
	T.eq("httpc https: status", code, 200)
	T.ok("httpc https: body", body and body:find("path: /hello tls", 1, true), body)
	code, body = httpc.get("https://localhost:" .. web, "/sni")
	T.ok("httpc https with a host name (SNI)", code == 200 and body:find("host: localhost:" .. web, 1, true), body)
	local big = ("z"):rep(6000)
	code, body = httpc.post("https://127.0.0.1:" .. web, "/post", { k = big })
	T.ok("httpc https: POST 6 KB form", code == 200 and body:find("k=" .. big, 1, true), code)

	-- wss
	local id = websocket.connect("wss://127.0.0.1:" .. wsport .. "/tls")
	websocket.write(id, "over tls")
	T.deq("wss: echo", { websocket.read(id) }, { "over tls", "text" })
	local large = ("0123456789"):rep(25000)
	websocket.write(id, large, "binary")
	T.ok("wss: 250 KB echo", websocket.read(id) == large)
	websocket.close(id, 1000, "bye")
	T.ok("wss: closed", websocket.is_close(id))

	-- https to a plain HTTP port: the handshake never completes, the timeout ends it
	httpc.timeout = 100
	T.raises("https to a plain port fails within the timeout", "Socket Error", httpc.get, "https://127.0.0.1:" .. plain, "/")
	httpc.timeout = nil

	-- verification (ours): a client context with the right CA accepts, a wrong name refuses
	local ctx = tls.newctx()
	ctx:set_verify(cafile)
	local socket = require "skynet.socket"
	local function handshake(host)
		local fd = assert(socket.open("127.0.0.1", web))
		local t = tls.newtls("client", ctx, host)
		local ok, err = pcall(tls.init_requestfunc(fd, t), host)
		socket.close(fd)
		return ok, err
	end
	T.ok("set_verify: the certificate's name verifies", handshake "localhost")
	local ok, err = handshake "wrong.example"
	T.ok("set_verify: another name is refused", not ok and tostring(err):find("SSL_do_handshake", 1, true), err)

	-- ltls errors
	local c2 = tls.newctx()
	T.raises("set_cert: missing file", "SSL_CTX_use_certificate_chain_file", c2.set_cert, c2, dir .. "/nope.pem", dir .. "/key.pem")
	T.raises("set_cert: need certfile", "need certfile", c2.set_cert, c2)
	T.raises("newtls: bad method", "invalid method:x", tls.newtls, "x", c2)
	local t = tls.newtls("client", c2)
	T.ok("handshake: first client output is a ClientHello", t:handshake():sub(1, 2) == "\x16\x03")
	t:close()
	t:close()
	T.raises("closed session", "context is closed", t.read, t)
	T.raises("set_ciphers: bad list", "SSL_CTX_set_cipher_list", c2.set_ciphers, c2, "NO-SUCH-CIPHER")
	c2:set_ciphers "HIGH"
	T.pass("set_ciphers: a good list")
end)

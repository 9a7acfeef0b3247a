-- test_websocket.lua -- http.websocket: the frame byte vectors of
-- spec/api-http-websocket-dns.md §6.4 (skynet.webcore.ws_build), the accept
-- key vector, and our client against our server in one node: text and
-- binary, large messages, ping/pong, close codes both ways, addrinfo,
-- real_ip, is_close, handshake failures, and a server breaking the rules.
local skynet = require "skynet"
local socket = require "skynet.socket"
local websocket = require "http.websocket"
local core = require "skynet.webcore"
local T = require "testlib"

local function hex(s)
	return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function vectors()
	T.eq("frame: server text echo:hello", hex(core.ws_build(1, "echo:hello")), "810a6563686f3a68656c6c6f")
	T.eq("frame: binary 010203", hex(core.ws_build(2, "\1\2\3")), "8203010203")
	T.eq("frame: 300-byte text header", hex(core.ws_build(1, ("x"):rep(300)):sub(1, 4)), "817e012c")
	T.eq("frame: 205-byte text header", hex(core.ws_build(1, ("x"):rep(205)):sub(1, 4)), "817e00cd")
	T.eq("frame: 70000-byte text header", hex(core.ws_build(1, ("x"):rep(70000)):sub(1, 10)), "817f0000000000011170")
	T.eq("frame: masked binary 'bin' key 0x11223344", hex(core.ws_build(2, "bin", 0x11223344)), "828311223344734b5d")
	T.eq("frame: masked text 'hello'", hex(core.ws_build(1, "hello", 0x11223344)), "81851122334479475f287e")
	T.eq("frame: close 4000 bye", hex(core.ws_build(8, string.pack(">I2", 4000) .. "bye")), "88050fa0627965")
	T.eq("frame: empty ping", hex(core.ws_build(9, "")), "8900")
	T.eq("accept key vector", core.ws_accept "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
	local op, fin, payload, nextpos = core.ws_parse(core.ws_build(1, "hello", 0x11223344) .. "tail", 1, true, 100)
	T.deq("ws_parse: a masked frame unmasked", { op, fin, payload, nextpos }, { 1, true, "hello", 12 })
	local ok, code = core.ws_parse(core.ws_build(1, "hello"), 1, true, 100)
	T.deq("ws_parse: unmasked frame where a mask is required -> 1002", { ok, code }, { false, 1002 })
	ok, code = core.ws_parse(core.ws_build(2, ("x"):rep(101)), 1, false, 100)
	T.deq("ws_parse: over the limit -> 1009", { ok, code }, { false, 1009 })
	T.deq("ws_parse: header incomplete -> nil", { core.ws_parse("\x81", 1, false, 100) }, { nil })
	T.deq("ws_parse: payload incomplete -> nil, total", { core.ws_parse("\x81\x05he", 1, false, 100) }, { nil, 7 })
	T.eq("utf8: valid", core.utf8 "héllo ✓ 😀", true)
	T.eq("utf8: overlong refused", core.utf8 "\xc0\xaf", false)
	T.eq("utf8: truncated refused", core.utf8 "\xe2\x9c", false)
end

local events = {}
local function log(...)
	events[#events + 1] = table.concat({ ... }, " ")
end

local handle = {}
function handle.connect(id) log("connect") end
function handle.handshake(id, header, url) log("handshake", url, tostring(websocket.real_ip(id))) end
function handle.message(id, msg, op)
	if msg == "server-ping" then
		websocket.ping(id)
		websocket.write(id, "pinged")
	elseif msg == "flood" then -- 16 MiB to a client that does not read
		local chunk = ("f"):rep(200000)
		for _ = 1, 80 do
			websocket.write(id, chunk, "binary")
		end
	elseif msg == "close-me" then
		websocket.close(id, 1001, "going")
	else
		websocket.write(id, msg, op)
	end
end
function handle.ping(id) log("ping") end
function handle.pong(id) log("pong") end
function handle.close(id, code, reason) log("close", tostring(code), tostring(reason)) end
function handle.error(id, err) log("error") end
-- spec §6.1: warning gets the ws object (not the id) and the KiB queued
function handle.warning(ws, size)
	log("warning", type(ws), tostring(type(ws) == "table" and ws.id), tostring(size > 0))
end

local function start_server()
	local lid, _, port = socket.listen("127.0.0.1", 0)
	socket.start(lid, function(fd, addr)
		skynet.fork(function()
			local ok, err = websocket.accept(fd, handle, "ws", addr)
			if not ok then log("accept-failed", tostring(err):match "websocket: [^\n]*" or tostring(err)) end
		end)
	end)
	return port
end

local function session(port)
	local url = "ws://127.0.0.1:" .. port .. "/path?q=1"
	local id = websocket.connect(url, { ["X-Real-IP"] = "10.1.2.3" })
	T.eq("client: addrinfo is host:port of the url", websocket.addrinfo(id), "127.0.0.1:" .. port)
	T.eq("client: is_close false while open", websocket.is_close(id), false)
	websocket.write(id, "hello")
	T.deq("client: text echoed, type reported", { websocket.read(id) }, { "hello", "text" })
	websocket.write(id, "\0\1\2", "binary")
	T.deq("client: binary echoed", { websocket.read(id) }, { "\0\1\2", "binary" })
	local big = ("0123456789"):rep(20000)
	websocket.write(id, big, "binary")
	T.eq("client: 200 KB message echoed", websocket.read(id), big)
	websocket.write(id, "server-ping")
	T.eq("client: server ping answered inside read", websocket.read(id), "pinged")
	websocket.ping(id)
	websocket.write(id, "after-ping")
	T.eq("client: our ping, then a message", websocket.read(id), "after-ping")
	T.raises("client: write with a bad format", "text or binary", websocket.write, id, "x", "json")
	websocket.close(id, 4000, "bye")
	T.eq("client: is_close after close", websocket.is_close(id), true)
	T.ok("server: close callback got 4000 bye", T.waitfor(function()
		for _, e in ipairs(events) do if e == "close 4000 bye" then return true end end
	end, 300))
	T.ok("server: handshake callback with url and real ip", events[2] == "handshake /path?q=1 10.1.2.3", events[2])
	T.ok("server: pong callback for the server's ping", table.concat(events, ","):find("pong", 1, true) ~= nil)
	T.ok("server: ping callback for the client's ping", table.concat(events, ","):find("ping", 1, true) ~= nil)

	-- a client that stops reading: the server's warning callback
	id = websocket.connect(url)
	socket.pause(id)
	websocket.write(id, "flood")
	local seen
	T.waitfor(function()
		for _, e in ipairs(events) do if e:find("^warning") then seen = e return true end end
	end, 1000)
	T.ok("server: warning callback gets the ws object and the queued size", type(seen) == "string" and
		seen:find("^warning table %d+ true$") ~= nil, seen)
	socket.close(id)

	-- server-side close: the client's read returns false and the raw payload
	id = websocket.connect(url)
	websocket.write(id, "close-me")
	T.deq("client: server close -> false, raw payload", { websocket.read(id) }, { false, "\x03\xe9going" })
	T.eq("client: closed after the server's close", websocket.is_close(id), true)
end

-- a raw TCP server answering each connection with `reply`
local function raw_server(reply)
	local lid, _, port = socket.listen("127.0.0.1", 0)
	socket.start(lid, function(fd)
		skynet.fork(function()
			socket.start(fd)
			local head = ""
			while not head:find("\r\n\r\n", 1, true) do
				local d = socket.read(fd)
				if not d then return end
				head = head .. d
			end
			local key = head:match "Sec%-WebSocket%-Key:([^\r]+)"
			socket.write(fd, (reply:gsub("ACCEPT", key and core.ws_accept(key) or "")))
			socket.read(fd, 1)
			socket.close(fd)
		end)
	end)
	return port
end

local function failures()
	T.raises("connect: http:// url", "invalid protocol: http", websocket.connect, "http://127.0.0.1:1/")
	local p = raw_server "HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\n\r\nnope"
	T.raises("connect: a 404 answer", "websocket handshake error: code[404] info:nope", websocket.connect, "ws://127.0.0.1:" .. p .. "/")
	p = raw_server "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: wrong\r\n\r\n"
	T.raises("connect: wrong accept key", "invalid Sec-WebSocket-Accept", websocket.connect, "ws://127.0.0.1:" .. p .. "/")
	-- a server sending a frame over 256 KiB after a good handshake
	p = raw_server("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ACCEPT\r\n\r\n"
		.. "\x82\x7f" .. string.pack(">I8", 300000))
	local id = websocket.connect("ws://127.0.0.1:" .. p .. "/")
	T.raises("read: a server frame over the limit raises", "payload_len is too large", websocket.read, id)
	T.eq("read: and the connection is closed", websocket.is_close(id), true)
	T.raises("connect: refused", { "connect failed", "Connection refused" }, websocket.connect, "ws://127.0.0.1:1/")
end

T.run("test_websocket", function()
	vectors()
	local port = start_server()
	session(port)
	failures()
end)

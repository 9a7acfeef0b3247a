-- test_httpc.lua -- http.httpc against servers in the same node: a raw
-- TCP server that records the request bytes and answers per path (the
-- captured requests of spec/api-http-websocket-dns.md §5.5, chunked bodies
-- with trailers, close-delimited bodies, 204, HEAD, repeated headers,
-- redirects, streams, a server that never answers), and an http.httpd
-- server.  Timeouts must raise and leave no socket behind.
local skynet = require "skynet"
local socket = require "skynet.socket"
local httpc = require "http.httpc"
local httpd = require "http.httpd"
local sockethelper = require "http.sockethelper"
local T = require "testlib"

local captured = {}

local answers = {
	["/cl"] = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
	["/pn"] = "HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok",
	["/x"] = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
	["/post"] = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
	["/chunked"] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=1\r\n world\r\n0\r\nTrailer-A: t1\r\n\r\n",
	["/close"] = "HTTP/1.0 200 OK\r\n\r\nuntil the end",
	["/204"] = "HTTP/1.1 204 No Content\r\n\r\n",
	["/head"] = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\nX-H: 1\r\n\r\n",
	["/dup"] = "HTTP/1.1 200 OK\r\nX-Dup: 1\r\nx-dup: 2\r\ncontent-length: 0\r\n\r\n",
	["/404"] = "HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\n\r\nno!",
	["/302"] = "HTTP/1.1 302 Found\r\nLocation: /x\r\ncontent-length: 0\r\n\r\n",
	["/gzip"] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
	["/badchunk"] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	["/nostatus"] = "HTTP/1.1 abc\r\n\r\n",
	["/nocrlf"] = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n",
	["/interim"] = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" ..
		"HTTP/1.1 200 OK\r\nX-Final: 1\r\ncontent-length: 4\r\n\r\ndone",
}

local function raw_server()
	local lid, _, port = socket.listen("127.0.0.1", 0)
	socket.start(lid, function(fd)
		skynet.fork(function()
			socket.start(fd)
			local req = ""
			while not req:find("\r\n\r\n", 1, true) do
				local d = socket.read(fd)
				if not d then socket.close(fd) return end
				req = req .. d
			end
			local path = req:match "^%u+ (%S+)"
			local cl = tonumber(req:match "[Cc]ontent%-length:(%d+)")
			local head_len = req:find("\r\n\r\n", 1, true) + 3
			if cl and #req - head_len < cl then
				req = req .. socket.read(fd, cl - (#req - head_len))
			end
			captured[path] = req
			if path == "/slow" then
				socket.block(fd) -- until the client goes away
				captured.slow_closed = true
			elseif path == "/stream" then
				socket.write(fd, "HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nabc")
				skynet.sleep(5)
				socket.write(fd, "def")
				skynet.sleep(5)
				socket.write(fd, "ghi")
			elseif path == "/slowbody" then
				socket.write(fd, "HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nabc")
				skynet.sleep(60)
				socket.write(fd, "defghi")
			else
				socket.write(fd, answers[path] or "HTTP/1.1 500 Oops\r\ncontent-length: 0\r\n\r\n")
			end
			socket.close(fd)
		end)
	end)
	return port
end

local function httpd_server()
	local lid, _, port = socket.listen("127.0.0.1", 0)
	socket.start(lid, function(fd)
		skynet.fork(function()
			socket.start(fd)
			local read, write = sockethelper.readfunc(fd), sockethelper.writefunc(fd)
			local code, url, method, header, body = httpd.read_request(read, 200000)
			if code == 200 and url == "/chunks" then
				local i = 0
				httpd.write_response(write, 200, function()
					i = i + 1
					return i <= 3 and ("part" .. i) or nil
				end, { ["X-Server"] = "httpd" })
			elseif code == 200 then
				httpd.write_response(write, 200, method .. " " .. url .. " " .. (header["content-type"] or "") .. " " .. body)
			else
				httpd.write_response(write, code or 500)
			end
			socket.close(fd)
		end)
	end)
	return port
end

local function tcp_sockets()
	local n = 0
	for _, s in ipairs(socket.netstat()) do
		if s.type == "TCP" and s.address == skynet.self() then n = n + 1 end
	end
	return n
end

T.run("test_httpc", function()
	local p = raw_server()
	local P = "127.0.0.1:" .. p

	local rh = {}
	T.deq("interim 1xx answers (100, 103) are skipped: the final one is returned",
		{ httpc.get(P, "/interim", rh) }, { 200, "done" })
	T.ok("interim 1xx: the headers are the final answer's", rh["x-final"] == "1" and rh.link == nil, rh)

	local code, body = httpc.get(P, "/cl")
	T.deq("get: status and body", { code, body }, { 200, "hello" })
	T.eq("get: request bytes", captured["/cl"], "GET /cl HTTP/1.1\r\nhost:" .. P .. "\r\nContent-length:0\r\n\r\n")
	local rh = {}
	local h = { ["X-A"] = "1" }
	httpc.get(P, "/x?y=1", rh, h)
	local req = captured["/x?y=1"] or ""
	T.ok("get with header: X-A:1 and Host: lines", req:find("\r\nX-A:1\r\n", 1, true) and req:find("\r\nHost:" .. P .. "\r\n", 1, true), req)
	T.eq("get with header: Host added to the caller's table", h.Host, P)
	httpc.get(P, "/x", nil, { host = "lower.example" })
	T.ok("get: a lower-case host key is not doubled", not (captured["/x"] or ""):find("Host:", 1, true), captured["/x"])
	code, body = httpc.request("POST", P, "/pn", nil, nil, "abc")
	T.deq("request POST: status/body", { code, body }, { 201, "ok" })
	T.eq("request POST: bytes", captured["/pn"], "POST /pn HTTP/1.1\r\nhost:" .. P .. "\r\nContent-length:3\r\n\r\nabc")
	httpc.post(P, "/post", { a = "1 2", ["k&y"] = "v=w", z = "é" })
	req = captured["/post"] or ""
	local form = req:match "\r\n\r\n(.*)$" or ""
	local fields = {}
	for f in form:gmatch "[^&]+" do fields[f] = true end
	T.deq("post: form encoding", fields, { ["z=%C3%A9"] = true, ["k%26y=v%3Dw"] = true, ["a=1%202"] = true })
	T.ok("post: content-type", req:find("content-type:application/x-www-form-urlencoded\r\n", 1, true), req)

	rh = {}
	code, body = httpc.get(P, "/chunked", rh)
	T.eq("chunked response: body", body, "hello world")
	T.eq("chunked response: trailer in recvheader", rh["trailer-a"], "t1")
	T.eq("close-delimited body", select(2, httpc.get(P, "/close")), "until the end")
	T.deq("204: empty body", { httpc.get(P, "/204") }, { 204, "" })
	rh = {}
	T.eq("head: status only", httpc.head(P, "/head", rh), 200)
	T.eq("head: headers", rh["x-h"], "1")
	rh = {}
	httpc.get(P, "/dup", rh)
	T.deq("repeated response header -> list", rh["x-dup"], { "1", "2" })
	T.deq("404 returned as is", { httpc.get(P, "/404") }, { 404, "no!" })
	T.eq("302 not followed", httpc.get(P, "/302"), 302)
	T.raises("unsupported transfer-encoding", "Unsupport transfer-encoding", httpc.get, P, "/gzip")
	T.raises("broken chunked response", "Invalid response body", httpc.get, P, "/badchunk")
	T.raises("bad status line", "Invalid HTTP response status line", httpc.get, P, "/nostatus")

	-- streams
	local s = httpc.request_stream("GET", P, "/chunked")
	T.eq("stream: status", s.status, 200)
	local pieces = {}
	for piece in s do pieces[#pieces + 1] = piece end
	T.deq("stream: one decoded chunk per call, then ''", pieces, { "hello", " world", "" })
	T.eq("stream: trailer in stream.header", s.header["trailer-a"], "t1")
	T.eq("stream: connected nil after a clean end", s.connected, nil)
	T.raises("stream: calling after close raises", "closed", s.padding, s)
	pieces = {}
	for piece in httpc.request_stream("GET", P, "/stream") do pieces[#pieces + 1] = piece end
	T.deq("stream: content-length body in three parts", pieces, { "abc", "def", "ghi" })
	pieces = {}
	for piece in httpc.request_stream("GET", P, "/close") do pieces[#pieces + 1] = piece end
	T.eq("stream: close-delimited body ends with nil, not an error", table.concat(pieces), "until the end")
	do
		local st <close> = httpc.request_stream("GET", P, "/stream")
		T.eq("stream: <close> variable", st(), "abc")
	end

	-- timeouts leave nothing behind (the connections of the steps above
	-- close on both ends first: the server's end may still be closing)
	T.waitfor(function() return tcp_sockets() == 0 end, 300)
	local before = tcp_sockets()
	httpc.timeout = 50
	local t0 = skynet.now()
	T.raises("timeout: a server that never answers", "read failed", httpc.get, P, "/slow")
	local el = skynet.now() - t0
	T.ok("timeout: raised after about the timeout (" .. el .. " cs)", el >= 45 and el < 300, el)
	T.ok("timeout: the server sees the connection closed", T.waitfor(function() return captured.slow_closed end, 300))
	T.eq("timeout: no socket left in this service", tcp_sockets(), before)
	s = httpc.request_stream("GET", P, "/slowbody")
	T.eq("timeout: a stream's body is not timed", (s() or "") .. (s() or ""), "abcdefghi")
	s:close()
	httpc.timeout = nil

	-- errors
	T.raises("connect refused", { "Socket Error", "connect failed", "Connection refused" }, httpc.get, "127.0.0.1:1", "/")
	T.raises("unknown scheme", "Invalid protocol: ftp", httpc.get, "ftp://127.0.0.1", "/")
	T.raises("unknown scheme with a port", "Invalid protocol: ftp", httpc.get, "ftp://127.0.0.1:" .. p, "/")
	T.raises("bare IPv6", "bare IPv6 address '::1'", httpc.get, "::1", "/")
	T.eq("no socket left after the errors", tcp_sockets(), before)
	T.deq("HTTP:// upper-case scheme", { httpc.get("HTTP://" .. P, "/cl") }, { 200, "hello" })

	-- against http.httpd
	local q = "127.0.0.1:" .. httpd_server()
	T.deq("httpd: string body", { httpc.post(q, "/f", { a = "b" }) }, { 200, "POST /f application/x-www-form-urlencoded a=b" })
	rh = {}
	T.deq("httpd: chunked function body", { httpc.get(q, "/chunks", rh) }, { 200, "part1part2part3" })
	T.eq("httpd: response header", rh["x-server"], "httpd")
	local big = ("x"):rep(100000)
	local _, echoed = httpc.request("PUT", q, "/big", nil, nil, big)
	T.ok("httpd: 100 KB request body", echoed == "PUT /big  " .. big, #echoed)
end)

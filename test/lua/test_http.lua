-- test_http.lua -- http.httpd, http.internal, http.url and
-- http.sockethelper without a network peer: requests fed by scripted
-- readfuncs (in pieces, pipelined, broken), write_response against the
-- byte vectors of spec/api-http-websocket-dns.md §3.2, url quirks (§4),
-- header parsing (§2.2), chunked bodies (§2.3) and the socket_error
-- object (§1).  Real clients are in test/e2e/test_http.sh.
local skynet = require "skynet"
local httpd = require "http.httpd"
local internal = require "http.internal"
local url = require "http.url"
local sockethelper = require "http.sockethelper"
local T = require "testlib"

-- a readfunc serving `pieces` one per call (sz nil) or exactly sz bytes,
-- raising socket_error when they run out
local function reader(pieces)
	if type(pieces) == "string" then
		pieces = {pieces}
	end
	local i, buf = 1, ""
	return function(sz)
		if sz == nil then
			if buf ~= "" then
				local r = buf
				buf = ""
				return r
			end
			local p = pieces[i]
			i = i + 1
			if p == nil then
				error(sockethelper.socket_error("read failed fd = test"))
			end
			return p
		end
		while #buf < sz do
			local p = pieces[i]
			i = i + 1
			if p == nil then
				error(sockethelper.socket_error("read failed fd = test"))
			end
			buf = buf .. p
		end
		local r = buf:sub(1, sz)
		buf = buf:sub(sz + 1)
		return r
	end
end

local function writer()
	local out = {}
	return function(s) out[#out + 1] = s end, out
end

local function requests()
	local code, u, method, header, body = httpd.read_request(reader "GET /a?x=1 HTTP/1.1\r\nHost: h\r\nX-A:  v \r\n\r\n", 8192)
	T.eq("read_request: 200", code, 200)
	T.eq("read_request: url raw", u, "/a?x=1")
	T.eq("read_request: method", method, "GET")
	T.eq("read_request: header lower-cased", header.host, "h")
	T.eq("read_request: value keeps trailing blanks", header["x-a"], "v ")
	T.eq("read_request: no length, empty body", body, "")

	-- the head in 1-byte pieces
	local req = "POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
	local pieces = {}
	for i = 1, #req do pieces[i] = req:sub(i, i) end
	code, u, method, header, body = httpd.read_request(reader(pieces), 8192)
	T.eq("read_request: request in 1-byte writes", body, "hello")
	T.eq("read_request: lowercase method kept", select(3, httpd.read_request(reader "get / HTTP/1.0\r\n\r\n")), "get")

	-- pipelining: each request whole, the body never holds the next one
	local r = reader { "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nPOST /c HTTP/1.1\r\ncontent-length: 3\r\n\r\nabcGET /d HTT", "P/1.1\r\n\r\n" }
	local got = {}
	for _ = 1, 4 do
		local c, uu, _, _, b = httpd.read_request(r, 8192)
		got[#got + 1] = tostring(c) .. " " .. tostring(uu) .. " [" .. tostring(b) .. "]"
	end
	T.deq("read_request: pipelined requests read one by one", got,
		{ "200 /a []", "200 /b []", "200 /c [abc]", "200 /d []" })
	local c5, e5 = httpd.read_request(r, 8192)
	T.ok("read_request: after the last request the closed socket is nil, socket_error",
		c5 == nil and e5 == sockethelper.socket_error)

	-- chunked, with an extension and a trailer
	code, u, method, header, body = httpd.read_request(reader {
		"POST /c HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n5;ext=1\r\nhel", "lo\r\n6\r\n world\r\n0\r\nTrailer-A: t1\r\n\r\n" }, 8192)
	T.eq("read_request: chunked body (case-insensitive, extension)", body, "hello world")
	T.eq("read_request: chunked trailer merged into header", header["trailer-a"], "t1")

	-- error codes
	local function status_of(name, input, want, limit)
		T.eq(name, (httpd.read_request(reader(input), limit or 8192)), want)
	end
	status_of("read_request: garbage request line -> 400", "GARBAGE\r\n\r\n", 400)
	status_of("read_request: leading empty line -> 400", "\r\nGET / HTTP/1.1\r\n\r\n", 400)
	status_of("read_request: HTTP/2.0 -> 505", "GET / HTTP/2.0\r\n\r\n", 505)
	status_of("read_request: HTTP/0.9 -> 505", "GET / HTTP/0.9\r\n\r\n", 505)
	status_of("read_request: header line without colon -> 400", "GET / HTTP/1.1\r\nbroken\r\n\r\n", 400)
	status_of("read_request: gzip transfer-encoding -> 501", "GET / HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n", 501)
	status_of("read_request: content-length over the limit -> 413",
		"POST / HTTP/1.1\r\ncontent-length: 9000\r\n\r\n", 413)
	status_of("read_request: content-length equal to the limit is fine",
		{ "POST / HTTP/1.1\r\ncontent-length: 10\r\n\r\n", "0123456789" }, 200, 10)
	status_of("read_request: chunked over the limit -> 413",
		"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nb\r\n01234567890\r\n0\r\n\r\n", 413, 10)
	status_of("read_request: broken chunk size -> 400",
		"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", 400)
	status_of("read_request: chunk data without CRLF -> 400",
		"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabcX\r\n", 400)
	status_of("read_request: non-numeric content-length -> 400",
		"POST / HTTP/1.1\r\ncontent-length: 5x\r\n\r\nhello", 400)
	status_of("read_request: repeated content-length -> 400",
		"POST / HTTP/1.1\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!", 400)
	status_of("read_request: negative content-length -> 400",
		"POST / HTTP/1.1\r\ncontent-length: -1\r\n\r\n", 400)
	local big = "GET / HTTP/1.1\r\nX: " .. ("a"):rep(9000) .. "\r\n\r\n"
	status_of("read_request: 9 KB head (with its terminator) -> 413", big, 413)
	local pieces2 = {}
	for i = 1, 3000 do pieces2[i] = "aaa" end
	table.insert(pieces2, 1, "GET / HTTP/1.1\r\nX: ")
	status_of("read_request: endless head in tiny writes -> 413", pieces2, 413)
	local exact = "GET / HTTP/1.1\r\nX: " .. ("a"):rep(8192 - 23) .. "\r\n\r\n"
	T.eq("read_request: a head of exactly 8192 bytes is accepted", #exact, 8192)
	status_of("read_request: head of 8192 bytes -> 200", exact, 200)
	status_of("read_request: head of 8193 bytes -> 413", "GET / HTTP/1.1\r\nX: a" .. ("a"):rep(8192 - 23) .. "\r\n\r\n", 413)

	local c, err = httpd.read_request(reader { "GET / HTTP/1.1\r\nHost: x\r\n" }, 8192)
	T.ok("read_request: socket closing mid-request -> nil, socket_error", c == nil and err == sockethelper.socket_error)
	c, err = httpd.read_request(reader { "POST / HTTP/1.1\r\ncontent-length: 10\r\n\r\nabc" }, 8192)
	T.ok("read_request: socket closing mid-body -> nil, socket_error", c == nil and err == sockethelper.socket_error)
end

local function responses()
	local w, out = writer()
	T.eq("write_response: returns true", httpd.write_response(w, 200, "hello"), true)
	T.eq("write_response: (200, 'hello')", table.concat(out), "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
	T.eq("write_response: a string body is one write", #out, 1)
	w, out = writer()
	httpd.write_response(w, 404)
	T.eq("write_response: (404)", table.concat(out), "HTTP/1.1 404 Not Found\r\n\r\n")
	w, out = writer()
	httpd.write_response(w, 200, nil, { ["Set-Cookie"] = { "a=1", "b=2" } })
	T.eq("write_response: list header", table.concat(out), "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n")
	w, out = writer()
	local items = { "hello", "", " world!", ("z"):rep(20) }
	local i = 0
	httpd.write_response(w, 200, function() i = i + 1 return items[i] end)
	T.eq("write_response: chunked", table.concat(out),
		"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n world!\r\n14\r\nzzzzzzzzzzzzzzzzzzzz\r\n0\r\n\r\n")
	w, out = writer()
	httpd.write_response(w, 200, function() return nil end)
	T.eq("write_response: empty chunked", table.concat(out), "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n")
	w, out = writer()
	httpd.write_response(w, 299)
	T.eq("write_response: unknown code, empty reason", table.concat(out), "HTTP/1.1 299 \r\n\r\n")
	w, out = writer()
	httpd.write_response(w, 7)
	T.eq("write_response: code 7 padded to 007", table.concat(out), "HTTP/1.1 007 \r\n\r\n")
	w, out = writer()
	httpd.write_response(w, 200, "", { ["X-N"] = 42, ["X-B"] = true })
	local got = table.concat(out)
	T.ok("write_response: number and boolean header values", got:find("\r\nX-N: 42\r\n", 1, true) and
		got:find("\r\nX-B: true\r\n", 1, true), got)
	w, out = writer()
	local ok, err = httpd.write_response(w, 200, 42)
	T.ok("write_response: a number body is refused before writing", ok == false and #out == 0 and tostring(err):find("body must be", 1, true))
	ok, err = httpd.write_response(function() error(sockethelper.socket_error("write failed fd = 1")) end, 200, "x")
	T.ok("write_response: write failure -> false, socket_error", ok == false and err == sockethelper.socket_error)
end

local function urls()
	local p, q = url.parse("/a%20b+c?x=1&y=%41+B")
	T.eq("url.parse: path decoded", p, "/a b c")
	T.eq("url.parse: query raw", q, "x=1&y=%41+B")
	T.eq("url.parse: no query -> ''", select(2, url.parse "/x"), "")
	T.eq("url.parse: short escape stays", (url.parse "/x%2"), "/x%2")
	T.eq("url.parse: '+' only", (url.parse "/a+b"), "/a b")
	T.eq("url.parse: '%XX' only", (url.parse "/a%41"), "/aA")
	T.deq("url.parse: plain path, empty query after '?'", { url.parse "/plain?" }, { "/plain", "" })
	T.deq("url.parse: only the first '?' splits", { url.parse "/p?a=1?b" }, { "/p", "a=1?b" })
	T.raises("url.parse: %zz raises", "number expected", url.parse, "/%zz")
	T.deq("url.parse_query: decoding", url.parse_query "a+b=c+d&e=%20", { ["a b"] = "c d", e = " " })
	T.deq("url.parse_query: repeated keys", url.parse_query "a=1&a=2&a=3", { a = { "1", "2", "3" } })
	T.deq("url.parse_query: quirks", url.parse_query "a&b=1", { ["a&b"] = "1" })
	T.deq("url.parse_query: x=1&&y=2", url.parse_query "x=1&&y=2", { x = "1", ["&y"] = "2" })
	T.deq("url.parse_query: empty", url.parse_query "", {})
end

local function headers()
	local h = internal.parseheader({ "X Y : v ", "X-Cont: one", "\ttwo", "X-Multi: a", "x-multi: b", "X-MULTI:c", "Empty:" }, 1, {})
	T.eq("parseheader: name kept verbatim, lower-cased", h and h["x y "], "v ")
	T.eq("parseheader: TAB continuation", h and h["x-cont"], "onetwo")
	T.deq("parseheader: repeated -> list", h and h["x-multi"], { "a", "b", "c" })
	T.eq("parseheader: empty value", h and h.empty, "")
	T.eq("parseheader: TAB line first -> nil", internal.parseheader({ "\tx" }, 1, {}), nil)
	T.eq("parseheader: no colon -> nil", internal.parseheader({ "abc" }, 1, {}), nil)
	T.eq("parseheader: bare CR inside -> nil", internal.parseheader({ "a: b\rc" }, 1, {}), nil)
	local lines = {}
	local rest = internal.recvheader(reader { "A: 1\r\n", "B: 2\r\n\r\nbody" }, lines, "")
	T.deq("recvheader: lines and rest", { lines, rest }, { { "A: 1", "B: 2" }, "body" })
	T.eq("recvheader: leading CRLF = empty block", internal.recvheader(reader {}, {}, "\r\nxyz"), "xyz")
	local body, hh = internal.recvchunkedbody(reader { "5\r\nhello\r\n0\r\n\r\n" }, nil, {}, "")
	T.eq("recvchunkedbody: body", body, "hello")
	T.deq("recvchunkedbody: no trailer", hh, {})
	T.eq("recvchunkedbody: size line over 1 KB fails",
		internal.recvchunkedbody(reader { ("0"):rep(2000) }, nil, {}, ""), nil)
end

local function socket_error()
	local e = sockethelper.socket_error
	local x = e("boom")
	T.ok("socket_error: one shared object", x == e)
	T.eq("socket_error: tostring", tostring(x), "[Socket Error] : boom")
	T.eq("socket_error: tostring clears", tostring(x), "[Socket Error]")
	local read = sockethelper.readfunc(0, "abcdef")
	T.eq("readfunc pre: prefix", read(2), "ab")
	T.eq("readfunc pre: rest", read(), "cdef")
end

T.run("test_http", function()
	requests()
	responses()
	urls()
	headers()
	socket_error()
	skynet.sleep(0)
end)

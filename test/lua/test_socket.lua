-- test_socket.lua -- skynet.socket inside a node, both ends in this service
-- (plus svc_sockpeer for hand-overs): listen/open/start forms, exact reads,
-- readline with any separator, readall, block, the return values on a
-- closed connection, write forms, limit, warning, onclose, shutdown,
-- abandon + start in another service, pause, netstat, resolve, header, UDP,
-- and calls on ids that are not open (they answer at once).
local skynet = require "skynet"
local socket = require "skynet.socket"
local driver = require "skynet.socketdriver"
local T = require "testlib"

local accepted = {}
local lid, lip, lport

-- A connected pair: server side (started), client side, peer address text.
local function pair()
	local c = assert(socket.open("127.0.0.1", lport))
	T.waitfor(function() return #accepted > 0 end)
	local a = table.remove(accepted, 1)
	assert(socket.start(a[1]) == a[1])
	return a[1], c, a[2]
end

T.run("test_socket", function()
	-- listen / start / open
	lid, lip, lport = socket.listen("127.0.0.1", 0)
	T.ok("listen returns id, ip, port", math.type(lid) == "integer" and lip == "127.0.0.1" and lport > 0,
		tostring(lip) .. ":" .. tostring(lport))
	local accept_addr
	socket.start(lid, function(fd, addr)
		accept_addr = addr
		accepted[#accepted + 1] = { fd, addr }
	end)
	local l2, ip2, port2 = socket.listen("127.0.0.1:0")
	T.ok("listen accepts \"host:port\"", l2 and ip2 == "127.0.0.1" and port2 > 0)
	socket.close(l2)
	T.raises("listen on a port in use raises Listen error", "Listen error", socket.listen, "127.0.0.1", lport)

	local s, c, addr = pair()
	T.ok("accept callback gets \"ip:port\"", addr:match("^127%.0%.0%.1:%d+$"), addr)
	T.ok("open returns the id", math.type(c) == "integer" and c ~= s)
	local c2 = socket.open("127.0.0.1:" .. lport)
	T.ok("open accepts \"host:port\"", c2)
	T.waitfor(function() return #accepted > 0 end)
	local a2 = table.remove(accepted, 1)
	socket.close_fd(a2[1])
	socket.close(c2)

	local closed_port
	do
		local t, _, p = socket.listen("127.0.0.1", 0)
		socket.close(t)
		closed_port = p
	end
	local id, err = socket.open("127.0.0.1", closed_port)
	T.ok("open to a closed port returns nil, \"Connection refused\"", id == nil and err == "Connection refused",
		tostring(err))

	-- exact reads, read what is there
	socket.write(c, "hello world")
	T.eq("read(fd, 5) returns exactly 5 bytes", socket.read(s, 5), "hello")
	T.eq("read(fd) returns what is buffered", socket.read(s), " world")
	skynet.fork(function()
		skynet.sleep(2)
		socket.write(c, "abc")
		skynet.sleep(2)
		socket.write(c, "defg")
	end)
	T.eq("read(fd, 7) waits across writes", socket.read(s, 7), "abcdefg")

	-- readline, any separator, split across writes
	socket.write(c, "line one\nline two\r")
	skynet.fork(function()
		skynet.sleep(2)
		socket.write(c, "\nrest--")
		skynet.sleep(2)
		socket.write(c, "-END--")
		skynet.sleep(2)
		socket.write(c, "-x")
	end)
	T.eq("readline default separator", socket.readline(s), "line one")
	T.eq("readline \\r\\n split across writes", socket.readline(s, "\r\n"), "line two")
	T.eq("readline multi-byte separator across writes", socket.readline(s, "---"), "rest")
	T.eq("readline: the rest stays buffered", socket.readline(s, "---"), "END")
	T.eq("read after readline", socket.read(s, 1), "x")

	-- write forms
	T.eq("write returns true", socket.write(c, { "ta", "b", "le" }), true)
	T.eq("write of a table of strings", socket.read(s, 5), "table")
	local p, sz = driver.str2p("lightdata")
	socket.write(c, p, sz)
	T.eq("write of lightuserdata + size", socket.read(s, 9), "lightdata")
	socket.lwrite(c, "low")
	T.eq("lwrite delivers", socket.read(s, 3), "low")

	-- block
	skynet.fork(function() skynet.sleep(2) socket.write(c, "B") end)
	T.eq("block returns true when data arrives", socket.block(s), true)
	T.eq("the data is still there after block", socket.read(s), "B")

	-- close: return values on the other side
	socket.write(c, "partial")
	socket.close(c)
	local ok, rest = socket.read(s, 100)
	T.ok("read(fd, n) on close returns false + the partial data", ok == false and rest == "partial", tostring(rest))
	ok, rest = socket.read(s)
	T.ok("read(fd) on a closed empty socket returns false, \"\"", ok == false and rest == "")
	T.eq("readall of a closed socket with nothing buffered is false", socket.readall(s), false)
	T.eq("block on a closed socket is false", socket.block(s), false)
	T.eq("disconnected after the peer closed", socket.disconnected(s), true)
	T.eq("still owned (not invalid) until closed", socket.invalid(s), false)
	socket.close(s)
	T.eq("invalid after close", socket.invalid(s), true)
	T.eq("disconnected is nil for an unowned id", socket.disconnected(s), nil)
	T.eq("write on a closed id returns false", socket.write(s, "x"), false)
	socket.close(s) -- no-op

	s, c = pair()
	socket.write(c, "line\nno newline")
	socket.close(c)
	T.eq("readline returns a complete line", socket.readline(s), "line")
	ok, rest = socket.readline(s)
	T.ok("readline on close returns false + the remainder", ok == false and rest == "no newline", tostring(rest))
	socket.close(s)

	s, c = pair()
	skynet.fork(function()
		socket.write(c, "all ")
		skynet.sleep(2)
		socket.write(c, "of it")
		skynet.sleep(2)
		socket.close(c)
	end)
	T.eq("readall waits for the close and returns everything", socket.readall(s), "all of it")
	socket.close(s)

	-- close while another coroutine reads
	s, c = pair()
	local reader_result
	skynet.fork(function() reader_result = table.pack(socket.read(s, 10)) end)
	skynet.sleep(1)
	socket.write(c, "abc")
	skynet.sleep(2)
	socket.close(s)
	T.ok("close waits for the blocked reader, which gets false + partial",
		reader_result and reader_result[1] == false and reader_result[2] == "abc")
	socket.close(c)

	-- onclose, shutdown
	s, c = pair()
	local closed_id
	socket.onclose(s, function(id) closed_id = id end)
	socket.close(c)
	T.waitfor(function() return closed_id end, 100)
	T.eq("onclose callback gets the id", closed_id, s)
	socket.close(s)

	s, c = pair()
	socket.shutdown(s)
	T.eq("shutdown: the peer sees the connection end", socket.read(c), false)
	socket.close(s)
	socket.close(c)

	-- limit
	s, c = pair()
	socket.limit(s, 1000)
	socket.write(c, string.rep("L", 5000))
	T.eq("limit: a buffer overflow closes the socket", socket.read(c), false)
	T.ok("limit: the overflowing socket is disconnected", T.waitfor(function() return socket.disconnected(s) end, 100))
	socket.close(s)
	socket.close(c)

	-- warning (the client does not read while 16 MiB are written to it:
	-- more than the kernel buffers of a loopback connection hold)
	s, c = pair()
	local warnings = {}
	socket.warning(s, function(id, size) warnings[#warnings + 1] = size end)
	local big = string.rep("W", 16 * 1024 * 1024)
	socket.write(s, big)
	T.ok("warning callback with the KiB queued", T.waitfor(function() return warnings[1] end, 200) and warnings[1] >= 1024,
		tostring(warnings[1]))
	T.ok("16 MiB arrive intact", socket.read(c, #big) == big)
	T.ok("warning callback with 0 once drained",
		T.waitfor(function() return warnings[#warnings] == 0 end, 200), table.concat(warnings, ","))
	socket.close(s)
	socket.close(c)

	-- flow control: 1 MiB arrives with nobody reading, then is read whole
	s, c = pair()
	local mb = string.rep("0123456789abcdef", 65536)
	socket.write(c, mb)
	skynet.sleep(10)
	T.ok("1 MiB read whole after an automatic pause", socket.read(s, #mb) == mb)

	-- pause: nothing is read from the kernel until a reader waits
	socket.pause(s)
	socket.write(c, "after pause")
	skynet.sleep(5)
	local reading
	for _, info in ipairs(socket.netstat()) do
		if info.id == s then reading = info.reading end
	end
	T.eq("netstat shows a paused socket as not reading", reading, false)
	T.eq("a read resumes a paused socket", socket.read(s, 11), "after pause")

	-- netstat
	local found_listen, found_tcp
	for _, info in ipairs(socket.netstat()) do
		if info.id == lid and info.type == "LISTEN" and info.sock == "127.0.0.1:" .. lport and info.accept >= 1 then
			found_listen = true
		end
		if info.id == s and info.type == "TCP" and info.read > 0 and info.address == skynet.self() then
			found_tcp = info.peer
		end
	end
	T.ok("netstat lists the listen socket", found_listen)
	T.ok("netstat lists a TCP socket with its peer", found_tcp and found_tcp:match("^127%.0%.0%.1:%d+$"))

	-- abandon here, start in another service
	local peer = skynet.newservice("svc_sockpeer")
	socket.abandon(s)
	T.eq("abandoned socket is invalid here", socket.invalid(s), true)
	skynet.fork(function() skynet.sleep(5) socket.write(c, "handed over") end)
	T.eq("another service starts the abandoned socket and reads", skynet.call(peer, "lua", "adopt_read", s, 11),
		"handed over")
	T.eq("it writes back on it", socket.read(c, 4), "back")
	socket.close(c)
	T.eq("and sees the close", skynet.call(peer, "lua", "wait_close", s), false)

	-- every call on an id that is not open answers at once (none may wait
	-- forever): run each in its own coroutine and give it 2 s
	local function answer(f, ...)
		local args, res = table.pack(...), nil
		skynet.fork(function() res = table.pack(pcall(f, table.unpack(args, 1, args.n))) end)
		T.waitfor(function() return res end, 200)
		return res
	end
	-- want: table.pack of the expected results
	local function returns(name, want, f, ...)
		local r = answer(f, ...)
		if not r then
			T.fail(name, "no answer within 2 s")
		elseif not r[1] then
			T.fail(name, "raised " .. tostring(r[2]))
		else
			local same = r.n - 1 == want.n
			for i = 1, want.n do
				same = same and r[i + 1] == want[i]
			end
			T.ok(name, same, string.format("returned %d values: %s, %s", r.n - 1, tostring(r[2]), tostring(r[3])))
		end
	end
	local function raises(name, f, ...)
		local r = answer(f, ...)
		T.ok(name, r and not r[1] and tostring(r[2]):find("is not open in this service", 1, true),
			r and tostring(r[2]) or "no answer within 2 s")
	end
	local never, closed = 99999, nil
	do
		local a, b = pair()
		socket.close(b)
		socket.close(a)
		closed = a
	end
	for _, id in ipairs { never, closed } do
		local what = id == never and "never opened" or "closed"
		returns("start on a " .. what .. " id returns nil, \"invalid socket\"", table.pack(nil, "invalid socket"), socket.start, id)
		returns("start with an accept callback on a " .. what .. " id returns nil, \"invalid socket\"",
			table.pack(nil, "invalid socket"), socket.start, id, function() end)
		raises("read on a " .. what .. " id raises a clear error", socket.read, id)
		raises("read(id, n) on a " .. what .. " id raises a clear error", socket.read, id, 10)
		raises("readline on a " .. what .. " id raises a clear error", socket.readline, id)
		raises("readall on a " .. what .. " id raises a clear error", socket.readall, id)
		raises("limit on a " .. what .. " id raises a clear error", socket.limit, id, 10)
		returns("block on a " .. what .. " id returns false", table.pack(false), socket.block, id)
		returns("write on a " .. what .. " id returns false", table.pack(false), socket.write, id, "x")
		returns("lwrite on a " .. what .. " id returns false", table.pack(false), socket.lwrite, id, "x")
		returns("close on a " .. what .. " id returns", table.pack(), socket.close, id)
		returns("shutdown on a " .. what .. " id returns", table.pack(), socket.shutdown, id)
		returns("pause on a " .. what .. " id returns", table.pack(), socket.pause, id)
		returns("abandon on a " .. what .. " id returns", table.pack(), socket.abandon, id)
	end
	T.eq("the failed starts leave no entry behind", socket.invalid(never), true)

	socket.close(lid)
	T.ok("accept_addr seen", accept_addr)

	-- header, resolve
	T.eq("header of 1 byte", socket.header("\x7f"), 127)
	T.eq("header of 2 bytes is big-endian", socket.header("\x01\x02"), 258)
	T.eq("header of 4 bytes", socket.header("\x01\x00\x00\x00"), 16777216)
	T.raises("header of 5 bytes raises", "Invalid read", socket.header, "12345")
	T.raises("header of 0 bytes raises", "Invalid read", socket.header, "")
	local ips = socket.resolve("127.0.0.1")
	T.eq("resolve of an ip literal", ips[1], "127.0.0.1")
	T.raises("resolve of a bad name raises", "no-such-host.invalid", socket.resolve, "no-such-host.invalid")

	-- UDP round trip
	local uport
	do
		local t, _, p = socket.listen("127.0.0.1", 0)
		socket.close(t)
		uport = p
	end
	local got_server, got_client
	local server
	server = socket.udp(function(data, from)
		got_server = { data, from }
		socket.sendto(server, from, "pong:" .. data)
	end, "127.0.0.1", uport)
	local client = socket.udp(function(data, from) got_client = { data, from } end)
	socket.udp_connect(client, "127.0.0.1", uport)
	socket.write(client, "ping")
	T.ok("UDP datagram reaches the bound socket", T.waitfor(function() return got_client end, 200))
	T.eq("server callback gets the payload", got_server and got_server[1], "ping")
	T.eq("client gets the reply sent with sendto", got_client and got_client[1], "pong:ping")
	local uip, up = socket.udp_address(got_client[2])
	T.ok("udp_address decodes the sender", uip == "127.0.0.1" and up == uport, tostring(uip) .. ":" .. tostring(up))
	T.eq("a 7-byte address blob for IPv4", #got_client[2], 7)
	got_client = nil
	local dial = socket.udp_dial("127.0.0.1", uport, function(data) got_client = { data } end)
	socket.write(dial, "dial")
	T.ok("udp_dial socket talks to its peer", T.waitfor(function() return got_client end, 200) and got_client[1] == "pong:dial")
	local listen_u = socket.udp_listen("127.0.0.1", 0, function() end)
	T.ok("udp_listen returns an id", math.type(listen_u) == "integer")
	T.raises("udp_address of garbage raises", "Invalid udp address", socket.udp_address, "xx")
	socket.close(server)
	socket.close(client)
	socket.close(dial)
	socket.close(listen_u)
	skynet.send(peer, "lua", "exit")
end)

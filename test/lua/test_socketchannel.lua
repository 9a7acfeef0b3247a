-- test_socketchannel.lua -- skynet.socketchannel against a real TCP peer in
-- the node (svc_sc_server): order and session modes, auth on every
-- (re)connect, errors reaching every waiter when the peer closes,
-- reconnect on the next request, connect(false) retrying, backups,
-- changehost, close, padding, overload.
local skynet = require "skynet"
local sc = require "skynet.socketchannel"
local T = require "testlib"

local server, port

local function line_reader(sock)
	return true, sock:readline()
end

local auth_failures = 0

-- order-mode auth: read the greeting, send the secret
local function order_auth(secret)
	return function(ch)
		local hello = ch:response(line_reader)
		assert(hello:match("^HELLO %d+$"), "unexpected greeting " .. tostring(hello))
		local r = ch:request("auth " .. secret .. "\n", line_reader)
		if r ~= "OK" then
			auth_failures = auth_failures + 1
			error("auth refused: " .. tostring(r))
		end
	end
end

local function order_channel(p, extra)
	local desc = { host = "127.0.0.1", port = p or port, auth = order_auth("sesame"), nodelay = true }
	for k, v in pairs(extra or {}) do desc[k] = v end
	return sc.channel(desc)
end

local function session_reader(sock)
	local line = sock:readline()
	local sid, flag, text = line:match("^(%d+) (%S) ?(.*)$")
	if not sid then
		return 0, true, line -- greeting / auth answer
	end
	return tonumber(sid), flag ~= "-", text, flag == "P"
end

local function session_channel(p)
	return sc.channel {
		host = "127.0.0.1",
		port = p or port,
		response = session_reader,
		auth = function(ch)
			ch:response(0) -- greeting
			local r = ch:request("auth sesame\n", 0)
			assert(r == "OK", "auth refused")
		end,
	}
end

local function stats()
	return skynet.call(server, "lua", "stats")
end

-- Runs f(i) in n coroutines; returns the results (or error objects) by i
-- and the order in which they finished.
local function concurrently(n, f)
	local results, finished = {}, {}
	local left = n
	local main = coroutine.running()
	for i = 1, n do
		skynet.fork(function()
			local ok, r = pcall(f, i)
			results[i] = ok and r or { err = r }
			finished[#finished + 1] = i
			left = left - 1
			if left == 0 then skynet.wakeup(main) end
		end)
	end
	skynet.wait(main)
	return results, finished
end

local function closed_port()
	local s = skynet.newservice("svc_sc_server")
	local p = skynet.call(s, "lua", "start")
	skynet.send(s, "lua", "exit")
	skynet.sleep(5)
	return p
end

local function test_order()
	local ch = order_channel()
	T.eq("order: connect(true) returns true", ch:connect(true), true)
	T.eq("order: auth ran on connect", stats().authed, 1)
	T.eq("order: request returns the reader's data", ch:request("echo hello\n", line_reader), "hello")
	T.eq("order: a request may be a table of strings", ch:request({ "ec", "ho ", "parts\n" }, line_reader), "parts")
	T.eq("order: padding parts follow the request", ch:request("echo a", line_reader, { "b", "c\n" }), "abc")

	-- many coroutines, replies with different delays: each its own, in order
	local results, finished = concurrently(20, function(i)
		return ch:request(string.format("delay %d r%d\n", (i * 7) % 5, i), line_reader)
	end)
	local all = true
	for i = 1, 20 do
		if results[i] ~= "r" .. i then all = false end
	end
	T.ok("order: 20 concurrent requests each get their own reply", all)
	local inorder = true
	for i = 1, 20 do
		if finished[i] ~= i then inorder = false end
	end
	T.ok("order: replies are delivered in request order", inorder)

	-- a reader returning false, msg raises msg in its requester only
	T.raises("order: reader returning false raises its message", "refused by reader",
		ch.request, ch, "echo x\n", function(sock)
			sock:readline()
			return false, "refused by reader"
		end)
	T.eq("order: the channel is still usable after a false reply", ch:request("echo still\n", line_reader), "still")

	-- write only, then wait for unsolicited data
	ch:request("push twice\n")
	T.eq("order: request without a reader only writes", ch:response(line_reader), "twice")
	T.eq("order: response() reads an unsolicited reply", ch:response(line_reader), "twice")
	T.eq("order: still one connection", stats().accepted, 1)

	-- the peer closes with requests pending: every waiter gets sc.error
	results = concurrently(5, function(i)
		if i == 1 then
			return ch:request("close\n", line_reader)
		end
		return ch:request("echo never" .. i .. "\n", line_reader)
	end)
	local allerr = true
	for i = 1, 5 do
		if type(results[i]) ~= "table" or results[i].err ~= sc.error then allerr = false end
	end
	T.ok("order: a dropped connection fails every waiter with sc.error", allerr)
	T.eq("order: sc.error prints as [Error: socket]", tostring(sc.error), "[Error: socket]")
	T.eq("order: the next request reconnects", ch:request("echo back\n", line_reader), "back")
	local st = stats()
	T.ok("order: reconnect opened a new connection and ran auth again", st.accepted == 2 and st.authed == 2,
		string.format("accepted %d authed %d", st.accepted, st.authed))

	-- the peer closes while the channel is idle: the next request must not fail
	skynet.call(server, "lua", "kill_all")
	skynet.sleep(10)
	T.eq("order: a connection closed while idle is replaced transparently",
		ch:request("echo idle\n", line_reader), "idle")

	-- a reader raising: that requester gets the error, the rest sc.error
	results = concurrently(3, function(i)
		if i == 1 then
			return ch:request("echo boom\n", function(sock)
				sock:readline()
				error("reader exploded")
			end)
		end
		return ch:request("delay 5 later" .. i .. "\n", line_reader)
	end)
	T.ok("order: a raising reader's requester gets its error",
		type(results[1]) == "table" and tostring(results[1].err):find("reader exploded", 1, true))
	T.ok("order: the others waiting get sc.error",
		type(results[2]) == "table" and results[2].err == sc.error and results[3].err == sc.error)
	T.eq("order: and the channel works again", ch:request("echo again\n", line_reader), "again")

	-- server down: request raises sc.error; server back: works again
	skynet.call(server, "lua", "stop")
	skynet.call(server, "lua", "kill_all")
	skynet.sleep(5)
	local ok, err = pcall(ch.request, ch, "echo x\n", line_reader)
	T.ok("order: with the server down a request raises sc.error", not ok and err == sc.error, tostring(err))
	T.ok("order: the failure reason is kept", (ch:last_error() or ""):find("127.0.0.1:" .. port, 1, true),
		tostring(ch:last_error()))
	skynet.call(server, "lua", "start", port)
	T.eq("order: server back, the next request connects", ch:request("echo up\n", line_reader), "up")

	-- connect(false) retries until the server comes back
	skynet.call(server, "lua", "stop")
	skynet.call(server, "lua", "kill_all")
	skynet.sleep(5)
	skynet.timeout(60, function() skynet.call(server, "lua", "start", port) end)
	local t0 = skynet.now()
	local ch2 = order_channel()
	T.eq("order: connect(false) retries until the server is back", ch2:connect(false), true)
	T.ok("order: ... which took a while", skynet.now() - t0 >= 40, tostring(skynet.now() - t0))
	T.eq("order: and then works", ch2:request("echo retried\n", line_reader), "retried")
	ch2:close()

	-- close: waiters get sc.error, later requests raise
	results = concurrently(2, function(i)
		if i == 2 then
			skynet.sleep(2)
			ch:close()
			return "closed"
		end
		return ch:request("delay 50 slow\n", line_reader)
	end)
	T.ok("order: close() fails a waiting request with sc.error",
		type(results[1]) == "table" and results[1].err == sc.error)
	ok, err = pcall(ch.request, ch, "echo x\n", line_reader)
	T.ok("order: a request on a closed channel raises sc.error", not ok and err == sc.error)
	T.eq("order: connect() reopens a closed channel", ch:connect(true), true)
	T.eq("order: ... and it works", ch:request("echo reopened\n", line_reader), "reopened")
	ch:close()
end

local function test_auth_and_hosts()
	local bad = order_channel(nil, { auth = order_auth("wrong") })
	T.raises("auth: a failing auth raises its own error from connect", "auth refused: DENIED", bad.connect, bad, true)
	T.raises("auth: ... also from connect(false) (no endless retry)", "auth refused", bad.connect, bad, false)

	local dead = closed_port()
	local ch = order_channel(dead)
	local ok, err = pcall(ch.connect, ch, true)
	T.ok("connect(true) to a closed port raises sc.error", not ok and err == sc.error, tostring(err))

	ch = order_channel(dead, { backup = { "127.0.0.1:" .. port } })
	T.eq("backup: connects to a backup when the host is down", ch:connect(true), true)
	T.eq("backup: ... and talks to it", ch:request("echo via backup\n", line_reader), "via backup")
	ch:close()

	ch = order_channel(dead)
	ch:changebackup({ { host = "127.0.0.1", port = port } })
	T.eq("changebackup: table entries work", ch:request("echo tb\n", line_reader), "tb")
	ch:close()

	-- changehost moves the next request to another server
	local other = skynet.newservice("svc_sc_server")
	local oport = skynet.call(other, "lua", "start")
	ch = order_channel()
	T.eq("changehost: first server", ch:request("echo one\n", line_reader), "one")
	local before = skynet.call(other, "lua", "stats").accepted
	ch:changehost("127.0.0.1", oport)
	T.eq("changehost: the next request goes to the new host", ch:request("echo two\n", line_reader), "two")
	T.eq("changehost: the new server got the connection", skynet.call(other, "lua", "stats").accepted, before + 1)
	ch:close()
	skynet.send(other, "lua", "exit")
end

local function test_session()
	local ch = session_channel()
	T.eq("session: connect", ch:connect(true), true)
	T.eq("session: request by session", ch:request("s 1 echo hi\n", 1), "hi")
	local results, finished = concurrently(10, function(i)
		return ch:request(string.format("s %d delay %d v%d\n", 100 + i, (11 - i) * 2, i), 100 + i)
	end)
	local all = true
	for i = 1, 10 do
		if results[i] ~= "v" .. i then all = false end
	end
	T.ok("session: 10 concurrent requests each get their own reply", all)
	T.ok("session: replies come back in the server's order, not the request order",
		finished[1] == 10 and finished[10] == 1, table.concat(finished, ","))
	T.raises("session: ok=false raises the data", "server said no", ch.request, ch, "s 2 fail server said no\n", 2)
	local parts = ch:request("s 3 parts 4\n", 3)
	T.ok("session: padding parts are collected into one array",
		type(parts) == "table" and #parts == 4 and parts[1] == "part1" and parts[4] == "last")
	T.eq("session: a reply to an unknown session is skipped", ch:request("s 4 bogus\n", 4), "after")

	results = concurrently(4, function(i)
		if i == 4 then
			skynet.sleep(5)
			skynet.call(server, "lua", "kill_all")
			return "killed"
		end
		return ch:request(string.format("s %d delay 300 x\n", 10 + i), 10 + i)
	end)
	local allerr = true
	for i = 1, 3 do
		if type(results[i]) ~= "table" or results[i].err ~= sc.error then allerr = false end
	end
	T.ok("session: the peer closing fails every waiter with sc.error", allerr)
	T.eq("session: the next request reconnects", ch:request("s 5 echo again\n", 5), "again")
	ch:close()
end

local function test_overload()
	local events = {}
	local ch = order_channel(nil, { overload = function(on) events[#events + 1] = on end })
	ch:connect(true)
	ch:request("sink\n")
	skynet.sleep(5)
	-- the server no longer reads: 32 MiB will not fit in the kernel buffers
	local chunk = string.rep("z", 1024 * 1024)
	for _ = 1, 32 do
		ch:request("big " .. chunk)
	end
	ch:request("\n")
	T.ok("overload: overload(true) when the write buffer backs up",
		T.waitfor(function() return events[1] == true end, 500), tostring(events[1]))
	skynet.call(server, "lua", "drain")
	T.ok("overload: overload(false) once it drains",
		T.waitfor(function() return events[2] == false end, 1000), tostring(events[2]))
	T.eq("overload: the channel still answers", ch:request("echo drained\n", line_reader), "drained")
	ch:close()
end

T.run("test_socketchannel", function()
	server = skynet.newservice("svc_sc_server")
	port = skynet.call(server, "lua", "start")
	test_order()
	test_auth_and_hosts()
	test_session()
	test_overload()
	skynet.send(server, "lua", "exit")
end, 6000)

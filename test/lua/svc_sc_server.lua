-- svc_sc_server.lua -- helper for test_socketchannel.lua: a small TCP
-- server speaking a line protocol, driven by lua commands.
--
-- Every connection first gets "HELLO <n>\n" (n = connection count).  Then
-- lines from the client:
--   auth <secret>        -> "OK" or "DENIED" (then the server closes)
--   echo <text>          -> "<text>"
--   delay <cs> <text>    -> sleeps, then "<text>"      (order: in sequence)
--   close                -> closes the connection without a reply
--   push <text>          -> "<text>" twice (the second is unsolicited)
--   sink                 -> stops reading this connection (until "drain")
--   s <session> <cmd...> -> session mode: handled in its own coroutine,
--                           replies "<session> <flag> <text>", flag "+" ok,
--                           "-" error, "P" a part with more to come:
--     s <id> echo <text>        -> "<id> + <text>"
--     s <id> delay <cs> <text>  -> after cs: "<id> + <text>"
--     s <id> fail <text>        -> "<id> - <text>"
--     s <id> parts <n>          -> n-1 lines "<id> P part<i>" and "<id> + last"
--     s <id> bogus              -> "9999 + orphan" then "<id> + after"
-- Lua commands: start(port?) -> port, kill_all(), stop() (close the
-- listener), stats() -> {accepted, authed, lines, bytes}, drain(), exit().
local skynet = require "skynet"
local socket = require "skynet.socket"

local SECRET = "sesame"

local listen_id
local port
local conns = {}
local stats = { accepted = 0, authed = 0, lines = 0, bytes = 0 }
local sinks = {}

local function reply(fd, line)
	socket.write(fd, line .. "\n")
end

local function session_cmd(fd, sid, cmd, rest)
	if cmd == "echo" then
		reply(fd, sid .. " + " .. rest)
	elseif cmd == "delay" then
		local cs, text = rest:match("^(%d+) (.*)$")
		skynet.sleep(tonumber(cs))
		if conns[fd] then
			reply(fd, sid .. " + " .. text)
		end
	elseif cmd == "fail" then
		reply(fd, sid .. " - " .. rest)
	elseif cmd == "parts" then
		local n = tonumber(rest)
		for i = 1, n - 1 do
			reply(fd, sid .. " P part" .. i)
			skynet.sleep(1)
		end
		reply(fd, sid .. " + last")
	elseif cmd == "bogus" then
		reply(fd, "9999 + orphan")
		reply(fd, sid .. " + after")
	end
end

local function serve(fd)
	stats.accepted = stats.accepted + 1
	reply(fd, "HELLO " .. stats.accepted)
	while conns[fd] do
		local line = socket.readline(fd)
		if not line then
			break
		end
		stats.lines = stats.lines + 1
		stats.bytes = stats.bytes + #line + 1
		local cmd, rest = line:match("^(%S+) ?(.*)$")
		if cmd == "auth" then
			if rest == SECRET then
				stats.authed = stats.authed + 1
				reply(fd, "OK")
			else
				reply(fd, "DENIED")
				break
			end
		elseif cmd == "echo" then
			reply(fd, rest)
		elseif cmd == "delay" then
			local cs, text = rest:match("^(%d+) (.*)$")
			skynet.sleep(tonumber(cs))
			reply(fd, text)
		elseif cmd == "close" then
			break
		elseif cmd == "push" then
			reply(fd, rest)
			reply(fd, rest)
		elseif cmd == "sink" then
			local co = coroutine.running()
			sinks[#sinks + 1] = co
			socket.pause(fd)
			skynet.wait(co)
		elseif cmd == "s" then
			local sid, scmd, srest = rest:match("^(%d+) (%S+) ?(.*)$")
			skynet.fork(session_cmd, fd, sid, scmd, srest)
		elseif cmd == "big" then
			-- a long line: count it, no reply
		end
	end
	conns[fd] = nil
	socket.close(fd)
end

local CMD = {}

function CMD.start(want)
	local id, _, p = socket.listen("127.0.0.1", want or 0)
	listen_id, port = id, p
	socket.start(id, function(fd)
		conns[fd] = true
		socket.start(fd)
		skynet.fork(serve, fd)
	end)
	return port
end

function CMD.stop()
	if listen_id then
		socket.close(listen_id)
		listen_id = nil
	end
end

function CMD.kill_all()
	local fds = {}
	for fd in pairs(conns) do
		fds[#fds + 1] = fd
	end
	for _, fd in ipairs(fds) do
		conns[fd] = nil
		socket.close(fd)
	end
end

function CMD.stats()
	return stats
end

function CMD.drain()
	local s = sinks
	sinks = {}
	for _, co in ipairs(s) do
		skynet.wakeup(co)
	end
end

function CMD.exit()
	CMD.stop()
	CMD.kill_all()
	skynet.exit()
end

skynet.start(function()
	skynet.dispatch("lua", function(session, _, cmd, ...)
		local f = assert(CMD[cmd], "svc_sc_server: unknown command " .. tostring(cmd))
		if session ~= 0 then
			skynet.ret(skynet.pack(f(...)))
		else
			f(...)
		end
	end)
end)

-- watchdog: owns the gate of the KV database example and one agent per
-- client.  Lua commands: start(conf) -> ip, port (opens the gate with conf);
-- close(fd) (an agent gives up its client).  It receives the gate's
-- notifications ("socket", "open"/"close"/"error"/"warning"/"data", ...).
-- The gate logs bad connections itself, so the watchdog stays quiet.
local skynet = require "skynet"

local CMD = {}
local SOCKET = {}
local gate
local agent = {} -- fd -> agent address; false while the agent is being made

local function close_agent(fd)
	local a = agent[fd]
	agent[fd] = nil
	if a ~= nil then
		skynet.call(gate, "lua", "kick", fd)
		if a then
			skynet.send(a, "lua", "disconnect")
		end
	end
end

function SOCKET.open(fd, addr)
	agent[fd] = false
	local a = skynet.newservice("agent")
	if agent[fd] ~= false then
		-- the client left while the agent was starting
		skynet.send(a, "lua", "disconnect")
		return
	end
	agent[fd] = a
	local ok = pcall(skynet.call, a, "lua", "start", { gate = gate, client = fd, watchdog = skynet.self(), addr = addr })
	if not ok and agent[fd] == a then
		close_agent(fd)
	end
end

function SOCKET.close(fd)
	close_agent(fd)
end

function SOCKET.error(fd, msg)
	-- logged by the gate; the "close" that always follows cleans up
end

function SOCKET.warning(fd, size)
	-- size K bytes have not been sent to fd yet: nothing to do here
end

function SOCKET.data(fd, msg)
	-- only for connections in "accept" mode, which this example never uses
end

function CMD.start(conf)
	return skynet.call(gate, "lua", "open", conf)
end

function CMD.close(fd)
	close_agent(fd)
end

skynet.start(function()
	skynet.dispatch("lua", function(session, source, cmd, subcmd, ...)
		if cmd == "socket" then
			local f = SOCKET[subcmd]
			if f then
				f(...)
			end
			-- socket notifications are sent, never called: no reply
		else
			local f = CMD[cmd]
			if not f then
				error(string.format("watchdog: unknown command %s", tostring(cmd)))
			end
			skynet.ret(skynet.pack(f(subcmd, ...)))
		end
	end)
	gate = skynet.newservice("gate")
end)

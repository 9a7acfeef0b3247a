-- watchdog: owns the gate of the KV database example and one agent per
-- client.
--   Lua commands: start(conf) -> ip, port (opens the gate with conf);
--                 close(fd) (an agent's client asked to quit).
--   Gate notifications ("socket", event, ...): open, close, error, warning.
-- An agent is retired by kicking its connection at the gate, then sending
-- it "disconnect" (it exits).
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
	skynet.error("New client from : " .. addr)
	agent[fd] = false
	local a = skynet.newservice("agent")
	if agent[fd] ~= false then
		-- the client left while the agent was starting
		skynet.send(a, "lua", "disconnect")
		return
	end
	agent[fd] = a
	local ok, err = pcall(skynet.call, a, "lua", "start", { gate = gate, client = fd, watchdog = skynet.self() })
	if not ok then
		skynet.error(string.format("watchdog: agent %s could not start on connection %d: %s",
			skynet.address(a), fd, tostring(err)))
		if agent[fd] == a then
			close_agent(fd)
		end
	end
end

function SOCKET.close(fd)
	print("socket close", fd)
	close_agent(fd)
end

function SOCKET.error(fd, msg)
	print("socket error", fd, msg)
	close_agent(fd)
end

function SOCKET.warning(fd, size)
	-- size K bytes are waiting to be sent to fd
	print("socket warning", fd, size)
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
			-- notifications are sent, never called: no reply
			local f = SOCKET[subcmd]
			if f then
				f(...)
			end
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

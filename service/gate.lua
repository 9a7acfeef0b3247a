-- gate: the standard Lua gate service, built on snax.gateserver
-- (upstream's commands and watchdog notifications).
--
--   local gate = skynet.newservice "gate"
--   skynet.call(gate, "lua", "open", { port = 8888, maxclient = 64, watchdog = ... })
--
-- Commands: open(conf) -> ip, port; close(); forward(fd, client?, address?);
-- accept(fd); kick(fd).  forward and accept reply once the socket thread
-- has started reading the connection, so the caller may write to it then.  Notifications to the watchdog, all
-- skynet.send(watchdog, "lua", "socket", <event>, ...): "open", fd, addr |
-- "close", fd | "error", fd, msg | "warning", fd, sizeK | "data", fd, frame
-- (only for connections in accept mode).  Frames of forwarded connections
-- go to their agent as PTYPE_CLIENT messages: session = fd, source = the
-- client handle (or the gate), payload = the frame body (not copied).
-- A connection is read only while its agent (the watchdog in accept mode)
-- has a bounded backlog (gateserver.sink).
local skynet = require "skynet"
local gateserver = require "snax.gateserver"

local watchdog
local connection = {} -- fd -> { fd, ip, agent?, client? }

skynet.register_protocol {
	name = "client",
	id = skynet.PTYPE_CLIENT,
}

local handler = {}

function handler.open(source, conf)
	watchdog = conf.watchdog or source
	return conf.address, conf.port
end

function handler.message(fd, msg, sz)
	local c = connection[fd]
	local agent = c and c.agent
	if agent then
		-- the agent owns msg from now on
		skynet.redirect(agent, c.client, "client", fd, msg, sz)
	else
		skynet.send(watchdog, "lua", "socket", "data", fd, skynet.tostring(msg, sz))
		skynet.trash(msg, sz)
	end
end

function handler.connect(fd, addr)
	connection[fd] = { fd = fd, ip = addr }
	skynet.send(watchdog, "lua", "socket", "open", fd, addr)
end

local function close_fd(fd)
	connection[fd] = nil
end

function handler.disconnect(fd)
	close_fd(fd)
	gateserver.closeclient(fd) -- release the socket even if nobody kicks it
	skynet.send(watchdog, "lua", "socket", "close", fd)
end

function handler.error(fd, msg)
	close_fd(fd)
	skynet.send(watchdog, "lua", "socket", "error", fd, msg)
end

function handler.warning(fd, size)
	skynet.send(watchdog, "lua", "socket", "warning", fd, size)
end

local CMD = {}

local function get_connection(fd)
	local c = connection[fd]
	if not c then
		error(string.format("gate: no connection %s", tostring(fd)))
	end
	return c
end

function CMD.forward(source, fd, client, address)
	local c = get_connection(fd)
	c.client = client or 0
	c.agent = address or source
	gateserver.sink(fd, c.agent) -- read fd only while the agent keeps up
	gateserver.openclient(fd, true) -- reply once the client is writable
end

function CMD.accept(source, fd)
	local c = get_connection(fd)
	c.agent = nil
	c.client = nil
	gateserver.sink(fd, watchdog) -- frames become "data" notifications
	gateserver.openclient(fd, true)
end

function CMD.kick(source, fd)
	gateserver.closeclient(fd)
end

function handler.command(cmd, source, ...)
	local f = CMD[cmd]
	if not f then
		error(string.format("gate: unknown command %s", tostring(cmd)))
	end
	return f(source, ...)
end

gateserver.start(handler)

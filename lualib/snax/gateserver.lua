-- snax.gateserver: the skeleton of a Lua gate (upstream's API).  It owns
-- one listen socket and the accepted connections, cuts their byte
-- streams into 2-byte-length frames with
-- skynet.netpack, and calls a handler:
--
--   handler.connect(fd, "ip:port")   required: a connection was accepted
--                                    (not read until openclient(fd))
--   handler.message(fd, ptr, sz)     required: one frame; ptr is malloc'd
--                                    and must be freed or passed on
--   handler.open(source, conf)       optional; its results answer "open"
--   handler.disconnect(fd)           optional: closed by the peer or kicked
--   handler.error(fd, msg)           optional: socket error or bad frame
--   handler.warning(fd, sizeK)       optional: output buffer warning
--   handler.command(cmd, source, ...) optional: every other lua command
--   handler.embed                    true: the caller runs skynet.start
--
-- Lua commands handled here: open(conf), close().  conf: address
-- ("0.0.0.0"), port, maxclient (1024), nodelay, backlog (32) and
-- maxpacket: the longest frame body accepted, 1..65535 (default 65535);
-- a client announcing a longer one loses its connection (one log line).
--
-- A connection is in `connection` from accept to close: true while open,
-- false once the peer has closed but nobody called closeclient yet.  Each
-- accepted connection gets exactly one handler.disconnect, preceded by
-- handler.error when it ended with an error.
local skynet = require "skynet"
local netpack = require "skynet.netpack"
local socketdriver = require "skynet.socketdriver"

local string_format = string.format

local gateserver = {}

local socket      -- listen socket id
local queue       -- netpack queue
local maxclient   -- see conf.maxclient
local maxpacket   -- see conf.maxpacket
local client_number = 0
local nodelay = false
local connection = {}
local alive = {}   -- fd -> true from accept until its close/error is handled

local reading = {}  -- fd -> true once the socket thread has started reading it
local dropped = {}  -- fd -> true once a frame of the closed fd was dropped (logged once)
local starting = {} -- fd -> coroutines waiting in openclient(fd, true)

-- Starts reading fd (accepted, not read yet).  With `wait`, returns only
-- once the socket thread has started it (or the connection is gone):
-- until then the socket is not writable and socket.write to it is lost.
function gateserver.openclient(fd, wait)
	if connection[fd] then
		socketdriver.start(fd)
		if wait and not reading[fd] then
			local co = coroutine.running()
			local list = starting[fd]
			if list then
				list[#list + 1] = co
			else
				starting[fd] = { co }
			end
			skynet.wait(co)
		end
	end
end

-- The socket thread confirmed reading (started = true) or fd is gone.
local function wake_starting(fd, started)
	reading[fd] = started or nil
	local list = starting[fd]
	if list then
		starting[fd] = nil
		for _, co in ipairs(list) do
			skynet.wakeup(co)
		end
	end
end

-- Backpressure: frames of fd go on to service `address` (a handle); the
-- socket layer reads fd only while that service's backlog (mailbox plus
-- requests it took and has not finished) leaves room, so a client that
-- pipelines faster than its agent answers waits in its own TCP window
-- instead of in the node's memory.
function gateserver.sink(fd, address)
	if connection[fd] and math.type(address) == "integer" then
		socketdriver.sink(fd, address)
	end
end

-- Closes fd; its "close" follows as handler.disconnect unless the peer
-- had closed first (then it came already).
function gateserver.closeclient(fd)
	local c = connection[fd]
	if c ~= nil then
		connection[fd] = nil
		socketdriver.close(fd)
	end
end

function gateserver.start(handler)
	assert(handler.message, "gateserver: handler.message is required")
	assert(handler.connect, "gateserver: handler.connect is required")

	local listen_context = {}
	local CMD = {}

	function CMD.open(source, conf)
		assert(not socket, "gateserver: already open")
		local address = conf.address or "0.0.0.0"
		local port = assert(conf.port, "gateserver: conf.port is required")
		maxclient = conf.maxclient or 1024
		maxpacket = conf.maxpacket or 65535
		nodelay = conf.nodelay
		skynet.error(string_format("Listen on %s:%d", address, port))
		socket = socketdriver.listen(address, port, conf.backlog)
		listen_context.co = coroutine.running()
		listen_context.fd = socket
		skynet.wait(listen_context.co)
		conf.address = listen_context.addr
		conf.port = listen_context.port
		listen_context = nil
		socketdriver.start(socket)
		if handler.open then
			return handler.open(source, conf)
		end
	end

	function CMD.close()
		assert(socket, "gateserver: not open")
		socketdriver.close(socket)
	end

	local MSG = {}

	-- Frames of a connection that is gone are dropped unprocessed; the
	-- first one is logged (a pipelining client can leave thousands).
	local function dispatch_msg(fd, msg, sz)
		if connection[fd] then
			handler.message(fd, msg, sz)
		elseif dropped[fd] then
			skynet.trash(msg, sz)
		else
			dropped[fd] = true
			skynet.error(string_format("Drop message from fd (%d) : %s", fd, netpack.tostring(msg, sz)))
		end
	end

	MSG.data = dispatch_msg

	local function dispatch_queue()
		local fd, msg, sz = netpack.pop(queue)
		if fd then
			-- handle the rest in a new coroutine: the handler may block
			skynet.fork(dispatch_queue)
			dispatch_msg(fd, msg, sz)
			for fd2, msg2, sz2 in netpack.pop, queue do
				dispatch_msg(fd2, msg2, sz2)
			end
		end
	end

	MSG.more = dispatch_queue

	function MSG.open(fd, addr)
		client_number = client_number + 1
		alive[fd] = true
		if client_number >= maxclient then
			-- over capacity: the CLOSE that follows counts it down again
			socketdriver.shutdown(fd)
			return
		end
		if nodelay then
			socketdriver.nodelay(fd)
		end
		connection[fd] = true
		handler.connect(fd, addr)
	end

	-- Every accepted connection ends here exactly once.
	local function finish(fd)
		wake_starting(fd, false)
		dropped[fd] = nil
		if not alive[fd] then
			return
		end
		alive[fd] = nil
		client_number = client_number - 1
		if handler.disconnect then
			handler.disconnect(fd)
		end
	end

	function MSG.close(fd, partial)
		if fd == socket then
			socket = nil
			return
		end
		if partial then
			skynet.error(string_format("gate: connection %d closed in the middle of a frame (%s received)", fd, partial))
		end
		if connection[fd] then
			connection[fd] = false -- the peer is gone; closeclient releases it
		end
		finish(fd)
	end

	-- A socket error (the socket layer has closed it) or a frame over
	-- maxpacket (still open: shut it down).  handler.error, then
	-- handler.disconnect; a CLOSE arriving later is ignored.
	function MSG.error(fd, msg)
		if fd == socket then
			skynet.error("gateserver accept error:", msg)
			return
		end
		if not alive[fd] then
			return
		end
		skynet.error(string_format("gate: connection %d: %s; closing it", fd, msg))
		socketdriver.shutdown(fd)
		connection[fd] = nil
		if handler.error then
			handler.error(fd, msg)
		end
		finish(fd)
	end

	function MSG.warning(fd, size)
		if handler.warning then
			handler.warning(fd, size)
		end
	end

	-- CONNECT: the listen socket is ready, or a connection started reading.
	function MSG.init(id, addr, port)
		if id ~= socket then
			if alive[id] then
				wake_starting(id, true)
			end
		elseif listen_context and listen_context.fd == id then
			local co = listen_context.co
			if co then
				listen_context.co = nil
				listen_context.addr = addr
				listen_context.port = port
				skynet.wakeup(co)
			end
		end
	end

	skynet.register_protocol {
		name = "socket",
		id = skynet.PTYPE_SOCKET,
		unpack = function(msg, sz)
			return netpack.filter(queue, msg, sz, maxpacket)
		end,
		dispatch = function(_, _, q, type, ...)
			queue = q
			if type then
				MSG[type](...)
			end
		end,
	}

	local function init()
		skynet.dispatch("lua", function(_, address, cmd, ...)
			local f = CMD[cmd]
			if f then
				skynet.ret(skynet.pack(f(address, ...)))
			elseif handler.command then
				skynet.ret(skynet.pack(handler.command(cmd, address, ...)))
			else
				error(string_format("gateserver: unknown command %s", tostring(cmd)))
			end
		end)
	end

	if handler.embed then
		init()
	else
		skynet.start(init)
	end
end

return gateserver

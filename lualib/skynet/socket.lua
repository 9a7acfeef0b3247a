-- skynet.socket: coroutine-blocking TCP/UDP sockets for Lua services
-- (upstream's API).
--
-- Requiring this module registers the "socket" protocol (PTYPE_SOCKET) in
-- the service.  Every socket the service owns has an entry in `pool`:
--
--   id          socket id
--   buffer      receive buffer (socketdriver userdata); nil for listen/UDP
--   connected   true once CONNECT arrived, false after CLOSE/ERROR
--   connecting  true while waiting for CONNECT; the error text if it failed
--   co          the coroutine blocked reading (at most one)
--   want        what that reader waits for: a byte count (0 = anything),
--               a line separator, or true (everything, until close)
--   callback    accept callback (listen) or datagram callback (UDP)
--   paused      nil: reading; true: paused by flow control or socket.pause;
--               false: closing, never resume
--   closing     coroutine waiting in socket.close for the reader to finish
--   limit       socket.limit() threshold
--   on_warning  socket.warning() callback
local skynet = require "skynet"
local driver = require "skynet.socketdriver"

local assert, error, type, tonumber = assert, error, type, tonumber
local string_format = string.format
local coroutine_running = coroutine.running

local socket = {}

local pool = {}
local onclose = {}

-- More than this many unread bytes pause the socket until a reader waits.
local FLOW_LIMIT = 128 * 1024

-- socket object ---------------------------------------------------------------

local function wakeup(s)
	local co = s.co
	if co then
		s.co = nil
		skynet.wakeup(co)
	end
end

-- Blocks the calling coroutine until wakeup(s).  A socket paused by flow
-- control is resumed first: somebody is reading again.
local function suspend(s)
	assert(not s.co, "socket: another coroutine is already reading this socket")
	s.co = coroutine_running()
	if s.paused then
		skynet.error(string_format("Resume socket (%d)", s.id))
		driver.start(s.id)
		skynet.wait(s.co)
		s.paused = nil
	else
		skynet.wait(s.co)
	end
	s.want = nil
	-- socket.close() may be waiting for this reader to finish
	if s.closing then
		skynet.wakeup(s.closing)
	end
end

local function pause_socket(s, size)
	if s.paused ~= nil then
		return
	end
	if size then
		skynet.error(string_format("Pause socket (%d) size : %d", s.id, size))
	else
		skynet.error(string_format("Pause socket (%d)", s.id))
	end
	driver.pause(s.id)
	s.paused = true
	skynet.yield() -- let socket messages already queued be handled
end

local function default_warning(id, size)
	if size > 0 then
		skynet.error(string_format("WARNING: %d K bytes need to send out (fd = %d)", size, id))
	end
end

-- socket messages -----------------------------------------------------------

local handler = {}

-- DATA
handler[1] = function(id, size, data)
	local s = pool[id]
	if s == nil or s.buffer == nil then
		skynet.error("socket: drop package from " .. id)
		driver.drop(data, size)
		return
	end
	local sz = driver.push(s.buffer, data, size)
	local want = s.want
	local kind = type(want)
	if kind == "number" then
		if sz >= want then
			s.want = nil
			if sz > FLOW_LIMIT then
				pause_socket(s, sz)
			end
			wakeup(s)
		end
		return
	end
	if s.limit and sz > s.limit then
		skynet.error(string_format("socket buffer overflow: fd=%d size=%d", id, sz))
		driver.close(id)
		return
	end
	if kind == "string" then
		if driver.readline(s.buffer, want, true) then
			s.want = nil
			if sz > FLOW_LIMIT then
				pause_socket(s, sz)
			end
			wakeup(s)
		end
	elseif kind ~= "boolean" and sz > FLOW_LIMIT then
		-- nobody is reading (readall must see the close, so it never pauses)
		pause_socket(s, sz)
	end
end

-- CONNECT (also sent again by a resume: ignored then)
handler[2] = function(id, ud, addr)
	local s = pool[id]
	if s == nil or s.connected then
		return
	end
	if s.listen then
		s.addr = addr
		s.port = ud
	end
	s.connected = true
	wakeup(s)
end

-- CLOSE
handler[3] = function(id)
	local s = pool[id]
	if s then
		s.connected = false
		wakeup(s)
	else
		driver.close(id)
	end
	local cb = onclose[id]
	if cb then
		onclose[id] = nil
		cb(id)
	end
end

-- ACCEPT (id = listen socket, newid = the connection)
handler[4] = function(id, newid, addr)
	local s = pool[id]
	if s == nil or not s.callback then
		driver.close(newid)
		return
	end
	s.callback(newid, addr)
end

-- ERROR
handler[5] = function(id, _, err)
	local s = pool[id]
	if s == nil then
		driver.shutdown(id)
		skynet.error("socket: error on unknown", id, err)
		return
	end
	if s.connecting then
		-- open/start/bind fails with err (e.g. "invalid socket" for a start
		-- on an id that is not open), listen socket or not
		s.connecting = err
	elseif s.callback and s.protocol ~= "UDP" then
		skynet.error("socket: accept error:", err)
		return
	elseif s.connected then
		skynet.error("socket: error on", id, err)
	end
	s.connected = false
	driver.shutdown(id)
	wakeup(s)
end

-- UDP (data is followed by the sender's address)
handler[6] = function(id, size, data, address)
	local s = pool[id]
	if s == nil or s.callback == nil then
		skynet.error("socket: drop udp package from " .. id)
		driver.drop(data, size)
		return
	end
	local str = skynet.tostring(data, size)
	driver.drop(data, size)
	s.callback(str, address)
end

-- WARNING (ud = KiB queued, 0 when drained)
handler[7] = function(id, size)
	local s = pool[id]
	if s then
		local warning = s.on_warning or default_warning
		warning(id, size)
	end
end

skynet.register_protocol {
	name = "socket",
	id = skynet.PTYPE_SOCKET,
	unpack = driver.unpack,
	dispatch = function(_, _, t, ...)
		local f = handler[t]
		if f then
			f(...)
		end
	end,
}

-- helpers ---------------------------------------------------------------------

-- The pool entry of a socket this service has open, or a clear error for
-- one it has not (never opened, closed, or abandoned).
local function owned(id, what)
	local s = pool[id]
	if s == nil then
		error(string_format("socket.%s: socket %s is not open in this service", what, tostring(id)), 3)
	end
	return s
end

-- "host:port" / "[v6]:port" -> host, port
local function parse_address(addr, port)
	if port ~= nil then
		local inner = type(addr) == "string" and addr:match("^%[(.*)%]$")
		return inner or addr, port
	end
	local host, p = addr:match("^%[(.-)%]:(%d+)$")
	if not host then
		host, p = addr:match("^(.*):(%d+)$")
	end
	if not host then
		error(string_format("socket: invalid address %q (want host:port)", addr), 3)
	end
	return host, tonumber(p)
end

-- Adopts `id` into the pool and waits for CONNECT (or an error).  With
-- `timeout` (centiseconds), gives up after that long: the half-open socket
-- is closed and the result is nil, "connect timed out".
local function connect(id, func, timeout)
	local s2 = pool[id]
	if s2 and not s2.listen then
		error("socket: id " .. id .. " is not closed")
	end
	assert(not onclose[id], "socket has onclose callback")
	local s = {
		id = id,
		buffer = (func == nil) and driver.buffer() or nil,
		connected = false,
		connecting = true,
		callback = func,
		protocol = "TCP",
	}
	pool[id] = s
	if timeout then
		skynet.timeout(timeout, function()
			if pool[id] == s and s.connecting == true and not s.connected then
				s.connecting = "connect timed out"
				driver.close(id)
				wakeup(s)
			end
		end)
	end
	suspend(s)
	local err = s.connecting
	s.connecting = nil
	if s.connected then
		return id
	end
	pool[id] = nil
	return nil, err
end

-- connect / listen / start ------------------------------------------------------

-- socket.open(addr [, port [, timeout]]): timeout in centiseconds (none
-- when nil).  Returns the id, or nil and the reason.
function socket.open(addr, port, timeout)
	addr, port = parse_address(addr, port)
	local id = driver.connect(addr, port)
	if not id then
		return nil, "reach skynet socket number limit"
	end
	return connect(id, nil, timeout)
end

function socket.bind(os_fd)
	local id = driver.bind(os_fd)
	return connect(id)
end

function socket.stdin()
	return socket.bind(0)
end

-- Returns id, or nil and the reason ("invalid socket" for an id that is
-- not open): the socket layer always answers a start.
function socket.start(id, func)
	driver.start(id)
	return connect(id, func)
end

function socket.listen(host, port, backlog)
	host, port = parse_address(host, port)
	local id = driver.listen(host, port, backlog)
	local s = {
		id = id,
		connected = false,
		listen = true,
	}
	assert(pool[id] == nil, "socket: listen id already in use")
	pool[id] = s
	suspend(s)
	return id, s.addr, s.port
end

function socket.pause(id)
	local s = pool[id]
	if s == nil or s.paused ~= nil then
		return
	end
	pause_socket(s)
end

-- reading ---------------------------------------------------------------------

-- read(id): whatever is buffered, waiting for at least one byte;
-- read(id, sz): exactly sz bytes.  On close: false, the remaining bytes.
function socket.read(id, sz)
	local s = owned(id, "read")
	if sz == nil then
		local ret = driver.readall(s.buffer)
		if ret ~= "" then
			return ret
		end
		if not s.connected then
			return false, ret
		end
		s.want = 0
		suspend(s)
		ret = driver.readall(s.buffer)
		if ret ~= "" then
			return ret
		end
		return false, ret
	end
	local ret = driver.pop(s.buffer, sz)
	if ret then
		return ret
	end
	if s.closing or not s.connected then
		return false, driver.readall(s.buffer)
	end
	s.want = sz
	suspend(s)
	ret = driver.pop(s.buffer, sz)
	if ret then
		return ret
	end
	return false, driver.readall(s.buffer)
end

function socket.readall(id)
	local s = owned(id, "readall")
	if not s.connected then
		local r = driver.readall(s.buffer)
		return r ~= "" and r
	end
	s.want = true
	suspend(s)
	return driver.readall(s.buffer)
end

function socket.readline(id, sep)
	sep = sep or "\n"
	local s = owned(id, "readline")
	local ret = driver.readline(s.buffer, sep)
	if ret then
		return ret
	end
	if not s.connected then
		return false, driver.readall(s.buffer)
	end
	s.want = sep
	suspend(s)
	if s.connected then
		ret = driver.readline(s.buffer, sep)
		if ret then
			return ret
		end
	end
	return false, driver.readall(s.buffer)
end

function socket.block(id)
	local s = pool[id]
	if not s or not s.connected then
		return false
	end
	s.want = 0
	suspend(s)
	return s.connected
end

-- writing -----------------------------------------------------------------------

-- The C layer checks the id: false for an invalid or closing socket.  A
-- half-closed socket (peer sent EOF) can still be written.
socket.write = assert(driver.send)
socket.lwrite = assert(driver.lsend)

-- closing -----------------------------------------------------------------------

function socket.close_fd(id)
	assert(pool[id] == nil, "Use socket.close instead")
	driver.close(id)
end

function socket.shutdown(id)
	local s = pool[id]
	if s then
		if s.buffer then
			driver.clear(s.buffer)
		end
		if s.connected then
			driver.shutdown(id)
		end
	end
end

function socket.close(id)
	local s = pool[id]
	if s == nil then
		return
	end
	driver.close(id)
	if s.connected then
		s.paused = false -- never resume a socket being closed
		if s.co then
			-- another coroutine is reading: let it take the buffered data
			assert(not s.closing, "socket: close already in progress")
			s.closing = coroutine_running()
			skynet.wait(s.closing)
		else
			suspend(s) -- until CLOSE
		end
		s.connected = false
	end
	if s.buffer then
		driver.clear(s.buffer)
	end
	pool[id] = nil
end

-- Forget the socket without closing it (to hand it to another service,
-- which calls socket.start).  A blocked reader wakes up as if closed.
function socket.abandon(id)
	local s = pool[id]
	if s then
		s.connected = false
		wakeup(s)
		onclose[id] = nil
		pool[id] = nil
	end
end

-- state and options ---------------------------------------------------------

function socket.invalid(id)
	return pool[id] == nil
end

function socket.disconnected(id)
	local s = pool[id]
	if s then
		return not (s.connected or s.connecting)
	end
end

function socket.limit(id, limit)
	local s = owned(id, "limit")
	s.limit = limit
end

function socket.warning(id, callback)
	local s = pool[id]
	local old
	if s then
		old = s.on_warning
		s.on_warning = callback
	end
	return old
end

function socket.onclose(id, callback)
	onclose[id] = callback
end

socket.header = driver.header
socket.netstat = driver.info
socket.resolve = driver.resolve

-- UDP ---------------------------------------------------------------------------

local function create_udp_object(id, cb)
	assert(not pool[id], "socket is not closed")
	pool[id] = {
		id = id,
		connected = true,
		protocol = "UDP",
		callback = cb,
	}
end

function socket.udp(callback, host, port)
	local id = driver.udp(host, port)
	create_udp_object(id, callback)
	return id
end

function socket.udp_connect(id, addr, port, callback)
	local s = pool[id]
	if s then
		assert(s.protocol == "UDP", "socket: udp_connect on a TCP socket")
		if callback then
			s.callback = callback
		end
	else
		create_udp_object(id, callback)
	end
	addr, port = parse_address(addr, port)
	driver.udp_connect(id, addr, port)
end

function socket.udp_listen(addr, port, callback)
	addr, port = parse_address(addr, port)
	local id = driver.udp_listen(addr, port)
	create_udp_object(id, callback)
	return id
end

function socket.udp_dial(addr, port, callback)
	addr, port = parse_address(addr, port)
	local id = driver.udp_dial(addr, port)
	create_udp_object(id, callback)
	return id
end

socket.sendto = assert(driver.udp_send)
socket.udp_address = assert(driver.udp_address)

return socket

-- http.sockethelper: readfunc/writefunc over skynet.socket for the http
-- modules (spec/api-http-websocket-dns.md §1).
--
-- A readfunc(sz) returns exactly sz bytes, or (sz nil) whatever is
-- available, at least one byte; it raises socket_error when the socket
-- closes.  A writefunc(s) writes all of s or raises.  Ours, not upstream's:
-- peer_write(readfunc, s), bind_peer(readfunc, writefunc), reader(fd).
local socket = require "skynet.socket"

local tostring, setmetatable, type, error = tostring, setmetatable, type, error
local read, write = socket.read, socket.write

local helper = {}

-- One shared error object (upstream's): tostring gives the last text and
-- clears it, so compare with `err == sockethelper.socket_error`.
local socket_error = setmetatable({}, {
	__tostring = function(self)
		local info = self.info
		self.info = nil
		return info or "[Socket Error]"
	end,
	__call = function(self, info)
		self.info = "[Socket Error] : " .. tostring(info)
		return self
	end,
})
helper.socket_error = socket_error

-- Who is at the other end of a readfunc: peer[readfunc] = the socket id a
-- readfunc made here reads (tlshelper registers a function writing to its
-- peer instead); weak keys.  latest[fd] = the last readfunc made here for
-- fd; weak values.  httpd answers "100 Continue" from inside read_request
-- through the first (helper.peer_write); websocket.accept(..., {upgrade =})
-- finds through the second the readfunc httpd read the upgrade request
-- with, and so the bytes the client sent after it (helper.reader).
-- Socket ids are not reused for 2^31 connections, so an entry left by a
-- closed socket cannot be taken for a new one.
local peer = setmetatable({}, {__mode = "k"})
local latest = setmetatable({}, {__mode = "v"})

local function register(f, fd)
	peer[f] = fd
	latest[fd] = f
	return f
end

-- bind_peer(readfunc, writefunc): replies to the peer of readfunc go
-- through writefunc (for readfuncs not made here, e.g. over TLS).
function helper.bind_peer(readfunc, writefunc)
	peer[readfunc] = writefunc
end

-- peer_write(readfunc, data) -> true when data went to the peer of
-- readfunc, false when its peer is unknown; raises socket_error when the
-- write fails.
function helper.peer_write(readfunc, data)
	local p = peer[readfunc]
	if p == nil then
		return false
	elseif type(p) == "number" then
		if not write(p, data) then
			error(socket_error("write failed fd = " .. p))
		end
	else
		p(data)
	end
	return true
end

-- reader(fd) -> the last readfunc made for fd (nil if none is alive)
function helper.reader(fd)
	return latest[fd]
end

local function preread(fd, str)
	return function(sz)
		if str then
			if sz == #str or sz == nil then
				local ret = str
				str = nil
				return ret
			elseif sz < #str then
				local ret = str:sub(1, sz)
				str = str:sub(sz + 1)
				return ret
			else
				sz = sz - #str
				local ret = read(fd, sz)
				if ret then
					local r = str .. ret
					str = nil
					return r
				end
				str = nil
				error(socket_error("read failed fd = " .. fd))
			end
		end
		local ret = read(fd, sz)
		if ret then
			return ret
		end
		error(socket_error("read failed fd = " .. fd))
	end
end

function helper.readfunc(fd, pre)
	if pre then
		return register(preread(fd, pre), fd)
	end
	return register(function(sz)
		local ret = read(fd, sz)
		if ret then
			return ret
		end
		error(socket_error("read failed fd = " .. fd))
	end, fd)
end

helper.readall = socket.readall

function helper.writefunc(fd)
	return function(content)
		if not write(fd, content) then
			error(socket_error("write failed fd = " .. fd))
		end
	end
end

-- connect(host, port [, timeout]): timeout in centiseconds bounds the
-- connect (the socket layer closes a half-open socket at the deadline).
function helper.connect(host, port, timeout)
	local fd, err = socket.open(host, port, timeout)
	if fd then
		return fd
	end
	local is_time_out = err == "connect timed out"
	error(socket_error(string.format("connect failed host = %s port = %s timeout = %s err = %s is_time_out = %s",
		host, port, tostring(timeout), is_time_out and "nil" or tostring(err), tostring(is_time_out))))
end

function helper.close(fd)
	socket.close(fd)
end

function helper.shutdown(fd)
	socket.shutdown(fd)
end

return helper

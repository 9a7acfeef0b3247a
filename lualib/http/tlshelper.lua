-- http.tlshelper: TLS transports for httpc, httpd services and websocket
-- (spec/api-http-websocket-dns.md §7.3) over the ltls C module
-- (lualib-src/ltls.c, luaclib/ltls.so).  The socket is read and written
-- with skynet.socket; ltls only turns ciphertext into plaintext and back.
-- Socket failures raise sockethelper.socket_error, as the plain helpers do.
local socket = require "skynet.socket"
local c = require "ltls.c"
local sockethelper = require "http.sockethelper"

local socket_error = sockethelper.socket_error
local error = error

local tlshelper = {}

tlshelper.newctx = c.newctx
tlshelper.newtls = c.newtls

local function sock_read(fd)
	local d = socket.read(fd)
	if not d then
		error(socket_error("read failed fd = " .. fd))
	end
	return d
end

local function sock_write(fd, data)
	if data and data ~= "" and not socket.write(fd, data) then
		error(socket_error("write failed fd = " .. fd))
	end
end

function tlshelper.init_requestfunc(fd, tls_ctx)
	return function(hostname)
		if hostname then
			tls_ctx:set_ext_host_name(hostname)
		end
		sock_write(fd, tls_ctx:handshake())
		while not tls_ctx:finished() do
			sock_write(fd, tls_ctx:handshake(sock_read(fd)))
		end
	end
end

function tlshelper.init_responsefunc(fd, tls_ctx)
	return function()
		while not tls_ctx:finished() do
			sock_write(fd, tls_ctx:handshake(sock_read(fd)))
		end
		sock_write(fd, tls_ctx:write())
	end
end

function tlshelper.closefunc(tls_ctx)
	return function()
		tls_ctx:close()
	end
end

-- A readfunc over the plaintext: sz bytes exactly, or (sz nil) what is
-- there, at least one byte.
function tlshelper.readfunc(fd, tls_ctx)
	local buf = tls_ctx:read() -- plaintext that came with the handshake
	local f
	f = function(sz)
		if sz == nil then
			while buf == "" do
				buf = tls_ctx:read(sock_read(fd))
			end
			local r = buf
			buf = ""
			return r
		end
		while #buf < sz do
			buf = buf .. tls_ctx:read(sock_read(fd))
		end
		local r = buf:sub(1, sz)
		buf = buf:sub(sz + 1)
		return r
	end
	-- httpd's "100 Continue" goes back encrypted
	sockethelper.bind_peer(f, function(s) sock_write(fd, tls_ctx:write(s)) end)
	return f
end

function tlshelper.writefunc(fd, tls_ctx)
	return function(s)
		sock_write(fd, tls_ctx:write(s))
	end
end

function tlshelper.readallfunc(fd, tls_ctx)
	return function()
		local ds = socket.readall(fd)
		return tls_ctx:read(ds or "")
	end
end

return tlshelper

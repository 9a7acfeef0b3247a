-- http.websocket: RFC 6455 server and client (spec/api-http-websocket-dns.md §6).
--
--   accept(fd, handle, protocol, addr, options) -> true | false, err
--   connect(url, header, timeout) -> id
--   read(id) -> data, "text"|"binary"  |  false, close payload
--   write(id, data, fmt, masking_key), ping(id), close(id, code, reason)
--   addrinfo(id), real_ip(id), is_close(id)
--
-- Frames are parsed and built in C (skynet.webcore: lualib-src/ws_frame.c),
-- a whole frame in one socket write.  What we check that upstream does not
-- (each closes the connection with a close frame carrying the code):
--   1002 unmasked client frame, reserved bits, unknown opcode, fragmented or
--        over-125-byte control frame, a continuation with nothing to
--        continue, a new message inside a fragmented one, a bad close code
--   1007 a text message (or close reason) that is not UTF-8
--   1009 a frame or a fragmented message over MAX_FRAME_SIZE (both sides)
-- Client frames are masked (a random key unless one is given).
local skynet = require "skynet"
local socket = require "skynet.socket"
local core = require "skynet.webcore"
local internal = require "http.internal"
local httpd = require "http.httpd"
local sockethelper = require "http.sockethelper"

local type, error, pcall, xpcall, tostring, assert = type, error, pcall, xpcall, tostring, assert
local format, lower, concat = string.format, string.lower, table.concat
local ws_parse, ws_build, utf8_valid = core.ws_parse, core.ws_build, core.utf8

local M = {}

local MAX_FRAME_SIZE = 256 * 1024 -- payload of one frame, and of one message
M.MAX_FRAME_SIZE = MAX_FRAME_SIZE

local OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
local op_name = {[0] = "frame", "text", "binary", [8] = "close", [9] = "ping", [10] = "pong"}
local CLOSE_PROTOCOL, CLOSE_BAD_DATA, CLOSE_TOO_BIG = 1002, 1007, 1009

local ws_pool = {}

-- an error the peer caused: close with `code`, report `why`
local protocol_error_mt = {__tostring = function(e) return e.why end}
local function protocol_error(code, why)
	error(setmetatable({code = code, why = "websocket: " .. why}, protocol_error_mt), 0)
end

-- transport -------------------------------------------------------------------

local function plain_transport(fd)
	return {
		read = sockethelper.readfunc(fd),
		write = sockethelper.writefunc(fd),
		close = function() socket.close(fd) end,
	}
end

local server_ctx, client_ctx -- one SSL_CTX of each kind per service

local function tls_transport(fd, mode, hostname)
	local tls = require "http.tlshelper"
	local t
	if mode == "server" then
		if not server_ctx then
			local ctx = tls.newctx()
			ctx:set_cert(skynet.getenv "certfile" or "./server-cert.pem", skynet.getenv "keyfile" or "./server-key.pem")
			server_ctx = ctx
		end
		t = tls.newtls("server", server_ctx)
		tls.init_responsefunc(fd, t)()
	else
		client_ctx = client_ctx or tls.newctx()
		t = tls.newtls("client", client_ctx, hostname)
		tls.init_requestfunc(fd, t)(hostname)
	end
	local closetls = tls.closefunc(t)
	return {
		read = tls.readfunc(fd, t),
		write = tls.writefunc(fd, t),
		close = function()
			socket.close(fd)
			closetls()
		end,
	}
end

-- frames ------------------------------------------------------------------------

local function write_frame(ws, op, data, key)
	if key == nil and ws.mode == "client" then
		key = true -- RFC 6455 §5.3: a client masks every frame
	end
	ws.transport.write(ws_build(op, data, key))
end

-- Reads the next frame: opcode, fin, payload.  Raises socket_error when
-- the socket closes, a protocol_error for a frame breaking the rules.
local function read_frame(ws)
	local must_mask = ws.mode == "server"
	local read = ws.transport.read
	while true do
		local buf, pos = ws.buf, ws.pos
		local op, fin, payload, nextpos = ws_parse(buf, pos, must_mask, MAX_FRAME_SIZE)
		if op then
			if nextpos > #buf then
				ws.buf, ws.pos = "", 1
			else
				ws.pos = nextpos
			end
			return op, fin, payload
		elseif op == false then
			protocol_error(fin, payload)
		end
		local have = #buf - pos + 1
		local need = fin -- bytes the whole frame needs, when the header is in
		local more
		if need and need > have then
			more = read(need - have)
		else
			more = read()
		end
		if pos > 1 then
			buf = buf:sub(pos)
		end
		ws.buf, ws.pos = buf .. more, 1
	end
end

local function close_payload(payload)
	local n = #payload
	if n == 0 then
		return nil, nil
	elseif n == 1 then
		protocol_error(CLOSE_PROTOCOL, "close frame with a 1-byte payload")
	end
	local code = payload:byte(1) << 8 | payload:byte(2)
	if not ((code >= 1000 and code <= 1003) or (code >= 1007 and code <= 1014) or (code >= 3000 and code <= 4999)) then
		protocol_error(CLOSE_PROTOCOL, "invalid close code " .. code)
	end
	local reason = payload:sub(3)
	if not utf8_valid(reason) then
		protocol_error(CLOSE_BAD_DATA, "close reason is not UTF-8")
	end
	return code, reason
end

-- Reads until a whole message or a close frame: returns
-- "message", data, opname | "close", code, reason, payload.
-- Control frames in between: a ping is answered (on_ping called), a pong
-- reported (on_pong).
local function read_message(ws, on_ping, on_pong)
	local parts, nparts, size, first_op
	while true do
		local op, fin, payload = read_frame(ws)
		if op == OP_TEXT or op == OP_BINARY or op == OP_CONT then
			if op == OP_CONT then
				if not parts then
					protocol_error(CLOSE_PROTOCOL, "continuation frame with no message to continue")
				end
			elseif parts then
				protocol_error(CLOSE_PROTOCOL, "new message inside a fragmented one")
			end
			local data
			if fin and not parts then
				data, first_op = payload, op
			else
				if not parts then
					parts, nparts, size, first_op = {}, 0, 0, op
				end
				size = size + #payload
				if size > MAX_FRAME_SIZE then
					protocol_error(CLOSE_TOO_BIG, "payload_len is too large")
				end
				nparts = nparts + 1
				parts[nparts] = payload
				if fin then
					data = concat(parts)
				end
			end
			if data then
				if first_op == OP_TEXT and not utf8_valid(data) then
					protocol_error(CLOSE_BAD_DATA, "text message is not UTF-8")
				end
				return "message", data, op_name[first_op]
			end
		elseif op == OP_PING then
			write_frame(ws, OP_PONG, payload)
			if on_ping then
				on_ping(ws.id, payload)
			end
		elseif op == OP_PONG then
			if on_pong then
				on_pong(ws.id, payload)
			end
		else -- OP_CLOSE
			local code, reason = close_payload(payload)
			return "close", code, reason, payload
		end
	end
end

-- Sends a close frame, logging (not raising) a failure.
local function send_close(ws, code, reason)
	local payload = ""
	if code then
		payload = string.pack(">I2", code) .. (reason or "")
	end
	local ok, err = pcall(write_frame, ws, OP_CLOSE, payload)
	if not ok then
		skynet.error("websocket: close frame to " .. ws.id .. " not sent: " .. tostring(err))
	end
end

-- removes ws from the pool and closes its socket (once)
local function drop(ws)
	if ws_pool[ws.id] == ws then
		ws_pool[ws.id] = nil
	end
	if not ws.closed then
		ws.closed = true
		ws.transport.close()
	end
end

-- server ------------------------------------------------------------------------

local function handshake_fail(ws, code, text)
	httpd.write_response(ws.transport.write, code, text)
	return nil
end

-- Reads and checks the upgrade request (unless options.upgrade carries
-- it); answers 101 and returns header, url, or answers the error and
-- returns nil.
local function server_handshake(ws, options)
	local header, method, url, minor
	local upgrade = options and options.upgrade
	if upgrade then
		header, method, url, minor = upgrade.header, upgrade.method or "GET", upgrade.url, 1
	else
		local code, _
		code, url, method, header, _, minor = httpd.read_request(ws.transport.read, 0)
		if code == nil then
			error(url, 0) -- socket_error
		end
		ws.buf = httpd.pending(ws.transport.read)
		if code ~= 200 then
			return handshake_fail(ws, code)
		end
		if method ~= "GET" then
			return handshake_fail(ws, 400, "need GET method")
		end
		if minor < 1 then
			return handshake_fail(ws, 505)
		end
	end
	local function field(name)
		local v = header[name]
		return type(v) == "string" and v or nil
	end
	if lower(field "upgrade" or "") ~= "websocket" then
		return handshake_fail(ws, 426, "Upgrade Required")
	end
	if not field "host" then
		return handshake_fail(ws, 400, "host Required")
	end
	if not lower(field "connection" or ""):find("upgrade", 1, true) then
		return handshake_fail(ws, 400, "Connection must Upgrade")
	end
	local key = field "sec-websocket-key"
	if not key then
		return handshake_fail(ws, 400, "Sec-WebSocket-Key Required")
	end
	if not core.ws_key_valid(key) then
		return handshake_fail(ws, 400, "Sec-WebSocket-Key invalid")
	end
	if field "sec-websocket-version" ~= "13" then
		return handshake_fail(ws, 400, "Sec-WebSocket-Version must 13")
	end
	local protocol_line = ""
	local protocols = field "sec-websocket-protocol"
	if protocols then
		for p in protocols:gmatch "[^%s,]+" do
			if p == "chat" then
				protocol_line = "Sec-WebSocket-Protocol: chat\r\n"
				break
			end
		end
	end
	ws.real_ip = field "x-real-ip"
	ws.transport.write(format(
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
		core.ws_accept(key), protocol_line))
	return header, url
end

local function serve(ws, handle, options)
	local id = ws.id
	if handle.connect then
		handle.connect(id)
	end
	local header, url = server_handshake(ws, options)
	if not header then
		if handle.close then
			handle.close(id)
		end
		return
	end
	if handle.handshake then
		handle.handshake(id, header, url)
	end
	local on_ping, on_pong = handle.ping, handle.pong
	if on_ping then
		on_ping = function(i) handle.ping(i) end
	end
	if on_pong then
		on_pong = function(i) handle.pong(i) end
	end
	local on_message = handle.message
	while ws_pool[id] == ws do
		local kind, a, b = read_message(ws, on_ping, on_pong)
		if kind == "close" then
			-- echo the peer's code (RFC 6455 §5.5.1), then close
			send_close(ws, a)
			drop(ws)
			if handle.close then
				handle.close(id, a, b)
			end
			return
		end
		if on_message then
			on_message(id, a, b)
		end
	end
	-- closed by websocket.close() from a callback
	if handle.close then
		handle.close(id)
	end
end

function M.accept(fd, handle, protocol, addr, options)
	protocol = protocol or "ws"
	if protocol ~= "ws" and protocol ~= "wss" then
		error("invalid websocket protocol:" .. tostring(protocol))
	end
	local early = ""
	if options and options.upgrade then
		-- httpd read the request with the caller's readfunc, and with it
		-- what the client sent next (a first frame in the same segment);
		-- taken before our own readfunc becomes the fd's latest
		local readfunc = sockethelper.reader(fd)
		if readfunc then
			early = httpd.pending(readfunc)
		end
	else
		local ok, err = socket.start(fd)
		if not ok then
			return false, err
		end
	end
	local ok, transport = pcall(protocol == "wss" and tls_transport or plain_transport, fd, "server")
	if not ok then
		socket.close(fd)
		return false, transport
	end
	local ws = {id = fd, mode = "server", transport = transport, addr = addr, buf = early, pos = 1}
	ws_pool[fd] = ws
	if handle.warning then
		socket.warning(fd, function(_, size) handle.warning(ws, size) end)
	end
	local err
	ok, err = xpcall(serve, function(e)
		if e == sockethelper.socket_error or getmetatable(e) == protocol_error_mt then
			return e
		end
		return debug.traceback(tostring(e), 2)
	end, ws, handle, options)
	local closed_here = ws_pool[fd] ~= ws -- websocket.close() ran
	if ok then
		drop(ws)
		return true
	end
	if err == sockethelper.socket_error then
		drop(ws)
		if closed_here then
			if handle.close then
				handle.close(fd)
			end
		elseif handle.error then
			handle.error(fd, err)
		end
		return true
	end
	if getmetatable(err) == protocol_error_mt then
		if not closed_here then
			send_close(ws, err.code, err.why:sub(1, 123))
		end
		drop(ws)
		return false, err.why
	end
	drop(ws)
	return false, err
end

-- client ------------------------------------------------------------------------

-- "ws://host[:port]/path", "wss://[::1]:9000/x" -> scheme, host, port, path, hostport
local function parse_url(url)
	local scheme, hostport, path = url:match "^(wss?)://([^/]+)(.*)$"
	if not scheme then
		error("invalid protocol: " .. tostring(url:match "^(%a+)://"))
	end
	local host, port = hostport:match "^%[([^%]]+)%]:?(%d*)$"
	if not host then
		host, port = hostport:match "^([^:]+):?(%d*)$"
	end
	if not host then
		error("invalid websocket host: " .. hostport)
	end
	port = tonumber(port) or (scheme == "wss" and 443 or 80)
	if path == "" then
		path = "/"
	end
	return scheme, host, port, path, hostport
end

local reserved = {
	["Upgrade"] = true,
	["Connection"] = true,
	["Sec-WebSocket-Version"] = true,
	["Sec-WebSocket-Key"] = true,
}

local function client_handshake(ws, host_header, path, header)
	local key = core.ws_newkey()
	local request_header = {
		["Upgrade"] = "websocket",
		["Connection"] = "Upgrade",
		["Sec-WebSocket-Version"] = "13",
		["Sec-WebSocket-Key"] = key,
	}
	if header then
		for k, v in pairs(header) do
			if reserved[k] then
				error("websocket: header " .. k .. " is set by the handshake")
			end
			request_header[k] = v
		end
	end
	local t = ws.transport
	local code, body, rh = internal.request({read = t.read, write = t.write}, "GET", host_header, path, {}, request_header)
	if code ~= 101 then
		error(format("websocket handshake error: code[%s] info:%s", code, body))
	end
	if lower(tostring(rh.upgrade)) ~= "websocket" then
		error "websocket handshake upgrade must websocket"
	end
	if lower(tostring(rh.connection)) ~= "upgrade" then
		error "websocket handshake connection must upgrade"
	end
	local accept = rh["sec-websocket-accept"]
	if not accept then
		error "websocket handshake need Sec-WebSocket-Accept"
	end
	if accept ~= core.ws_accept(key) then
		error "websocket handshake invalid Sec-WebSocket-Accept"
	end
	ws.buf = body -- frames sent with the 101
end

function M.connect(url, header, timeout)
	local scheme, host, port, path, hostport = parse_url(url)
	local fd = sockethelper.connect(host, port, timeout)
	local ok, err = pcall(function()
		local transport
		if scheme == "wss" then
			local sni = not host:match "%d$" and not host:find(":", 1, true) and host or nil
			transport = tls_transport(fd, "client", sni)
		else
			transport = plain_transport(fd)
		end
		local ws = {id = fd, mode = "client", transport = transport, addr = hostport, buf = "", pos = 1}
		client_handshake(ws, hostport, path, header)
		ws_pool[fd] = ws
	end)
	if not ok then
		socket.close(fd)
		error(err)
	end
	return fd
end

-- per-connection functions --------------------------------------------------------

function M.read(id)
	local ws = assert(ws_pool[id], "websocket: read on an unknown id")
	local ok, kind, a, b, payload = pcall(read_message, ws)
	if not ok then
		local err = kind
		if getmetatable(err) == protocol_error_mt then
			send_close(ws, err.code, err.why:sub(1, 123))
			drop(ws)
			error(err.why)
		end
		drop(ws)
		error(err)
	end
	if kind == "close" then
		drop(ws)
		return false, payload
	end
	return a, b
end

local fmt_op = {text = OP_TEXT, binary = OP_BINARY}

function M.write(id, data, fmt, masking_key)
	local ws = assert(ws_pool[id], "websocket: write on an unknown id")
	local op = fmt_op[fmt or "text"]
	if not op then
		error("websocket: write format must be text or binary, got " .. tostring(fmt))
	end
	write_frame(ws, op, data, masking_key)
end

function M.ping(id)
	local ws = assert(ws_pool[id], "websocket: ping on an unknown id")
	write_frame(ws, OP_PING, "")
end

function M.close(id, code, reason)
	local ws = ws_pool[id]
	if not ws then
		return
	end
	send_close(ws, code, reason)
	drop(ws)
end

function M.addrinfo(id)
	local ws = ws_pool[id]
	return ws and ws.addr
end

function M.real_ip(id)
	local ws = ws_pool[id]
	return ws and ws.real_ip
end

function M.is_close(id)
	return ws_pool[id] == nil
end

return M

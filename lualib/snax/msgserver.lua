-- snax.msgserver -- upstream's game gate framework over snax.gateserver
-- (wire-compatible).  All traffic is netpack frames (2-byte
-- big-endian length).
--
--   msgserver.username(uid, subid, servername) / msgserver.userid(username)
--   msgserver.login(username, secret) / msgserver.logout(username)
--   msgserver.ip(username)
--   msgserver.start(conf)
--
-- conf: login_handler(uid, secret) -> subid, logout_handler(uid, subid),
-- kick_handler(uid, subid) (reached by the "lua" commands login, logout,
-- kick), request_handler(username, msg) -> string, register_handler(name)
-- (on the gate's "open", whose conf carries servername),
-- disconnect_handler(username) (optional), expired_number (128).
--
-- A connection's first frame is the handshake
-- "<username>:<index>:<base64(hmac_hash(secret, username:index))>",
-- answered by one frame: 200 OK, or 404 User Not Found / 403 Index
-- Expired / 401 Unauthorized / 400 Bad Request and the connection closes.
-- Later frames are requests "content .. uint32_be(session)", answered by
-- "content .. uint8(ok) .. uint32_be(session)".  Responses are kept per
-- user by session, so a client that reconnects (with a higher index) and
-- sends a session again gets the old response instead of a second run.
--
-- Differences from upstream, on purpose: a user who authenticates on a
-- new connection has the old one closed (upstream left it open);
-- logout of a user who is not online does nothing (upstream raised a
-- nil-index error); the handshake index must be an integer; a
-- retransmission merged into a pending request is counted, and only a
-- third copy is a conflict (as upstream).
local skynet = require "skynet"
local gateserver = require "snax.gateserver"
local netpack = require "skynet.netpack"
local socketdriver = require "skynet.socketdriver"
local crypt = require "skynet.crypt"
local wire = require "snax.loginwire"

local b64encode, b64decode = crypt.base64encode, crypt.base64decode
local format = string.format

local server = {}

skynet.register_protocol {
	name = "client",
	id = skynet.PTYPE_CLIENT,
}

local user_online = {} -- username -> user
local handshake = {}   -- fd -> "ip:port", until its first frame
local connection = {}  -- fd -> user, once authenticated

-- user: { username, secret, version (index of the current connection),
-- fd, ip, index (next response index), response = { [session] = entry } }
-- entry: { fd (where the answer goes), version, data (framed response,
-- nil while pending), index (response index once done), copies }

function server.userid(username)
	local uid, servername, subid = username:match "([^@]*)@([^#]*)#(.*)"
	return b64decode(uid), b64decode(subid), b64decode(servername)
end

function server.username(uid, subid, servername)
	return format("%s@%s#%s", b64encode(uid), b64encode(servername), b64encode(tostring(subid)))
end

function server.logout(username)
	local u = user_online[username]
	if u == nil then
		return
	end
	user_online[username] = nil
	if u.fd then
		connection[u.fd] = nil
		gateserver.closeclient(u.fd)
		u.fd = nil
	end
end

function server.login(username, secret)
	if user_online[username] then
		error(format("msgserver.login: %s is already online", username), 2)
	end
	user_online[username] = {
		username = username,
		secret = secret,
		version = 0,
		index = 0,
		response = {},
	}
end

function server.ip(username)
	local u = user_online[username]
	if u and u.fd then
		return u.ip
	end
end

local function send(fd, data)
	socketdriver.send(fd, data)
end

function server.start(conf)
	local expired_number = conf.expired_number or 128
	local request_handler = assert(conf.request_handler, "msgserver: conf.request_handler is required")
	local disconnect_handler = conf.disconnect_handler
	local CMD = {
		login = assert(conf.login_handler, "msgserver: conf.login_handler is required"),
		logout = assert(conf.logout_handler, "msgserver: conf.logout_handler is required"),
		kick = assert(conf.kick_handler, "msgserver: conf.kick_handler is required"),
	}

	local handler = {}

	function handler.command(cmd, _, ...)
		local f = CMD[cmd]
		if f == nil then
			error(format("msgserver: unknown command %s", tostring(cmd)))
		end
		return f(...)
	end

	function handler.open(_, gateconf)
		local servername = assert(gateconf.servername, "msgserver: open needs conf.servername")
		if conf.register_handler then
			return conf.register_handler(servername)
		end
	end

	function handler.connect(fd, addr)
		handshake[fd] = addr
		gateserver.openclient(fd)
	end

	function handler.disconnect(fd)
		handshake[fd] = nil
		local u = connection[fd]
		if u then
			connection[fd] = nil
			if u.fd == fd then
				u.fd = nil
			end
			if disconnect_handler then
				disconnect_handler(u.username)
			end
		end
	end

	-- The answer to a handshake body: nil when accepted, else its status line.
	local function authenticate(fd, addr, body)
		local username, index, hmac, text = wire.handshake(body)
		local u = username and user_online[username]
		if u == nil then
			return "404 User Not Found"
		end
		if index == nil or hmac == nil then
			skynet.error(format("msgserver: bad handshake from %s: %q", addr, body))
			return "400 Bad Request"
		end
		if index <= u.version then
			return "403 Index Expired"
		end
		if not wire.handshake_ok(u.secret, text, hmac) then
			return "401 Unauthorized"
		end
		u.version = index
		if u.fd and u.fd ~= fd then
			-- the client moved to this connection: retire the old one
			connection[u.fd] = nil
			gateserver.closeclient(u.fd)
		end
		u.fd = fd
		u.ip = addr
		connection[fd] = u
	end

	local function auth(fd, addr, body)
		local refused = authenticate(fd, addr, body)
		send(fd, wire.frame(refused or "200 OK"))
		if refused then
			gateserver.closeclient(fd)
		end
	end

	-- Drops completed responses older than expired_number and renumbers.
	local function retire(u)
		if u.index < expired_number * 2 then
			return
		end
		for session, p in pairs(u.response) do
			if p.data then
				if p.index < expired_number then
					u.response[session] = nil
				else
					p.index = p.index - expired_number
				end
			end
		end
		u.index = u.index - expired_number
	end

	local function request(fd, body)
		local u = connection[fd]
		if u == nil then
			error("not authenticated", 0)
		end
		local content, session = wire.request(body)
		if content == nil then
			error(session, 0)
		end
		local p = u.response[session]
		if p then
			if p.version ~= u.version then
				-- a retransmission after a reconnect: answer from the cache
				p.version = u.version
				p.fd = fd
				if p.data then
					send(fd, p.data)
				end
				return
			elseif p.data == nil then
				-- a copy of a request still running on this connection
				p.copies = p.copies + 1
				if p.copies > 2 then
					error(format("Conflict session %s", crypt.hexencode(session)), 0)
				end
				return
			end
			-- answered on this connection already: a new request
		end
		p = { fd = fd, version = u.version, copies = 1 }
		u.response[session] = p
		local ok, result = pcall(request_handler, u.username, content)
		if not ok then
			skynet.error(format("msgserver: request of %s (session %d) failed: %s", u.username, session,
				tostring(result)))
		elseif result ~= nil and type(result) ~= "string" then
			skynet.error(format("msgserver: request_handler returned a %s, not a string", type(result)))
			ok, result = false, nil
		end
		local data, err = wire.response(result or "", ok, session)
		if data == nil then
			u.response[session] = nil
			error(err, 0)
		end
		p.data = data
		p.index = u.index
		u.index = u.index + 1
		if user_online[u.username] == u and connection[p.fd] == u then
			send(p.fd, data)
		end
		retire(u)
	end

	function handler.message(fd, msg, sz)
		local body = netpack.tostring(msg, sz)
		local addr = handshake[fd]
		if addr then
			handshake[fd] = nil
			auth(fd, addr, body)
			return
		end
		local ok, err = pcall(request, fd, body)
		if not ok then
			-- handler.disconnect follows the close
			skynet.error(format("Invalid package %s : %s", tostring(err), body))
			gateserver.closeclient(fd)
		end
	end

	return gateserver.start(handler)
end

return server

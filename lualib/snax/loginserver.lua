-- snax.loginserver -- upstream's login server, wire-compatible.
--
--   local login = require "snax.loginserver"
--   login(conf)          -- the calling file becomes the login service
--
-- The same file runs as master and as slaves: the first instance
-- registers the local name "." .. (conf.name or "login") and becomes the
-- master; it launches conf.instance (8) slaves of the same file, listens
-- on conf.host:conf.port, and hands each connection to a slave in turn.
-- The slave runs the handshake (lines ending in "\n"):
--
--   S>C base64(challenge)               challenge = randomkey()
--   C>S base64(dhexchange(clientkey))
--   S>C base64(dhexchange(serverkey))   secret = dhsecret(peer, own key)
--   C>S base64(hmac64(challenge, secret))
--   C>S base64(desencode(secret, token))
--
-- then `server, uid = conf.auth_handler(token)` and gives the fd back.
-- The master runs `subid = conf.login_handler(server, uid, secret)` and
-- writes one line before closing: "200 base64(subid)", "401 Unauthorized"
-- (handshake or auth_handler failed), "403 Forbidden" (login_handler
-- raised), "406 Not Acceptable" (the uid is inside login_handler on
-- another connection and conf.multilogin is false).  Nothing is written
-- to a client that went away.  conf.command_handler(cmd, ...) answers
-- every "lua" call to the master.
--
-- Differences from upstream, on purpose: a client that has not finished
-- the handshake within conf.timeout centiseconds (default 3000; false for
-- none) is dropped like one that went away, so silent connections cannot
-- pile up; logged errors carry no file:line of this file.
local skynet = require "skynet"
require "skynet.manager"
local socket = require "skynet.socket"
local crypt = require "skynet.crypt"
local wire = require "snax.loginwire"

local b64encode = crypt.base64encode
local format = string.format

local RECV_LIMIT = 8192       -- bytes a slave buffers per connection
local DEFAULT_TIMEOUT = 3000  -- centiseconds for the whole handshake

-- An error of the connection itself (closed, timed out): no answer is
-- written.  Other errors are the client's fault: 401.
local SOCKET_ERROR = setmetatable({}, { __tostring = function() return "socket error" end })

local function socket_error(fd, why)
	skynet.error(format("auth failed: socket (fd = %d) %s", fd, why))
	error(SOCKET_ERROR, 0)
end

local function write(fd, text)
	if not socket.write(fd, text) then
		socket_error(fd, "closed")
	end
end

local function readline(fd, expired)
	local line = socket.readline(fd)
	if not line then
		socket_error(fd, expired[fd] and "timed out" or "closed")
	end
	return line
end

local function slave(conf)
	local auth_handler = assert(conf.auth_handler, "loginserver: conf.auth_handler is required")
	local timeout = conf.timeout
	if timeout == nil then
		timeout = DEFAULT_TIMEOUT
	end
	local expired = {} -- fd -> true once its handshake time ran out

	local function handshake(fd)
		local challenge = crypt.randomkey()
		write(fd, b64encode(challenge) .. "\n")
		local clientkey, err = wire.clientkey(readline(fd, expired))
		if not clientkey then
			error(err, 0)
		end
		local serverkey = crypt.randomkey()
		write(fd, b64encode(crypt.dhexchange(serverkey)) .. "\n")
		local secret = crypt.dhsecret(clientkey, serverkey)
		if not wire.challenge_ok(readline(fd, expired), challenge, secret) then
			error("challenge failed", 0)
		end
		local token
		token, err = wire.token(readline(fd, expired), secret)
		if not token then
			error(err, 0)
		end
		local ok, server, uid = pcall(auth_handler, token)
		if not ok then
			error(server, 0)
		end
		return server, uid, secret
	end

	-- Answers the master: true, server, uid, secret | false, why (401) |
	-- nil, why (the socket is gone: write nothing).
	local function auth(fd, addr)
		skynet.error(format("connect from %s (fd = %d)", addr, fd))
		if not socket.start(fd) then
			return nil, "socket error" -- gone before we could read it
		end
		socket.limit(fd, RECV_LIMIT)
		local done = false
		if timeout then
			skynet.timeout(timeout, function()
				if not done then
					expired[fd] = true
					socket.abandon(fd) -- wakes the reader as if closed
				end
			end)
		end
		local ok, server, uid, secret = pcall(handshake, fd)
		done = true
		local timed_out = expired[fd]
		expired[fd] = nil
		socket.abandon(fd) -- the master writes the answer and closes
		if ok then
			return true, server, uid, secret
		elseif server == SOCKET_ERROR then
			return nil, timed_out and "handshake timed out" or "socket error"
		end
		return false, tostring(server)
	end

	skynet.dispatch("lua", function(_, _, fd, addr)
		skynet.retpack(auth(fd, addr))
	end)
end

local function master(conf)
	local instance = conf.instance or 8
	assert(instance > 0, "loginserver: conf.instance must be > 0")
	local host = conf.host or "0.0.0.0"
	local port = assert(tonumber(conf.port), "loginserver: conf.port is required")
	local login_handler = assert(conf.login_handler, "loginserver: conf.login_handler is required")
	local command_handler = assert(conf.command_handler, "loginserver: conf.command_handler is required")
	local in_login = {} -- uid -> true while its login_handler runs

	skynet.dispatch("lua", function(_, _, cmd, ...)
		skynet.retpack(command_handler(cmd, ...))
	end)

	local slaves = {}
	for i = 1, instance do
		slaves[i] = skynet.newservice(SERVICE_NAME)
	end

	local function answer(fd, code, line)
		if not socket.write(fd, line .. "\n") then
			skynet.error(format("response %s failed: socket (fd = %d) closed", code, fd))
		end
	end

	local function login(fd, addr, s)
		local ok, server, uid, secret = skynet.call(s, "lua", fd, addr)
		if not ok then
			if ok == false then
				answer(fd, "401", "401 Unauthorized")
			end
			return server
		end
		if not conf.multilogin then
			if in_login[uid] then
				answer(fd, "406", "406 Not Acceptable")
				return format("User %s is already login", tostring(uid))
			end
			in_login[uid] = true
		end
		local ok2, subid = pcall(login_handler, server, uid, secret)
		in_login[uid] = nil
		if not ok2 then
			answer(fd, "403", "403 Forbidden")
			return tostring(subid)
		end
		answer(fd, "200", "200 " .. b64encode(subid == nil and "" or tostring(subid)))
	end

	local balance = 0
	skynet.error(format("login server listen at : %s %d", host, port))
	local id = socket.listen(host, port)
	socket.start(id, function(fd, addr)
		balance = balance % #slaves + 1
		local ok, err = pcall(login, fd, addr, slaves[balance])
		if not ok or err then
			skynet.error(format("invalid client (fd = %d) error = %s", fd, tostring(err)))
		end
		socket.close_fd(fd) -- never started here: close_fd, not close
	end)
end

return function(conf)
	local name = "." .. (conf.name or "login")
	skynet.start(function()
		if skynet.localname(name) then
			slave(conf)
		else
			skynet.register(name)
			master(conf)
		end
	end)
end

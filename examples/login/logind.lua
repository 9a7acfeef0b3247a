-- logind.lua -- the login example's login server (snax.loginserver): a
-- token is base64(user)@base64(server):base64(password), the password
-- must be "password", and the server a gate that registered itself.  A
-- user logging in again kicks the previous session first.
local login = require "snax.loginserver"
local crypt = require "skynet.crypt"
local skynet = require "skynet"

local server = {
	host = "127.0.0.1",
	port = tonumber(skynet.getenv "login_port") or 8001,
	multilogin = false, -- a uid may be inside login_handler once at a time
	name = "login_master",
	-- centiseconds a client has to finish the handshake (config key
	-- login_timeout; default 3000)
	timeout = tonumber(skynet.getenv "login_timeout"),
}

local server_list = {} -- server name -> gate address
local user_online = {} -- uid -> { address, subid, server }

function server.auth_handler(token)
	local user, srv, password = token:match "([^@]+)@([^:]+):(.+)"
	if user == nil then
		error "Invalid token"
	end
	user = crypt.base64decode(user)
	srv = crypt.base64decode(srv)
	password = crypt.base64decode(password)
	assert(password == "password", "Invalid password")
	return srv, user
end

function server.login_handler(srv, uid, secret)
	print(string.format("%s@%s is login, secret is %s", uid, srv, crypt.hexencode(secret)))
	local gameserver = assert(server_list[srv], "Unknown server")
	local last = user_online[uid]
	if last then
		skynet.call(last.address, "lua", "kick", uid, last.subid)
	end
	if user_online[uid] then
		error(string.format("user %s is already online", uid))
	end
	local subid = tostring(skynet.call(gameserver, "lua", "login", uid, secret))
	user_online[uid] = { address = gameserver, subid = subid, server = srv }
	return subid
end

local CMD = {}

function CMD.register_gate(srv, address)
	server_list[srv] = address
end

function CMD.logout(uid, subid)
	local u = user_online[uid]
	if u then
		print(string.format("%s@%s is logout", uid, u.server))
		user_online[uid] = nil
	end
end

function server.command_handler(command, ...)
	local f = assert(CMD[command], "unknown command")
	return f(...)
end

login(server)

-- gated.lua -- the login example's game gate (snax.msgserver).  Launched
-- as `gated <login server address>`.  Each login gets subid 1, 2, ... and
-- its own msgagent; requests are passed to that agent ("client" protocol).
local msgserver = require "snax.msgserver"
local skynet = require "skynet"

local loginservice = tonumber(...)

local server = {}
local users = {}        -- uid -> { username, agent, uid, subid }
local username_map = {} -- username -> the same
local internal_id = 0
local servername

-- login server: a user authenticated; returns its subid
function server.login_handler(uid, secret)
	if users[uid] then
		error(string.format("%s is already login", uid))
	end
	internal_id = internal_id + 1
	local id = internal_id
	local username = msgserver.username(uid, id, servername)
	local agent = skynet.newservice "msgagent"
	local u = { username = username, agent = agent, uid = uid, subid = id }
	skynet.call(agent, "lua", "login", uid, id, secret)
	users[uid] = u
	username_map[username] = u
	msgserver.login(username, secret)
	return id
end

-- the agent logs out
function server.logout_handler(uid, subid)
	local u = users[uid]
	if u then
		local username = msgserver.username(uid, subid, servername)
		assert(u.username == username)
		msgserver.logout(u.username)
		users[uid] = nil
		username_map[u.username] = nil
		skynet.call(loginservice, "lua", "logout", uid, subid)
	end
end

-- login server: the same user logs in again
function server.kick_handler(uid, subid)
	local u = users[uid]
	if u then
		local username = msgserver.username(uid, subid, servername)
		assert(u.username == username)
		pcall(skynet.call, u.agent, "lua", "logout") -- the agent exits before answering
	end
end

function server.disconnect_handler(username)
	local u = username_map[username]
	if u then
		skynet.call(u.agent, "lua", "afk")
	end
end

function server.request_handler(username, msg)
	local u = username_map[username]
	return skynet.tostring(skynet.rawcall(u.agent, "client", msg))
end

function server.register_handler(name)
	servername = name
	skynet.call(loginservice, "lua", "register_gate", servername, skynet.self())
end

msgserver.start(server)

-- svc_msggate.lua -- a snax.msgserver gate for test/lua/test_msgserver.lua,
-- launched as `svc_msggate <expired_number>`.  One user per uid (subid 1);
-- every request is answered "<content>#<n>", n counting the calls of
-- request_handler, so a client can tell a cached response (old n) from a
-- request run again (new n).
local msgserver = require "snax.msgserver"

local expired_number = math.tointeger(tonumber((...)))
local servername
local calls = 0

local server = { expired_number = expired_number }

function server.register_handler(name)
	servername = name
end

function server.login_handler(uid, secret)
	msgserver.login(msgserver.username(uid, 1, servername), secret)
	return 1
end

function server.logout_handler(uid, subid)
	msgserver.logout(msgserver.username(uid, subid, servername))
end

function server.kick_handler(uid, subid)
	server.logout_handler(uid, subid)
end

function server.request_handler(_, msg)
	calls = calls + 1
	return msg .. "#" .. calls
end

msgserver.start(server)

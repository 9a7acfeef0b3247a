-- msgagent.lua -- one per logged-in user of the login example: echoes
-- every client request after 100 ms.
local skynet = require "skynet"

skynet.register_protocol {
	name = "client",
	id = skynet.PTYPE_CLIENT,
	unpack = skynet.tostring,
}

local gate, userid, subid

local CMD = {}

function CMD.login(source, uid, sid)
	skynet.error(string.format("%s is login", uid))
	gate, userid, subid = source, uid, sid
end

function CMD.logout()
	skynet.error(string.format("%s is logout", userid))
	if gate then
		skynet.call(gate, "lua", "logout", userid, subid)
	end
	skynet.exit()
end

function CMD.afk()
	skynet.error "AFK"
end

skynet.start(function()
	skynet.dispatch("lua", function(_, source, command, ...)
		local f = assert(CMD[command], "unknown command")
		skynet.ret(skynet.pack(f(source, ...)))
	end)
	skynet.dispatch("client", function(_, _, msg)
		skynet.sleep(10)
		skynet.ret(msg)
	end)
end)

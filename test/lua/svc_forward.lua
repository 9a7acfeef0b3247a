-- svc_forward.lua -- helper: a proxy built with skynet.forward_type.  Lua
-- requests are dispatched as protocol "fwd" and redirected, without a copy,
-- to the target given as argument; the target answers the original caller.
local skynet = require "skynet"
require "skynet.manager"

local target = tonumber((...))
local forwarded = 0

skynet.register_protocol {
	name = "fwd", id = 100,
	unpack = function(msg, sz) return msg, sz end,
	dispatch = function(session, source, msg, sz)
		forwarded = forwarded + 1
		skynet.redirect(target, source, "lua", session, msg, sz)
		skynet.ignoreret() -- the target answers the caller
	end,
}

skynet.register_protocol {
	name = "text", id = skynet.PTYPE_TEXT,
	unpack = skynet.tostring,
	dispatch = function(session, source, text)
		if text == "count" then
			skynet.ret(tostring(forwarded))
		end
	end,
}

skynet.forward_type({ [skynet.PTYPE_LUA] = 100 }, function() end)

-- svc_monitor.lua -- helper: an exit monitor (skynet.monitor); records the
-- services that retired.
local skynet = require "skynet"

local exits = {}

skynet.register_protocol {
	name = "client", id = skynet.PTYPE_CLIENT,
	unpack = function() end,
	dispatch = function(session, source)
		exits[#exits + 1] = source
	end,
}

skynet.start(function()
	skynet.dispatch("lua", function(session, source, cmd, addr)
		if cmd == "exited" then
			for _, a in ipairs(exits) do
				if a == addr then
					skynet.retpack(true)
					return
				end
			end
			skynet.retpack(false)
		end
	end)
end)

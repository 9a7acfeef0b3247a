-- PingPong main service: starts two ping services and tells the first one
-- to begin bouncing a counter with the second.
local skynet = require "skynet"

skynet.start(function()
	skynet.error("[Pmain] start")
	local ping1 = skynet.newservice("ping")
	local ping2 = skynet.newservice("ping")
	skynet.send(ping1, "lua", "start", ping2)
	skynet.exit()
end)

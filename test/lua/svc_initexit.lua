-- svc_initexit.lua -- helper: exits inside its start function.
local skynet = require "skynet"
skynet.start(function()
	skynet.exit()
end)

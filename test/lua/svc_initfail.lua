-- svc_initfail.lua -- helper: its start function raises (after an optional sleep).
local skynet = require "skynet"
local delay = tonumber((...)) or 0
skynet.start(function()
	if delay > 0 then skynet.sleep(delay) end
	error("init boom")
end)

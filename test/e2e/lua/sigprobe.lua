-- Sends a busy-looping service SIGNAL 0, then checks it answers again.
local skynet = require "skynet"
require "skynet.manager"
local c = require "skynet.core"

skynet.start(function()
	local busy = skynet.newservice("spinner", "busy")
	skynet.send(busy, "lua", "spin")
	skynet.sleep(50)
	c.command("SIGNAL", skynet.address(busy) .. " 0")
	local ok = pcall(skynet.call, busy, "debug", "PING")
	skynet.error("sigprobe " .. (ok and "recovered" or "still stuck"))
	skynet.abort()
end)

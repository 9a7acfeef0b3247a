-- Turns on the per-service message log for itself, receives one message,
-- turns it off and stops the node (test_node.sh reads the log file).
local skynet = require "skynet"
require "skynet.manager"
local c = require "skynet.core"

skynet.start(function()
	local me = skynet.address(skynet.self())
	c.command("LOGON", me)
	skynet.dispatch("lua", function(_, _, what)
		if what == "done" then
			c.command("LOGOFF", me)
			skynet.error("msglog done")
			skynet.abort()
		end
	end)
	skynet.send(skynet.self(), "lua", "hello")
	skynet.send(skynet.self(), "lua", "done")
end)

-- test_exit.lua -- skynet.exit() closes the coroutine it is called from,
-- so to-be-closed variables run (in the start function and in handlers).
local skynet = require "skynet"
local T = require "testlib"

local closed = {}

skynet.dispatch("lua", function(_, _, cmd, what)
	if cmd == "closed" then
		closed[#closed + 1] = what
	end
end)

T.run("exit", function()
	T.eq("a service exiting from its start function is not returned",
		skynet.newservice("svc_closeexit", skynet.self(), "start"), nil)
	T.ok("a <close> variable of the start function is closed by skynet.exit()",
		T.waitfor(function() return closed[1] == "start" end, 200), table.concat(closed, ","))
	local svc = skynet.newservice("svc_closeexit", skynet.self(), "handler")
	skynet.send(svc, "lua", "go")
	T.ok("a <close> variable of a handler is closed by skynet.exit()",
		T.waitfor(function() return closed[2] == "handler" end, 200), table.concat(closed, ","))
end)

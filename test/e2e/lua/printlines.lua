-- printlines.lua -- start service of test_node.sh's whole-lines check: 4
-- services print long lines while 4 others log (skynet.error), all at
-- once on the node's stdout, then the node aborts.  Argument "worker" makes
-- it one of the writers.
local skynet = require "skynet"
require "skynet.manager"

local role, kind, id = ...
local LINES = 400
local PAD = ("x"):rep(180)

if role == "worker" then
	skynet.start(function()
		skynet.dispatch("lua", function()
			for i = 1, LINES do
				if kind == "print" then
					print("print", id, i, PAD)
				else
					skynet.error(string.format("log %s %d %s", id, i, PAD))
				end
				if i % 50 == 0 then skynet.yield() end
			end
			skynet.ret()
		end)
	end)
	return
end

skynet.start(function()
	local workers = {}
	for i = 1, 4 do
		workers[#workers + 1] = skynet.newservice("printlines", "worker", "print", i)
		workers[#workers + 1] = skynet.newservice("printlines", "worker", "log", i)
	end
	local left, co = #workers, coroutine.running()
	for _, w in ipairs(workers) do
		skynet.fork(function()
			skynet.call(w, "lua")
			left = left - 1
			if left == 0 then skynet.wakeup(co) end
		end)
	end
	skynet.wait()
	skynet.error("printlines done")
	skynet.abort()
end)

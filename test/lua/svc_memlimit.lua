-- svc_memlimit.lua -- helper: runs with a 1 MiB Lua memory limit.
local skynet = require "skynet"
skynet.memlimit(1024 * 1024)
local hoard = {}
skynet.start(function()
	skynet.dispatch("lua", function(session, source, cmd, n)
		if cmd == "alloc" then
			local ok, err = pcall(function()
				for i = 1, n do
					hoard[#hoard + 1] = string.rep("x", 1000) .. i
				end
			end)
			hoard = {}
			collectgarbage()
			skynet.retpack(ok, err)
		elseif cmd == "mem" then
			skynet.retpack(collectgarbage "count")
		end
	end)
end)

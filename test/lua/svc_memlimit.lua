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
		elseif cmd == "hog" then -- no pcall: the handler dies at the limit
			local t = {}
			for i = 1, n do
				t[#t + 1] = string.rep("y", 1000) .. i
			end
			skynet.retpack(true)
		elseif cmd == "hoard" then -- the same, and the memory stays taken
			for i = 1, n do
				hoard[#hoard + 1] = string.rep("y", 1000) .. i
			end
			skynet.retpack(true)
		elseif cmd == "free" then
			hoard = {}
			collectgarbage()
			skynet.retpack(true)
		elseif cmd == "mem" then
			skynet.retpack(collectgarbage "count")
		end
	end)
end)

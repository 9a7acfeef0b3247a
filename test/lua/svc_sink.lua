-- svc_sink.lua -- helper for the Lua tests: counts "lua" messages carrying
-- 1, 2, 3, ... and remembers whether they arrived in that order.
local skynet = require "skynet"

local count, ordered = 0, true

skynet.start(function()
	skynet.dispatch("lua", function(session, _, cmd, i)
		if cmd == "n" then
			count = count + 1
			if i ~= count then ordered = false end
		elseif cmd == "result" then
			skynet.ret(skynet.pack(count, ordered))
		elseif session ~= 0 then
			skynet.ret(skynet.pack(nil))
		end
	end)
end)

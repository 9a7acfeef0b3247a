-- svc_recallback.lua -- helper for test_callback.lua: its handler replaces
-- the service's message callback while it runs (as skynet/exit.lua does),
-- then forces full collections and keeps working on the old callback's
-- thread.  The replaced callback must stay alive until it returns.
local skynet = require "skynet"
local c = require "skynet.core"

local replaced = 0

local function second(_, _, _, session, source)
	-- the callback after the replacement answers "second" to any call
	if session ~= 0 then
		c.send(source, skynet.PTYPE_RESPONSE, session, skynet.pack("second", replaced))
	end
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd)
		if cmd == "replace" then
			c.callback(second)
			replaced = replaced + 1
			for _ = 1, 3 do
				collectgarbage("collect")
			end
			-- allocate on this (old) thread after the collections
			local t = {}
			for i = 1, 2000 do t[i] = tostring(i) .. string.rep("x", i % 50) end
			collectgarbage("collect")
			skynet.retpack("first", #t)
		end
	end)
end)

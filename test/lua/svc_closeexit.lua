-- svc_closeexit.lua -- helper for test_service.lua: a to-be-closed
-- variable in the start function (or, with "handler", in a request
-- handler) tells the tester when it is closed by skynet.exit().
local skynet = require "skynet"

local tester, where = tonumber((...)), select(2, ...)

local function closer(what)
	return setmetatable({}, { __close = function()
		skynet.send(tester, "lua", "closed", what)
	end })
end

skynet.start(function()
	if where == "handler" then
		skynet.dispatch("lua", function()
			local x <close> = closer("handler")
			skynet.exit()
		end)
		return
	end
	local x <close> = closer("start")
	skynet.exit()
end)

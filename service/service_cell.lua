-- service_cell.lua -- runs a function dumped by skynet.service.new as its
-- main chunk.  Its first request, "init", carries the code; the code's
-- skynet.start function runs before init answers (with our address).

local skynet = require "skynet"

local name = ...

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, code, ...)
		if cmd ~= "init" then
			error(string.format("service_cell %s: not initialized (%s)", tostring(name), tostring(cmd)))
		end
		local start_func
		local start = skynet.start
		skynet.start = function(f) start_func = f end
		skynet.dispatch("lua", function() error("service_cell " .. tostring(name) .. ": no lua dispatch") end)
		local main, err = load(code, "=" .. tostring(name), "b")
		if not main then
			skynet.start = start
			error(err)
		end
		main(...)
		skynet.start = start
		if start_func then
			start_func()
		end
		skynet.retpack(skynet.self())
	end)
end)

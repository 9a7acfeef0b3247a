-- test_servicelib.lua -- skynet.service (service_provider, service_cell).
local skynet = require "skynet"
local service = require "skynet.service"
local T = require "testlib"

T.run("test_servicelib", function()
	local function cell_main(greeting)
		local skynet = require "skynet"
		local started = false
		skynet.start(function()
			skynet.sleep(5)
			started = true
			skynet.dispatch("lua", function(_, _, what)
				skynet.retpack(greeting .. " " .. tostring(what), started)
			end)
		end)
	end
	local got = {}
	for i = 1, 2 do
		skynet.fork(function() got[i] = service.new("cellA", cell_main, "hello") end)
	end
	T.waitfor(function() return got[1] and got[2] end, 200)
	T.ok("service.new concurrent callers", got[1] and got[1] == got[2])
	local r, started = skynet.call(got[1], "lua", "world")
	T.eq("service cell runs mainfunc", r, "hello world")
	T.eq("start ran before new returned", started, true)
	T.eq("service.query", service.query "cellA", got[1])
	T.eq("service.new again", service.new("cellA", cell_main, "x"), got[1])
	local up = 1
	T.raises("mainfunc with upvalues", "_ENV", service.new, "cellB", function() return up end)
	local q
	skynet.fork(function() q = service.query "cellC" end)
	skynet.sleep(2)
	T.eq("query waits", q, nil)
	local c = service.new("cellC", function() require("skynet").start(function() end) end)
	T.waitfor(function() return q end, 100)
	T.eq("query woken", q, c)
	T.eq("service.close", service.close "cellA", true)
	T.raises("closed cell is gone", "invalid address", skynet.call, got[1], "lua", "x")
	T.eq("service.close unknown", service.close "nope", false)
end)

-- Floods a busy service past the overload threshold, then spins forever in
-- one handler so the endless-loop monitor reports it.
local skynet = require "skynet"

local mode = ...

if mode == "busy" then
	skynet.start(function()
		skynet.dispatch("lua", function(_, _, cmd)
			if cmd == "hold" then
				local t = skynet.hpc()
				while skynet.hpc() - t < 300 * 1000000 do end -- 0.3 s busy
			elseif cmd == "spin" then
				while true do end
			end
		end)
	end)
else
	skynet.start(function()
		local busy = skynet.newservice("spinner", "busy")
		skynet.send(busy, "lua", "hold")
		for _ = 1, 3000 do
			skynet.send(busy, "lua", "noop")
		end
		skynet.sleep(50)
		skynet.error("spinner busy=" .. skynet.address(busy))
		skynet.send(busy, "lua", "spin")
	end)
end

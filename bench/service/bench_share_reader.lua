-- bench_share_reader.lua -- reader of the sharedata scenario: queries the
-- shared table (library named by the argument), checks it, and reads every
-- entry on "scan".
local skynet = require "skynet"

local impl = ...
local lib = require("skynet." .. impl)
local cfg

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, name, n)
		if cmd == "query" then
			local t0 = skynet.hpc()
			cfg = lib.query(name)
			local el = (skynet.hpc() - t0) / 1e9
			assert(cfg[n].id == n and cfg[1].name == "item_1" and cfg[n].tags[2] == "t" .. (n % 13))
			skynet.retpack(el)
		elseif cmd == "scan" then
			local sum = 0
			for i = 1, n do
				sum = sum + cfg[i].price
			end
			skynet.retpack(sum)
		elseif cmd == "exit" then
			skynet.exit()
		end
	end)
end)

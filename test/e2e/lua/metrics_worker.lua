-- metrics_worker.lua -- services for test/e2e/test_metrics.sh, by role:
--   idle <i>  does nothing
--   busy      sends itself a message without pause, some work on each
--   hog       keeps ~4 MB of Lua strings
--   echo      answers "ping" with "pong" (the cluster target)
--   waiter    four coroutines asleep for good (its `task` count is 4)
--   jam <fifo> on "jam": holds its worker, blocked in open() of the named
--             pipe <fifo> until the test writes to it (no CPU spent), so
--             what is sent to it meanwhile waits in its mailbox
local skynet = require "skynet"

local role, arg = ...
local keep

skynet.start(function()
	if role == "busy" then
		local n, sum = 0, 0
		skynet.dispatch("lua", function()
			for i = 1, 2000 do sum = sum + i % 7 end
			n = n + 1
			-- a pause every 20 messages: ~2,000 messages/s, a fraction of a core
			if n % 20 == 0 then skynet.sleep(1) end
			skynet.send(skynet.self(), "lua", "again")
		end)
		skynet.send(skynet.self(), "lua", "again")
	elseif role == "hog" then
		keep = {}
		for i = 1, 4096 do keep[i] = string.rep(string.char(65 + i % 26), 1000) .. i end
	elseif role == "waiter" then
		for _ = 1, 4 do skynet.fork(function() skynet.sleep(100000000) end) end
	elseif role == "jam" then
		local fifo = arg
		skynet.dispatch("lua", function(_, _, cmd)
			if cmd ~= "jam" then return end
			local f = io.open(fifo, "r")
			if f then
				f:read "a"
				f:close()
			end
		end)
	elseif role == "echo" then
		skynet.dispatch("lua", function(_, _, cmd)
			skynet.ret(skynet.pack(cmd == "ping" and "pong" or "?"))
		end)
	end
end)

-- svc_slowinit.lua -- helper: start sleeps `ti` cs, counts launches in the
-- env key given as second argument, answers "who" with its argument list.
local skynet = require "skynet"
local ti, key = ...
skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd)
		if cmd == "who" then
			skynet.retpack(ti, key)
		end
	end)
	if key then
		local n = tonumber(skynet.getenv(key .. "_n") or 0)
		-- env keys can't be changed, so count with new keys
		skynet.setenv(key .. "_" .. n + 1, "1")
	end
	skynet.sleep(tonumber(ti) or 0)
end)

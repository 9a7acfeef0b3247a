-- bench_trivial.lua -- the smallest useful service, launched in bulk by the
-- `spawn` and `exit` scenarios.  Answers "ping" and exits on "quit".

local skynet = require "skynet"

skynet.start(function()
	skynet.dispatch("lua", function(session, _, cmd)
		if cmd == "quit" then
			if session ~= 0 then skynet.ret(skynet.pack(true)) end
			skynet.exit()
		elseif session ~= 0 then
			skynet.ret(skynet.pack(cmd))
		end
	end)
end)

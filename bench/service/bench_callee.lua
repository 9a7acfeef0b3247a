-- bench_callee.lua -- the answering side of the `call` scenario.
-- Every "lua" request is answered with its own arguments packed again
-- (skynet.ret(skynet.pack(...))); a request whose first argument is
-- "quit" is answered and then the service exits.

local skynet = require "skynet"

skynet.start(function()
	skynet.dispatch("lua", function(_, _, first, ...)
		skynet.ret(skynet.pack(first, ...))
		if first == "quit" then
			skynet.exit()
		end
	end)
end)

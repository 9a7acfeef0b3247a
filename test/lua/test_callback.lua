-- test_callback.lua -- replacing the message callback from inside a
-- handler (skynet.core's callback, as skynet/exit.lua does) under GC
-- pressure: the running callback stays alive until it returns.  Run under
-- AddressSanitizer (.ci/run) this catches a use after free.
local skynet = require "skynet"
local T = require "testlib"

T.run("callback", function()
	local svc = skynet.newservice("svc_recallback")
	local a, n = skynet.call(svc, "lua", "replace")
	T.eq("the handler that replaced the callback finishes its reply", a, "first")
	T.eq("... after allocating on its own thread past full collections", n, 2000)
	local b, count = skynet.call(svc, "lua", "anything")
	T.eq("the next message goes to the new callback", b, "second")
	T.eq("the callback was replaced once", count, 1)
	for i = 1, 20 do
		collectgarbage("collect")
		local r = skynet.call(svc, "lua", "again" .. i)
		if r ~= "second" then
			T.fail("the new callback keeps working after collections", tostring(r))
			return
		end
	end
	T.pass("the new callback keeps working after collections")
end)

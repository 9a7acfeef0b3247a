-- timeout_config.lua -- start service of test_call_timeout_config.sh, on a
-- node whose config sets call_timeout = 20: every skynet.call and rawcall
-- has that deadline; call_timeout overrides it; newservice has none.
local skynet = require "skynet"
local T = require "testlib"

T.run("config call_timeout", function()
	local e = skynet.newservice "svc_echo"
	T.raises("config call_timeout applies to skynet.call", "call to " .. skynet.address(e) .. " timed out after 20 cs",
		skynet.call, e, "lua", "sleep", 100)
	T.eq("a call answered in time returns", skynet.call(e, "lua", "sleep", 2, "quick"), "quick")
	T.raises("config call_timeout applies to rawcall", "timed out after 20 cs",
		skynet.rawcall, e, "lua", skynet.pack("sleep", 100))
	T.eq("call_timeout 0 overrides it: waits", skynet.call_timeout(0, e, "lua", "sleep", 40, "slow"), "slow")
	T.raises("call_timeout overrides it: shorter", "timed out after 5 cs", skynet.call_timeout, 5, e, "lua", "sleep", 100)
	-- a service whose start takes longer than call_timeout still launches
	local slow = skynet.newservice("svc_slowinit", 50)
	T.eq("newservice waits for a slow start", select(1, skynet.call(slow, "lua", "who")), "50")
end)

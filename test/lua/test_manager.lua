-- test_manager.lua -- forward_type, filter, monitor, memlimit, kill.
local skynet = require "skynet"
require "skynet.manager"
local T = require "testlib"

skynet.register_protocol {
	name = "text", id = skynet.PTYPE_TEXT,
	pack = function(s) return s end,
	unpack = skynet.tostring,
}

T.run("test_manager", function()
	local echo = skynet.newservice "svc_echo"

	-- forward_type: a proxy redirects calls without copying
	local proxy = skynet.newservice("svc_forward", echo)
	T.eq("forward_type proxies a call", skynet.call(proxy, "lua", "add", 40, 2), 42)
	T.eq("forward_type big message", skynet.call(proxy, "lua", "size", string.rep("y", 100000)), 100000)
	T.eq("forward_type unmapped type", skynet.tostring(skynet.rawcall(proxy, "text", "count")), "2")
	T.eq("forward_type debug protocol", skynet.call(proxy, "debug", "PING"), nil)

	-- filter
	local flt = skynet.newservice "svc_filter"
	T.eq("filter rewrites", skynet.call(flt, "lua", "text", "plain"), "filtered:plain")
	T.eq("filter rewrites text type", skynet.unpack(skynet.rawcall(flt, "text", "abc")), "filtered:abc")
	T.ok("filter sees messages", skynet.call(flt, "lua", "seen") >= 3)

	-- monitor
	local mon = skynet.monitor "svc_monitor"
	T.ok("monitor returns address", math.type(mon) == "integer")
	T.eq("monitor query", skynet.monitor("svc_monitor", true), mon)
	local victim = skynet.newservice "svc_echo"
	skynet.kill(victim)
	T.ok("monitor told of kill", T.waitfor(function() return skynet.call(mon, "lua", "exited", victim) end, 100))
	local quitter = skynet.newservice "svc_echo"
	skynet.send(quitter, "lua", "exit")
	T.ok("monitor told of exit", T.waitfor(function() return skynet.call(mon, "lua", "exited", quitter) end, 100))

	-- memlimit: allocating past the limit raises "not enough memory"; the service survives
	local ml = skynet.newservice "svc_memlimit"
	local ok, err = skynet.call(ml, "lua", "alloc", 10)
	T.eq("memlimit small alloc", ok, true)
	ok, err = skynet.call(ml, "lua", "alloc", 5000)
	T.ok("memlimit raises not enough memory", ok == false and tostring(err):find("not enough memory", 1, true), err)
	T.ok("memlimit service survives", type(skynet.call(ml, "lua", "mem")) == "number")
	T.eq("node survives", skynet.call(echo, "lua", "add", 1, 1), 2)

	-- kill
	local k = skynet.newservice "svc_echo"
	skynet.kill(k)
	T.raises("killed service", "invalid address", skynet.call, k, "lua", "add", 1, 1)
	T.eq("killed service left launcher list", skynet.call(".launcher", "lua", "LIST")[skynet.address(k)], nil)
	local k2 = skynet.newservice "svc_echo"
	local r = skynet.call(".launcher", "lua", "KILL", k2)
	T.eq("launcher KILL", r[skynet.address(k2)], "snlua svc_echo")
	T.raises("launcher-killed service", "invalid address", skynet.call, k2, "lua", "add", 1, 1)
end)

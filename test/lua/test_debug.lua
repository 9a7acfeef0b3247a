-- test_debug.lua -- the debug protocol, launcher STAT/MEM/GC, request batches.
local skynet = require "skynet"
require "skynet.manager"
local T = require "testlib"

T.run("test_debug", function()
	local d = skynet.newservice "svc_debugee"
	local mem = skynet.call(d, "debug", "MEM")
	T.ok("debug MEM", type(mem) == "number" and mem > 10 and mem < 10000, mem)
	T.eq("debug PING", select("#", skynet.call(d, "debug", "PING")), 0)
	T.eq("debug SUPPORT lua", skynet.call(d, "debug", "SUPPORT", "lua"), true)
	T.eq("debug SUPPORT unknown", skynet.call(d, "debug", "SUPPORT", "text"), false)
	local st = skynet.call(d, "debug", "STAT")
	T.ok("debug STAT", type(st) == "table" and st.task == 0 and st.mqlen == 0 and st.message > 0 and type(st.cpu) == "number")
	T.deq("debug INFO", skynet.call(d, "debug", "INFO", 1, 2), { info = "debugee", n = 2 })
	T.eq("debug extra command", skynet.call(d, "debug", "HELLO", "you"), "hello you")
	T.raises("debug unknown command", { "failed", "unknown debug command NOPE" }, skynet.call, d, "debug", "NOPE")
	-- RUN: print is captured; _P reaches the dispatch upvalues
	local ok, out = skynet.call(d, "debug", "RUN", "print('x', 1) print(...) _P.lua.CMD.value = 7", "inj", "arg1")
	T.eq("debug RUN ok", ok, true)
	T.eq("debug RUN output", out, "x\t1\narg1")
	T.eq("debug RUN changed state", skynet.call(d, "lua", "get"), 7)
	ok, out = skynet.call(d, "debug", "RUN", "error('inject failed')", "inj")
	T.ok("debug RUN error", ok == false and out:find("inject failed", 1, true), out)
	ok, out = skynet.call(d, "debug", "RUN", "this is not lua", "inj")
	T.ok("debug RUN syntax error", ok == false and #out > 0, out)
	-- TASK / UNIQTASK / KILLTASK
	local slept
	skynet.fork(function() slept = { pcall(skynet.call, d, "lua", "sleep", 1000) } end)
	skynet.sleep(5)
	local tasks = skynet.call(d, "debug", "TASK")
	local key = next(tasks)
	T.ok("debug TASK", key and key:find("session: %d+") and tasks[key]:find("svc_debugee.lua", 1, true), key)
	local ut = skynet.call(d, "debug", "UNIQTASK")
	T.ok("debug UNIQTASK", next(ut) and next(ut):find("^1\tsessions:%["), next(ut))
	local thread = key:match("^(thread: %S+)")
	T.eq("debug KILLTASK", select("#", skynet.call(d, "debug", "KILLTASK", thread)), 0)
	T.waitfor(function() return slept end)
	T.ok("killed task's caller fails", slept and slept[1] == false and tostring(slept[2]):find("request killed", 1, true), slept and slept[2])
	T.eq("debug KILLTASK not found", skynet.call(d, "debug", "KILLTASK", "thread: 0x0"), "Not found")
	-- TRACELOG
	T.eq("debug TRACELOG", select("#", skynet.call(d, "debug", "TRACELOG", "lua", false)), 0)
	-- GC (a send)
	skynet.send(d, "debug", "GC")
	-- launcher STAT / MEM / GC over every service
	local stat = skynet.call(".launcher", "lua", "STAT")
	T.ok("launcher STAT", type(stat[skynet.address(d)]) == "table")
	local mems = skynet.call(".launcher", "lua", "MEM", 1000)
	T.ok("launcher MEM", (mems[skynet.address(d)] or ""):match("^%d+%.%d%d Kb %(snlua svc_debugee%)$"), mems[skynet.address(d)])
	mems = skynet.call(".launcher", "lua", "GC")
	T.ok("launcher GC", (mems[skynet.address(d)] or ""):find("Kb", 1, true))
	-- LINK: answered with an error when the service exits
	local linked
	skynet.fork(function() linked = { pcall(skynet.call, d, "debug", "LINK") } end)
	skynet.sleep(5)
	T.eq("LINK waits", linked, nil)
	skynet.send(d, "debug", "EXIT")
	T.waitfor(function() return linked end)
	T.ok("LINK fails at exit", linked and linked[1] == false and tostring(linked[2]):find("failed", 1, true), linked and linked[2])
	T.raises("debug EXIT exited", "invalid address", skynet.call, d, "debug", "PING")

	-- request batches
	local e1 = skynet.newservice "svc_echo"
	local e2 = skynet.newservice "svc_echo"
	local req = skynet.request()
	req:add { e1, "lua", "add", 1, 2, tag = "a" }
	req { e2, "lua", "sleep", 5, "slow", tag = "b" }
	req:add { e1, "lua", "raise", "batch boom", tag = "c" }
	req:add { 0x00ffff00, "lua", "add", 1, 1, tag = "d" }
	local seen = {}
	local order = {}
	for r, resp in req:select() do
		seen[r.tag] = resp
		order[#order + 1] = r.tag
	end
	T.eq("request invalid address first", order[1], "d")
	T.eq("request invalid address resp nil", seen.d, nil)
	T.ok("request reply", type(seen.a) == "table" and seen.a[1] == 3 and seen.a.n == 1)
	T.ok("request slow reply", type(seen.b) == "table" and seen.b[1] == "slow")
	T.eq("request failed call", seen.c, false)
	T.eq("request all yielded", #order, 4)
	-- with a timeout
	local req2 = skynet.request()
	req2:add { e1, "lua", "sleep", 100, "late", tag = "late" }
	req2:add { e2, "lua", "add", 2, 2, tag = "fast" }
	local got = {}
	for r, resp in req2:select(20) do
		got[r.tag] = resp
	end
	T.ok("request timeout keeps fast reply", got.fast and got.fast[1] == 4)
	T.eq("request timeout drops slow", got.late, nil)
	T.eq("request timeout flag", req2.timeout, true)
	req2:close()
	skynet.sleep(100) -- the late reply arrives and is dropped quietly
	T.eq("service fine after late reply", skynet.call(e1, "lua", "add", 1, 1), 2)
	-- __close abandons what is still outstanding: nothing waits for the
	-- slow reply any more (skynet.task counts the sessions waited on).  The
	-- iterator is called by hand: a for loop would close the request itself.
	local tasks = skynet.task()
	do
		local req3 <close> = skynet.request { e1, "lua", "sleep", 50, "x" }
		local next_reply = req3:select(5)
		T.eq("request: nothing before the timeout", next_reply(), nil)
		T.eq("request still waits for the reply after select timed out", skynet.task(), tasks + 1)
	end
	T.eq("request __close abandons the outstanding call", skynet.task(), tasks)

	-- term: pending calls to a service fail at once
	local slow = skynet.newservice "svc_echo"
	local termed
	skynet.fork(function() termed = { pcall(skynet.call, slow, "lua", "sleep", 300) } end)
	skynet.yield()
	skynet.term(slow)
	skynet.yield()
	T.ok("term fails pending call", termed and termed[1] == false and tostring(termed[2]):find("terminated", 1, true), termed and termed[2])
end)

-- test_task_count.lua -- the task count the scheduler keeps in C
-- (skynet.stat "task", what debug STAT and the metrics endpoint report)
-- against a scan of the session table (skynet.task()), through every
-- path that sets or clears a session's waiter: sleep, wait/wakeup, a
-- call and its reply, a call failed by PTYPE_ERROR, call_timeout (the
-- deadline timer, the "TIMEOUT" mark, the late reply), skynet.timeout,
-- killthread (the "BREAK" mark) and yield.
local skynet = require "skynet"
local T = require "testlib"

local function same(name, want)
	skynet.yield()
	local scan, kept = skynet.task(), skynet.stat "task"
	T.ok(name .. ": the kept count is the scan's (" .. tostring(kept) .. ")", kept == scan and (want == nil or kept == want),
		"kept " .. tostring(kept) .. ", scan " .. tostring(scan) .. ", want " .. tostring(want))
end

T.run("task_count", function()
	local e = skynet.newservice "svc_echo"
	local base = skynet.task()
	same("at rest")

	local sleepers = {}
	for i = 1, 3 do sleepers[i] = skynet.fork(function() skynet.sleep(100000) end) end
	same("3 sleepers", base + 3)

	local token = {}
	local woke
	skynet.fork(function() skynet.wait(token) woke = true end)
	same("a waiter", base + 4)
	skynet.wakeup(token)
	T.waitfor(function() return woke end)
	same("the waiter woken", base + 3)

	local replied
	skynet.fork(function() replied = skynet.call(e, "lua", "sleep", 10, "r") end)
	same("a call waiting for its reply", base + 4)
	T.waitfor(function() return replied end)
	same("the reply came", base + 3)

	local failed
	skynet.fork(function() failed = not pcall(skynet.call, e, "lua", "raise", "no") end)
	T.waitfor(function() return failed end)
	same("a call failed by the callee", base + 3)

	T.raises("call_timeout gives up", "timed out", skynet.call_timeout, 5, e, "lua", "sleep", 30)
	same("after a call timed out", base + 3)
	skynet.sleep(40) -- the late reply arrives and is dropped
	same("after its late reply", base + 3)

	local fired
	skynet.timeout(5, function() fired = true end)
	same("a timeout pending", base + 4)
	T.waitfor(function() return fired end)
	same("the timeout fired", base + 3)

	for i = 1, 3 do skynet.killthread(sleepers[i]) end
	same("the sleepers killed", base)

	local yielded
	skynet.fork(function() for _ = 1, 5 do skynet.yield() end yielded = true end)
	same("yields")
	T.waitfor(function() return yielded end)
	same("the yields done", base)

	local many = {}
	for i = 1, 200 do many[i] = skynet.fork(function() skynet.sleep(100000) end) end
	same("200 sleepers", base + 200)
	for i = 1, 200 do skynet.wakeup(many[i]) end
	skynet.sleep(1)
	same("200 woken", base)
end)

-- test_timer.lua -- timeout, sleep, wakeup, wait, yield, fork, killthread,
-- now/time/starttime/hpc, stat.
local skynet = require "skynet"
local T = require "testlib"

T.run("test_timer", function()
	-- time functions
	local n0, h0 = skynet.now(), skynet.hpc()
	T.ok("now is integer", math.type(n0) == "integer" and n0 >= 0)
	T.ok("hpc is integer", math.type(h0) == "integer")
	local st = skynet.starttime()
	T.ok("starttime plausible", math.type(st) == "integer" and math.abs(st - os.time()) < 3600 * 24 * 365, st)
	T.ok("time = starttime + now/100", math.abs(skynet.time() - (st + skynet.now() / 100)) < 0.05)
	T.ok("time close to os.time", math.abs(skynet.time() - os.time()) <= 2)
	skynet.sleep(10)
	local n1, h1 = skynet.now(), skynet.hpc()
	T.ok("sleep(10) advances now by at least 10", n1 - n0 >= 10, n1 - n0)
	T.ok("hpc monotonic", h1 - h0 >= 80000000, h1 - h0) -- a 10-tick sleep may start late in a tick

	-- timeout ordering
	local order = {}
	skynet.timeout(30, function() order[#order + 1] = 30 end)
	skynet.timeout(10, function() order[#order + 1] = 10 end)
	skynet.timeout(20, function() order[#order + 1] = 20 end)
	skynet.timeout(0, function() order[#order + 1] = 0 end)
	local co = skynet.timeout(-5, function() order[#order + 1] = -5 end)
	T.eq("timeout returns a coroutine", type(co), "thread")
	skynet.sleep(40)
	T.deq("timeouts fire in time order", order, { 0, -5, 10, 20, 30 })
	T.raises("timeout with fractional time", "integer", skynet.timeout, 1.5, function() end)
	T.raises("sleep with fractional time", "integer", skynet.sleep, 0.5)
	T.ok("sleep with integral float", pcall(skynet.sleep, 1.0))

	-- wakeup breaks a sleep
	local r
	local sleeper = skynet.fork(function() r = skynet.sleep(1000) or "timeout" end)
	skynet.yield()
	T.eq("wakeup a sleeper", skynet.wakeup(sleeper), true)
	skynet.yield()
	T.eq("sleep returns BREAK", r, "BREAK")
	T.eq("wakeup nobody", skynet.wakeup({}), nil)
	-- custom token
	local token = {}
	r = nil
	skynet.fork(function() r = skynet.sleep(1000, token) or "timeout" end)
	skynet.yield()
	skynet.wakeup(token)
	skynet.yield()
	T.eq("wakeup by token", r, "BREAK")

	-- wait / wakeup
	local waited = {}
	local w1 = skynet.fork(function() skynet.wait() waited[#waited + 1] = 1 end)
	local w2 = skynet.fork(function() skynet.wait() waited[#waited + 1] = 2 end)
	skynet.yield()
	T.eq("waiters suspended", #waited, 0)
	skynet.wakeup(w2)
	skynet.wakeup(w1)
	skynet.yield()
	T.deq("wakeup order", waited, { 2, 1 })
	local tk = {}
	skynet.fork(function() skynet.wait(tk) end)
	skynet.yield()
	local dup_err
	skynet.fork(function()
		local ok, e = pcall(skynet.wait, tk)
		dup_err = e
	end)
	skynet.yield()
	T.ok("token duplicative", dup_err and dup_err:find("token duplicative", 1, true), dup_err)
	skynet.wakeup(tk)
	skynet.yield()

	-- fork: runs after the current coroutine yields, FIFO, with args
	local f = {}
	skynet.fork(function(a, b) f[#f + 1] = a .. b end, "x", "y")
	skynet.fork(function() f[#f + 1] = "second" end)
	skynet.fork(function(...) f[#f + 1] = select("#", ...) end, nil, nil)
	T.eq("fork not run before yield", #f, 0)
	skynet.yield()
	T.deq("fork FIFO and args", f, { "xy", "second", 2 })
	-- an error in a fork does not break the others
	local after = false
	skynet.fork(function() error("fork error on purpose") end)
	skynet.fork(function() after = true end)
	skynet.yield()
	T.eq("fork after failing fork runs", after, true)

	-- yield lets others run
	local seq = {}
	skynet.fork(function() for i = 1, 3 do seq[#seq + 1] = "a" .. i skynet.yield() end end)
	skynet.fork(function() for i = 1, 3 do seq[#seq + 1] = "b" .. i skynet.yield() end end)
	skynet.sleep(10)
	T.deq("yield interleaves", seq, { "a1", "b1", "a2", "b2", "a3", "b3" })

	-- killthread
	local killed_ran = false
	local kco = skynet.fork(function() skynet.sleep(20) killed_ran = true end)
	skynet.yield()
	T.eq("killthread sleeping coroutine", skynet.killthread(kco), kco)
	skynet.sleep(30)
	T.eq("killed coroutine did not resume", killed_ran, false)
	local fk = skynet.fork(function() killed_ran = true end)
	T.eq("killthread queued fork", skynet.killthread(fk), fk)
	skynet.yield()
	T.eq("killed fork did not run", killed_ran, false)
	local sco = skynet.fork(function() skynet.wait() killed_ran = true end)
	skynet.yield()
	T.eq("killthread by string", skynet.killthread(tostring(sco)), sco)
	T.eq("killthread unknown", skynet.killthread(coroutine.create(print)), nil)
	-- killthread of a coroutine waiting for a call: the late reply is dropped quietly
	local echo = skynet.newservice "svc_echo"
	local cco = skynet.fork(function() skynet.call(echo, "lua", "sleep", 10) killed_ran = true end)
	skynet.yield()
	skynet.killthread(cco)
	skynet.sleep(20)
	T.eq("killed caller not resumed", killed_ran, false)
	-- a killed (closed) coroutine stays a valid key of the scheduler's
	-- per-coroutine tables after collections (its state lives as long as it)
	local S = require "skynet.internal"
	collectgarbage "collect"
	collectgarbage "collect"
	T.eq("closed coroutine: no request address", S.session_coroutine_address[kco], nil)
	T.eq("closed coroutine: no trace tag", S.session_coroutine_tracetag[kco], nil)
	S.session_coroutine_tracetag[kco] = "t1"
	T.eq("closed coroutine: a tag can still be set", S.session_coroutine_tracetag[kco], "t1")
	S.session_coroutine_tracetag[kco] = nil
	T.eq("closed coroutine: and cleared", S.session_coroutine_tracetag[kco], nil)

	-- task / stat
	local t0 = skynet.task()
	local blocker = skynet.fork(function() skynet.sleep(500) end)
	skynet.yield()
	T.eq("task counts suspended", skynet.task(), t0 + 1)
	local tasks = skynet.task({})
	local found
	for k, v in pairs(tasks) do
		if k:find(tostring(blocker), 1, true) then found = v end
	end
	T.ok("task(table) has traceback", found and found:find("test_timer.lua", 1, true), found)
	local sess = skynet.task(blocker)
	T.ok("task(co) session", math.type(sess) == "integer")
	T.ok("task(session) traceback", skynet.task(sess):find("stack traceback", 1, true))
	T.eq("task(unknown session)", skynet.task(123456789), "No session")
	T.ok("task(init) while in start", (skynet.task("init") or ""):find("test_timer.lua", 1, true))
	local u = skynet.uniqtask()
	local ukey = next(u)
	T.ok("uniqtask", ukey and ukey:match("^%d+\tsessions:%[[%d,]*%]\n$"), ukey)
	skynet.killthread(blocker)
	T.eq("stat mqlen", skynet.stat "mqlen", 0)
	T.eq("mqlen", skynet.mqlen(), 0)
	T.ok("stat message", skynet.stat "message" > 10)
	T.ok("stat cpu", type(skynet.stat "cpu") == "number")
	T.eq("stat unknown", skynet.stat "nonsense", 0)
	T.eq("endless", skynet.endless(), false)

	-- trace_timeout
	skynet.trace_timeout(true)
	local tt = skynet.timeout(500, function() end)
	local tsess = skynet.task(tt)
	T.ok("trace_timeout shows creation", (skynet.task(tsess) or ""):find("timer created at", 1, true), skynet.task(tsess))
	skynet.trace_timeout(false)
	skynet.killthread(tt)

	-- many sessions pending at once, ending in scattered order, beside one
	-- that stays (the session map grows, and removes entries out of order)
	local tasks0 = skynet.task()
	local stay = skynet.timeout(100000, function() end)
	local echo = skynet.newservice "svc_echo"
	local N, woke, answered, left = 300, {}, {}, 0
	local main = coroutine.running()
	for i = 1, N do
		left = left + 1
		skynet.fork(function()
			skynet.sleep((i * 7) % 37 + 1)
			woke[i] = (woke[i] or 0) + 1
			answered[i] = skynet.call(echo, "lua", "echo", i)
			left = left - 1
			if left == 0 then skynet.wakeup(main) end
		end)
	end
	skynet.yield()
	T.eq("session map: every sleeper is a task", skynet.task() - tasks0, N + 1)
	skynet.wait()
	local once, right = true, true
	for i = 1, N do
		once = once and woke[i] == 1
		right = right and answered[i] == i
	end
	T.ok("session map: each sleeper woke once", once)
	T.ok("session map: each call got its own answer", right)
	T.eq("session map: only the staying timer is left", skynet.task() - tasks0, 1)
	T.ok("session map: the staying timer is still found", skynet.task(stay) ~= nil)
	skynet.killthread(stay)
	T.eq("session map: killthread removes it", skynet.task() - tasks0, 0)
end)

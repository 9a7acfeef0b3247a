-- test_modules.lua -- skynet.queue, skynet.coroutine, skynet.require, skynet.init.
local skynet = require "skynet"
local queue = require "skynet.queue"
local skynetco = require "skynet.coroutine"
local T = require "testlib"
local mod_init = require "mod_init"
mod_init.order[#mod_init.order + 1] = "toplevel"

T.run("test_modules", function()
	mod_init.order[#mod_init.order + 1] = "start"
	T.deq("skynet.init runs before start", mod_init.order, { "toplevel", "init", "start" })

	-- skynet.queue: mutual exclusion, FIFO, re-entrancy, errors
	local cs = queue()
	T.eq("skynet.queue after require", skynet.queue ~= nil, true)
	local inside, max_inside, log = 0, 0, {}
	local function critical(id)
		inside = inside + 1
		if inside > max_inside then max_inside = inside end
		log[#log + 1] = "in" .. id
		skynet.sleep(2)
		log[#log + 1] = "out" .. id
		inside = inside - 1
		return id * 10
	end
	local results = {}
	for i = 1, 3 do
		skynet.fork(function() results[i] = cs(critical, i) end)
	end
	T.waitfor(function() return results[1] and results[2] and results[3] end)
	T.eq("queue mutual exclusion", max_inside, 1)
	T.deq("queue FIFO", log, { "in1", "out1", "in2", "out2", "in3", "out3" })
	T.deq("queue returns results", results, { 10, 20, 30 })
	T.eq("queue re-entrant", cs(function() return cs(function() return "nested" end) end), "nested")
	local err = T.raises("queue propagates errors", "queue boom", cs, function() error("queue boom") end)
	T.ok("queue error has traceback", err and err:find("stack traceback", 1, true), err)
	T.eq("queue usable after error", cs(function() return 1 end), 1)
	-- an error while others wait releases the lock for them
	local got2
	skynet.fork(function() pcall(cs, function() skynet.sleep(2) error("x") end) end)
	skynet.fork(function() got2 = cs(function() return "next" end) end)
	T.waitfor(function() return got2 end)
	T.eq("queue passes on after error", got2, "next")

	-- skynet.coroutine
	local co = skynetco.create(function(a)
		local b = skynetco.yield(a + 1)
		skynet.sleep(2) -- blocks inside a skynet coroutine
		local c = skynetco.yield(b * 2)
		return "end", c
	end)
	T.deq("skynetco resume 1", { skynetco.resume(co, 1) }, { true, 2 })
	T.eq("skynetco status suspended", skynetco.status(co), "suspended")
	T.deq("skynetco resume 2 (blocks inside)", { skynetco.resume(co, 5) }, { true, 10 })
	T.deq("skynetco resume 3", { skynetco.resume(co, "c") }, { true, "end", "c" })
	T.eq("skynetco status dead", skynetco.status(co), "dead")
	T.deq("skynetco resume dead", { skynetco.resume(co) }, { false, "cannot resume dead coroutine" })
	local plain = coroutine.create(function() end)
	T.deq("skynetco resume plain", { skynetco.resume(plain) }, { false, "cannot resume none skynet coroutine" })
	-- blocked status / resuming a blocked one
	local bco
	bco = skynetco.create(function() skynet.sleep(10) return "woke" end)
	local bres
	skynet.fork(function() bres = { skynetco.resume(bco) } end)
	skynet.yield()
	T.eq("skynetco status blocked", skynetco.status(bco), "blocked")
	T.deq("skynetco resume blocked", { skynetco.resume(bco) },
		{ false, "cannot resume a skynet coroutine suspend by skynet framework" })
	T.waitfor(function() return bres end)
	T.deq("skynetco blocked finishes", bres, { true, "woke" })
	-- errors, wrap, thread, running, isyieldable
	local eco = skynetco.create(function() error("co err") end)
	local ok, e = skynetco.resume(eco)
	T.ok("skynetco error", ok == false and tostring(e):find("co err", 1, true), e)
	local gen = skynetco.wrap(function() for i = 1, 3 do skynetco.yield(i) end end)
	T.deq("skynetco wrap", { gen(), gen(), gen() }, { 1, 2, 3 })
	local wf = skynetco.wrap(function() error("wrap err") end)
	T.raises("skynetco wrap error", "wrap err", wf)
	local me = coroutine.running()
	local th, isroot
	local tco = skynetco.create(function() th, isroot = skynetco.thread() end)
	skynetco.resume(tco)
	T.ok("skynetco thread root", th == me and isroot == false)
	local th2, isroot2 = skynetco.thread()
	T.ok("skynetco thread of skynet thread", th2 == me and isroot2 == true)
	T.eq("skynetco isyieldable", skynetco.isyieldable(), true)
	-- skynet.call inside a skynet coroutine
	local echo = skynet.newservice "svc_echo"
	local cco = skynetco.wrap(function() return skynet.call(echo, "lua", "add", 20, 22) end)
	T.eq("skynet.call inside skynetco", cco(), 42)
	-- skynetco.yield outside skynetco.resume: the fork yields "USER" to the
	-- scheduler, which logs "Call skynet.coroutine.yield out of
	-- skynet.coroutine.resume" and leaves it suspended for good, as
	-- upstream does: the pcall around the yield never returns
	local yco, yret
	skynet.fork(function()
		yco = coroutine.running()
		yret = table.pack(pcall(skynetco.yield, 1))
	end)
	skynet.yield()
	skynet.sleep(2)
	T.ok("skynetco yield outside resume leaves the coroutine suspended",
		yco ~= nil and coroutine.status(yco) == "suspended" and yret == nil,
		yret and ("yield returned " .. tostring(yret[1]) .. ", " .. tostring(yret[2])) or tostring(yco))

	-- skynet.require from coroutines: concurrent requirers wait, body runs once
	local mods = {}
	for i = 1, 3 do
		skynet.fork(function() mods[i] = require "mod_slow" end)
	end
	T.waitfor(function() return mods[1] and mods[2] and mods[3] end)
	T.ok("require from coroutine", mods[1] and mods[1].value == "slow" and mods[1] == mods[2] and mods[2] == mods[3])
	T.eq("module body ran once", _G.MOD_SLOW_LOADS, 1)
	T.eq("module init ran after body", mods[1] and mods[1].inited, true)
	T.raises("circular require", "circular dependency", require, "mod_cycle_a")
	T.raises("require missing module", { "module 'mod_nope' not found", "no file" }, require, "mod_nope")
	local ferrs = {}
	for i = 1, 2 do
		skynet.fork(function() ferrs[i] = select(2, pcall(require, "mod_fail")) end)
	end
	T.waitfor(function() return ferrs[1] and ferrs[2] end)
	T.ok("failing module raises in loader", ferrs[1] and ferrs[1]:find("mod_fail exploded", 1, true), ferrs[1])
	T.ok("failing module raises in waiter", ferrs[2] and ferrs[2]:find("mod_fail", 1, true), ferrs[2])
	T.eq("skynet.init after start runs now", (function() local x skynet.init(function() x = 1 end) return x end)(), 1)

	-- io/os/utf8/debug/math open on first use; skynet's plain values too
	local libs = skynet.call(skynet.newservice "svc_libs", "lua")
	T.eq("lazy lib: not opened before use", libs.utf8_before, true)
	T.eq("lazy lib: works on first use", libs.utf8_char, "Hi")
	T.eq("lazy lib: then a global and in package.loaded", libs.utf8_after, true)
	T.eq("lazy lib: require opens it as a global", libs.require_os, true)
	T.eq("lazy lib: _G has our metatable until replaced", libs.g_metatable, "table")
	T.eq("skynet.PTYPE_CLIENT not set before use", libs.ptype_before, nil)
	T.eq("skynet.PTYPE_CLIENT", libs.ptype, 3)
	T.eq("skynet.PTYPE_CLIENT set after use", libs.ptype_after, 3)
	T.eq("setmetatable(_G) opens the pending libraries first", libs.strict_io, true)
	T.eq("a lazy library works under a strict _G", libs.strict_math, 2)
	T.ok("the strict metatable is in force", libs.strict_undeclared and libs.strict_undeclared:find("undeclared global no_such_global", 1, true),
		libs.strict_undeclared)
end)

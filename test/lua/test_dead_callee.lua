-- test_dead_callee.lua -- a call waiting on a service that dies fails at
-- once, saying why: killed, exited, out of memory, or the handler's error;
-- whether the request was still in the mailbox or taken by a handler that
-- was suspended (or kept by skynet.response).
local skynet = require "skynet"
local T = require "testlib"

-- Starts f in a fork; returns a table that gets .err (or .ok) and .at.
local function spawn(f, ...)
	local r = {}
	local args = table.pack(...)
	skynet.fork(function()
		local res = table.pack(pcall(f, table.unpack(args, 1, args.n)))
		r.at = skynet.now()
		if res[1] then r.ok = res else r.err = tostring(res[2]) end
	end)
	return r
end

local function all_done(list)
	for _, r in ipairs(list) do
		if not r.at then return false end
	end
	return true
end

-- every r of list failed with `want` (and "call to <addr> failed")
local function all_failed(name, list, addr, want)
	for i, r in ipairs(list) do
		local prefix = "call to " .. skynet.address(addr) .. " failed: " .. want
		if not (r.err and r.err:find(prefix, 1, true)) then
			T.fail(name, "call " .. i .. ": " .. (r.err or (r.at and "returned" or "still waiting")))
			return
		end
	end
	T.pass(name)
end

T.run("dead_callee", function()
	-- killed while its handler is suspended: fails at once, not after the sleep
	local k = skynet.newservice "svc_echo"
	local r = spawn(skynet.call, k, "lua", "sleep", 1000)
	skynet.sleep(5)
	local t0 = skynet.now()
	skynet.kill(k)
	T.waitfor(function() return r.at end, 500)
	all_failed("killed with the request taken", { r }, k, "service killed")
	T.ok("killed: fails at once", r.at and r.at - t0 < 100, r.at and (r.at - t0) .. " cs")

	-- killed while the requests wait in its mailbox (the service is busy)
	local kb = skynet.newservice "svc_echo"
	local busy = spawn(skynet.call, kb, "lua", "busy", 200)
	skynet.sleep(2)
	local queued = {}
	for i = 1, 8 do queued[i] = spawn(skynet.call, kb, "lua", "add", i, i) end
	skynet.sleep(2)
	skynet.kill(kb)
	T.waitfor(function() return all_done(queued) and busy.at end, 500)
	all_failed("killed with the requests in its mailbox", queued, kb, "service killed")

	-- 64 callers in flight when the callee dies: 32 taken by suspended
	-- handlers, 32 still queued behind a busy message
	local m = skynet.newservice "svc_echo"
	local flight = {}
	for i = 1, 32 do flight[#flight + 1] = spawn(skynet.call, m, "lua", "sleep", 1000, i) end
	skynet.sleep(5)
	local mbusy = spawn(skynet.call, m, "lua", "busy", 200)
	skynet.sleep(2)
	for i = 33, 64 do flight[#flight + 1] = spawn(skynet.call, m, "lua", "add", i, i) end
	skynet.sleep(2)
	skynet.kill(m)
	T.waitfor(function() return all_done(flight) and mbusy.at end, 500)
	all_failed("64 callers in flight when the callee is killed", flight, m, "service killed")

	-- a reply kept by skynet.response fails when its service is killed
	local h = skynet.newservice "svc_echo"
	local held = spawn(skynet.call, h, "lua", "hold")
	skynet.sleep(5)
	skynet.kill(h)
	T.waitfor(function() return held.at end, 500)
	all_failed("killed with a skynet.response pending", { held }, h, "service killed")

	-- exits while handlers are suspended, with a request still queued
	local e = skynet.newservice "svc_echo"
	local ex = {}
	for i = 1, 4 do ex[i] = spawn(skynet.call, e, "lua", "sleep", 1000) end
	ex[5] = spawn(skynet.call, e, "lua", "hold")
	skynet.sleep(5)
	skynet.send(e, "lua", "exit")
	ex[6] = spawn(skynet.call, e, "lua", "add", 1, 2)
	T.waitfor(function() return all_done(ex) end, 500)
	all_failed("exited: every waiting call fails", { table.unpack(ex, 1, 5) }, e, "service exited")
	T.ok("exited: a request sent after the exit fails", ex[6].err and (ex[6].err:find("service exited", 1, true)
		or ex[6].err:find("invalid address", 1, true)), ex[6].err)

	-- out of memory: the handler dies at the memory limit; its caller fails
	-- with the reason, and the service keeps serving
	local ml = skynet.newservice "svc_memlimit"
	local oom = spawn(skynet.call, ml, "lua", "hog", 100000)
	T.waitfor(function() return oom.at end, 1000)
	all_failed("out of memory in the handler", { oom }, ml, "out of memory")
	T.ok("the service serves again once the handler's memory is freed",
		type(skynet.call(ml, "lua", "mem")) == "number")
	-- the memory stays taken: whatever fails now fails with the reason
	local full = spawn(skynet.call, ml, "lua", "hoard", 100000)
	T.waitfor(function() return full.at end, 1000)
	all_failed("out of memory, the memory staying taken", { full }, ml, "out of memory")
	local after = {}
	for i = 1, 4 do after[i] = spawn(skynet.call, ml, "lua", "mem") end
	T.waitfor(function() return all_done(after) end, 1000)
	local answered = all_done(after)
	for _, a in ipairs(after) do
		if not (a.ok or (a.err and a.err:find("failed: out of memory", 1, true))) then answered = false end
	end
	T.ok("calls to a service at its memory limit never hang", answered)

	-- the handler's own error
	local er = skynet.newservice "svc_echo"
	local raised = spawn(skynet.call, er, "lua", "raise", "bad input")
	T.waitfor(function() return raised.at end)
	all_failed("the handler's error", { raised }, er, skynet.address(er) .. ": ")
	T.ok("the handler's error carries its text", raised.err and raised.err:find("bad input", 1, true), raised.err)

	-- a later call to the dead services: invalid address at once
	T.raises("call after kill", "call to invalid address", skynet.call, k, "lua", "add", 1, 2)
end)

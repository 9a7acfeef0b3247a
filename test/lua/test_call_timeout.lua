-- test_call_timeout.lua -- skynet.call_timeout: a call that gives up after
-- its deadline, says so, and whose late reply is dropped (counted), never
-- reaching a later call and never keeping its session.
local skynet = require "skynet"
local S = require "skynet.internal"
local T = require "testlib"

-- session marks left by calls that gave up ("TIMEOUT", "BREAK")
local function marks()
	local n = 0
	for _, v in pairs(S.session_id_coroutine) do
		if type(v) == "string" then n = n + 1 end
	end
	return n
end

T.run("call_timeout", function()
	local e = skynet.newservice "svc_echo"
	skynet.name(".timeout_echo", e)

	-- shorter than the reply: raises, after the timeout, naming the callee
	local t0 = skynet.now()
	local err = T.raises("timeout shorter than the reply", "call to " .. skynet.address(e) .. " timed out after 10 cs",
		skynet.call_timeout, 10, e, "lua", "sleep", 60, "late")
	local waited = skynet.now() - t0
	T.ok("raised once the timeout passed", waited >= 10 and waited < 60, waited .. " cs")
	T.ok("the error names the caller's line", err and err:find("^[^:]+%.lua:%d+: call to"), err)
	local _, timeouts = S.call_stats()
	T.eq("the timeout is counted", timeouts, 1)

	-- longer than the reply: returns what call returns
	local a, b = skynet.call_timeout(300, e, "lua", "sleep", 5, "in", "time")
	T.ok("timeout longer than the reply", a == "in" and b == "time", tostring(a))

	-- the late reply of the first call arrives meanwhile: dropped, counted,
	-- never delivered to a later call
	T.waitfor(function() return select(3, S.call_stats()) >= 1 end, 300)
	local waiting, _, late = S.call_stats()
	T.eq("the late reply is dropped and counted", late, 1)
	T.eq("nothing waits any more", waiting, 0)
	T.eq("the late reply freed its session", marks(), 0)
	T.eq("a later call gets its own reply", skynet.call(e, "lua", "echo", "mine"), "mine")

	-- a name is named
	T.raises("the callee's name in the error", "call to .timeout_echo timed out after 5 cs",
		skynet.call_timeout, 5, ".timeout_echo", "lua", "sleep", 30)

	-- 0 (or less) waits forever; a fraction is refused
	T.eq("timeout 0 waits for the reply", skynet.call_timeout(0, e, "lua", "sleep", 20, "slow"), "slow")
	T.raises("a fractional timeout is refused", "timeout must be an integer", skynet.call_timeout, 1.5, e, "lua", "echo")

	-- a callee that never answers: the call still ends
	T.raises("a callee that never answers", "timed out after 5 cs", skynet.call_timeout, 5, e, "lua", "hold")

	-- a dead callee fails the call at once with its reason, not the timeout
	local k = skynet.newservice "svc_echo"
	local kerr
	skynet.fork(function() kerr = select(2, pcall(skynet.call_timeout, 1000, k, "lua", "sleep", 1000)) end)
	skynet.sleep(5)
	skynet.kill(k)
	T.waitfor(function() return kerr end, 300)
	T.ok("a killed callee fails a timed call with its reason", kerr and kerr:find("failed: service killed", 1, true), kerr)

	-- under load: 64 coroutines, each call with a token, delays on both sides
	-- of the timeout; every reply must be its own call's
	local workers = {}
	for i = 1, 4 do workers[i] = skynet.newservice "svc_echo" end
	local ok_n, to_n, wrong, other = 0, 0, 0, nil
	local running = 0
	local _, base_to, base_late = S.call_stats()
	local base_marks = marks() -- the "hold" call above keeps its mark: its callee lives and never answers
	for c = 1, 64 do
		running = running + 1
		skynet.fork(function()
			for j = 1, 12 do
				local token = c * 1000 + j
				local delay = (c + j) % 7 -- 0..6 cs, the timeout is 3 cs
				local w = workers[(c + j) % 4 + 1]
				local ok, r = pcall(skynet.call_timeout, 3, w, "lua", "sleep", delay, token)
				if ok then
					ok_n = ok_n + 1
					if r ~= token then wrong = wrong + 1 end
				elseif tostring(r):find("timed out after 3 cs", 1, true) then
					to_n = to_n + 1
				else
					other = tostring(r)
				end
			end
			running = running - 1
		end)
	end
	T.waitfor(function() return running == 0 end, 2000)
	T.eq("under load: every call ended", running, 0)
	T.ok("under load: some calls timed out, some got their reply", ok_n > 0 and to_n > 0, ok_n .. " ok, " .. to_n .. " timed out")
	T.eq("under load: no call got another call's reply", wrong, 0)
	T.eq("under load: no other error", other, nil)
	local _, to_all = S.call_stats()
	T.eq("under load: timeouts counted", to_all - base_to, to_n)
	-- every timed-out call's reply comes later (the callees sleep at most 6 cs)
	T.waitfor(function() return select(3, S.call_stats()) - base_late >= to_n end, 500)
	local _, _, late_all = S.call_stats()
	T.eq("under load: every late reply dropped and counted", late_all - base_late, to_n)
	T.eq("under load: no session kept", marks(), base_marks)

	-- skynet.call without a config call_timeout waits as long as it takes
	T.eq("plain call has no deadline", skynet.call(e, "lua", "sleep", 30, "patient"), "patient")
end)

-- testlib.lua -- helpers for the Lua test services in test/lua.
--
-- Convention (read by test/run.sh): every check logs exactly one line,
-- "PASS <name>" or "FAIL <name>: <why>"; a finished test logs "DONE" and
-- aborts the node.  T.run(name, f) runs the test body f in the start
-- function with a guard timer that fails the test if it hangs.

local skynet = require "skynet"
require "skynet.manager"

local T = {}

local failures = 0

function T.pass(name)
	skynet.error("PASS " .. name)
end

function T.fail(name, why)
	failures = failures + 1
	skynet.error("FAIL " .. name .. ": " .. tostring(why))
end

function T.ok(name, cond, why)
	if cond then
		T.pass(name)
	else
		T.fail(name, why or "condition is false")
	end
	return cond
end

local function show(v)
	if type(v) == "string" then
		return string.format("%q", v)
	end
	return tostring(v)
end

function T.eq(name, got, want)
	if got == want then
		T.pass(name)
		return true
	end
	T.fail(name, "got " .. show(got) .. ", want " .. show(want))
	return false
end

-- Deep comparison of plain values/tables.
local function same(a, b)
	if a == b then return true end
	if type(a) ~= "table" or type(b) ~= "table" then return false end
	for k, v in pairs(a) do
		if not same(v, b[k]) then return false end
	end
	for k in pairs(b) do
		if a[k] == nil then return false end
	end
	return true
end
T.same = same

function T.deq(name, got, want)
	if same(got, want) then
		T.pass(name)
		return true
	end
	T.fail(name, "tables differ")
	return false
end

-- f(...) must raise an error whose message contains every plain string in
-- `patterns` (a string or a list).  Returns the message.
function T.raises(name, patterns, f, ...)
	local ok, err = pcall(f, ...)
	if ok then
		T.fail(name, "no error raised")
		return
	end
	err = tostring(err)
	if type(patterns) == "string" then patterns = { patterns } end
	for _, p in ipairs(patterns) do
		if not err:find(p, 1, true) then
			T.fail(name, "error " .. show(err) .. " lacks " .. show(p))
			return err
		end
	end
	T.pass(name)
	return err
end

-- Runs fn in the start function; logs DONE and aborts when it returns (or
-- raises: that is a failure); a guard fails the test after `guard` cs.
function T.run(testname, fn, guard)
	skynet.start(function()
		skynet.timeout(guard or 3000, function()
			T.fail(testname, "guard timeout")
			skynet.error("DONE")
			skynet.abort()
		end)
		local ok, err = xpcall(fn, debug.traceback)
		if not ok then
			T.fail(testname, "test body raised: " .. tostring(err))
		end
		skynet.error("DONE")
		skynet.abort()
	end)
end

-- Waits until cond() is true, polling every cs (at most `limit` cs).
function T.waitfor(cond, limit)
	limit = limit or 300
	local t = 0
	while not cond() do
		if t >= limit then return false end
		skynet.sleep(1)
		t = t + 1
	end
	return true
end

return T

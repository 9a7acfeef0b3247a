-- debug_console_eval.lua -- evaluates the Lua expressions typed after
-- `call address` at the debug console, away from the console itself:
--
--   skynet.newservice("debug_console_eval", console_address)
--   skynet.call(eval, "lua", source) -> true, n, v1..vn | false, message
--
-- A typed expression is untrusted code.  Run inside the console, an endless
-- loop (`(function() while true do end end)()`) would hold the console
-- forever and a huge string would take the node's memory.  Here it runs in
-- a service of its own with three bounds:
--   * time: a count hook raises after EVAL_TIME_NS, so a loop ends with
--     "call: evaluation stopped after 1 s";
--   * memory: skynet.memlimit(EVAL_MEMORY) before start, so `..`, rep and
--     table building fail with "not enough memory" instead of growing;
--   * C calls: while the expression runs, strings offer only methods whose
--     cost is linear in their result (no find/match/gsub/gmatch, whose
--     backtracking a hook cannot interrupt; no pack, whose sizes are
--     unbounded), so no single instruction outlives the time bound.
-- The expression sees an empty environment, as upstream's console gives it.
-- The console bounds its wait as well and replaces an evaluator that does
-- not answer; this service exits by itself when its console is gone.

local skynet = require "skynet"
local core = require "skynet.core"

-- the console's address, ":0000000b"; the evaluator leaves with it
local console = tonumber(((...) or ""):match("^:(%x+)$") or "", 16)

-- how long one expression may run
local EVAL_TIME_NS = 1000000000
-- Lua instructions between two clock reads of the hook
local EVAL_HOOK_COUNT = 1000
-- the Lua heap this service may use (itself ~50 kB, the rest for values)
local EVAL_MEMORY = 32 * 1024 * 1024
-- centiseconds between two checks that the console still exists
local CONSOLE_CHECK = 1000

skynet.memlimit(EVAL_MEMORY)

local function missing_method(name)
	return string.format("string method '%s' is not available in console expressions", tostring(name))
end

-- string methods offered to expressions: each costs time linear in its
-- result, which the memory limit bounds
local SAFE_STRING = {}
for _, name in ipairs { "byte", "char", "format", "len", "lower", "rep", "reverse", "sub", "upper" } do
	SAFE_STRING[name] = string[name]
end
setmetatable(SAFE_STRING, {
	__index = function(_, name)
		error(missing_method(name), 2)
	end,
})

local stop_message = string.format("call: evaluation stopped after %g s", EVAL_TIME_NS / 1e9)

-- Runs f() under the bounds above; returns pcall's results.
local function bounded(f)
	local strmeta = getmetatable("")
	local methods = strmeta.__index
	local deadline = skynet.hpc() + EVAL_TIME_NS
	-- The expression cannot yield (its environment is empty), so nothing
	-- else of this service runs until the string methods are restored.
	strmeta.__index = SAFE_STRING
	debug.sethook(function()
		if skynet.hpc() > deadline then
			error(stop_message, 0)
		end
	end, "", EVAL_HOOK_COUNT)
	local r = table.pack(pcall(f))
	debug.sethook()
	strmeta.__index = methods
	return r
end

local function evaluate(source)
	local f, err = load("return " .. source, "=(console)", "t", {})
	if not f then
		return false, "invalid arguments: " .. err
	end
	local r = bounded(f)
	if not r[1] then
		local e = tostring(r[2])
		if e == "not enough memory" then
			e = string.format("call: evaluation ran out of memory (limit %d MB)", EVAL_MEMORY // (1024 * 1024))
		end
		collectgarbage "collect"
		return false, e
	end
	return true, r.n - 1, table.unpack(r, 2, r.n)
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, source)
		local r = table.pack(evaluate(tostring(source)))
		-- values such as functions cannot travel in a message: say so
		local ok, msg, sz = pcall(skynet.pack, table.unpack(r, 1, r.n))
		if not ok then
			msg, sz = skynet.pack(false, "call: the values cannot be sent: " .. tostring(msg))
		end
		skynet.ret(msg, sz)
	end)
	local function watch()
		if console and not core.alive(console) then
			skynet.exit()
		end
		skynet.timeout(CONSOLE_CHECK, watch)
	end
	skynet.timeout(CONSOLE_CHECK, watch)
end)

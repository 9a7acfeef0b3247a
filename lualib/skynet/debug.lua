-- skynet/debug.lua -- the debug protocol (PTYPE_DEBUG)
-- answered by every Lua service.  skynet.lua loads this module when the
-- first debug message arrives.  Extra commands:
--   require("skynet.debug").reg_debugcmd(name, fn)

local skynet = require "skynet"
local c = require "skynet.core"
local S = require "skynet.internal"

local format = string.format

local M = {}
local dbgcmd = {}
local extcmd = {}

function dbgcmd.MEM()
	skynet.ret(skynet.pack(collectgarbage "count"))
end

function dbgcmd.GC()
	local before = collectgarbage "count"
	local t0 = skynet.hpc()
	collectgarbage "collect"
	local after = collectgarbage "count"
	skynet.error(format("GC %.2f Kb -> %.2f Kb, cost %.6f sec", before, after, (skynet.hpc() - t0) / 1e9))
	skynet.ret() -- upstream never answers (it is meant to be sent); a caller gets an empty reply
end

-- task: the count the scheduler keeps in C (lua-sched-smap.c counts the
-- coroutines of its session map), the same number the metrics endpoint
-- shows; no scan of the session table, and skynet/introspect.lua is not
-- loaded.  Upstream's fields, and ours (named to sort after upstream's, so
-- the console's `stat` line keeps upstream's columns first): waiting =
-- calls of this service not answered yet, timeout = calls that gave up at
-- their deadline, timeout_late = replies that came after their call timed
-- out (dropped).
function dbgcmd.STAT()
	local waiting, timeouts, late = S.call_stats()
	skynet.ret(skynet.pack {
		task = c.intcommand("STAT", "task") or 0,
		mqlen = c.intcommand("STAT", "mqlen") or 0,
		cpu = c.intcommand("STAT", "cpu") or 0,
		message = c.intcommand("STAT", "message") or 0,
		waiting = waiting,
		timeout = timeouts,
		timeout_late = late,
	})
end

function dbgcmd.TASK(session)
	if session then
		skynet.ret(skynet.pack(skynet.task(session)))
	else
		skynet.ret(skynet.pack(skynet.task {}))
	end
end

function dbgcmd.UNIQTASK()
	skynet.ret(skynet.pack(skynet.uniqtask()))
end

function dbgcmd.KILLTASK(name)
	local co = skynet.killthread(name)
	if co then
		skynet.error(format("Kill %s", tostring(co)))
		skynet.ret()
	else
		skynet.error(format("Kill %s : Not found", tostring(name)))
		skynet.ret(skynet.pack "Not found")
	end
end

function dbgcmd.INFO(...)
	local f = S.info_func
	if f then
		skynet.ret(skynet.pack(f(...)))
	else
		skynet.ret(skynet.pack(nil))
	end
end

function dbgcmd.EXIT()
	skynet.exit()
end

-- Runs source inside this service (skynet/inject.lua): reply ok and the
-- printed lines joined by "\n".
function dbgcmd.RUN(source, filename, ...)
	local inject = require "skynet.inject"
	local ok, output = inject(skynet, source, filename, table.pack(...))
	collectgarbage "collect"
	skynet.ret(skynet.pack(ok, table.concat(output, "\n")))
end

function dbgcmd.TERM(service)
	skynet.term(service)
	skynet.ret()
end

function dbgcmd.REMOTEDEBUG(...)
	local ok, remotedebug = pcall(require, "skynet.remotedebug")
	if not ok then
		error("REMOTEDEBUG: the remote debugger (skynet.remotedebug) is not available on this node")
	end
	remotedebug.start(M, ...)
end

function dbgcmd.SUPPORT(pname)
	skynet.ret(skynet.pack(skynet.dispatch(pname) ~= nil))
end

function dbgcmd.PING()
	skynet.ret()
end

local links = {}
function dbgcmd.LINK()
	-- never answered: the caller's call fails when this service exits
	links[#links + 1] = skynet.response()
end

function dbgcmd.TRACELOG(proto, flag)
	if type(proto) ~= "string" then
		flag = proto
		proto = "lua"
	end
	skynet.error(format("Turn trace log %s for %s", tostring(flag), proto))
	skynet.traceproto(proto, flag)
	skynet.ret()
end

function M.dispatch(session, source, cmd, ...)
	local f = dbgcmd[cmd] or extcmd[cmd]
	if f == nil then
		error(format("unknown debug command %s", tostring(cmd)))
	end
	return f(...)
end

function M.reg_debugcmd(name, fn)
	local prev = extcmd[name]
	extcmd[name] = fn
	return prev
end

return M

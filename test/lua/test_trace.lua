-- test_trace.lua -- skynet.trace, tracetag, tracelog, traceproto, tracecall.
-- The trace lines go to the log; this test checks the API and that traced
-- calls still work.
local skynet = require "skynet"
local T = require "testlib"

local CMD = {}
function CMD.traced(addr)
	skynet.trace("my info")
	local tag = skynet.tracetag()
	local r = skynet.call(addr, "lua", "add", 1, 2)
	skynet.sleep(1)
	skynet.retpack(tag, r)
end
function CMD.tag()
	skynet.retpack(skynet.tracetag())
end

T.run("test_trace", function()
	skynet.dispatch("lua", function(session, source, cmd, ...) CMD[cmd](...) end)
	local me = skynet.self()
	local echo = skynet.newservice "svc_echo"
	T.eq("no tag outside trace", skynet.tracetag(), nil)
	local tag, r = skynet.call(me, "lua", "traced", echo)
	T.ok("trace tag format", type(tag) == "string" and tag:match("^:%x%x%x%x%x%x%x%x%-%d+$"), tag)
	T.eq("traced call works", r, 3)
	-- tracelog: one line through skynet.core.trace (the writer of every
	-- "<TRACE tag>" log line, captured here), with frames when asked
	local core = require "skynet.core"
	local lines, trace = {}, core.trace
	core.trace = function(tag, text) lines[#lines + 1] = tag .. "|" .. text end
	local ok, err = pcall(function()
		skynet.tracelog("mytag", "a line")
		skynet.tracelog("mytag", "with frames", 1)
		skynet.tracelog("mytag", "of a coroutine", coroutine.running(), 1)
	end)
	core.trace = trace
	T.ok("tracelog writes one trace line per call", ok and #lines == 3, ok and table.concat(lines, "; ") or err)
	T.eq("tracelog line: tag and text", lines[1], "mytag|a line")
	T.ok("tracelog with a level adds the caller's frame",
		lines[2] and lines[2]:find("^mytag|with frames : %S*test_trace%.lua:%d+"), lines[2])
	T.ok("tracelog of a coroutine adds its frames",
		lines[3] and lines[3]:find("^mytag|of a coroutine : .*test_trace%.lua:%d+"), lines[3])
	-- traceproto true: every lua request is traced
	skynet.traceproto("lua", true)
	local t2 = skynet.call(me, "lua", "tag")
	T.ok("traceproto true traces", type(t2) == "string", t2)
	skynet.traceproto("lua", false)
	T.eq("traceproto false", skynet.call(me, "lua", "tag"), false)
	skynet.traceproto("lua", nil)
	T.eq("traceproto nil", skynet.call(me, "lua", "tag"), nil)
	T.raises("traceproto unknown", "unknown protocol", skynet.traceproto, "nope", true)
	-- tracecall
	local m, sz = skynet.tracecall("tc-tag", echo, "lua", skynet.pack("add", 2, 3))
	T.eq("tracecall", skynet.unpack(m, sz), 5)
end)

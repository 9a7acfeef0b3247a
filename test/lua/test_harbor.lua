-- test_harbor.lua -- the harbor service of a single node (harbor = 0):
-- messages to other harbors' handles are dropped and callers answered at
-- once (they used to loop between skynet_send and the harbor service,
-- pinning a core), and messages for a global name not registered yet wait
-- for it in order, at a constant cost per message.
local skynet = require "skynet"
require "skynet.manager"
local T = require "testlib"

-- CPU seconds this process has used (user + system), from /proc.
local function cpu_seconds()
	local f = assert(io.open("/proc/self/stat"))
	local line = f:read("a")
	f:close()
	local rest = line:match("%) (.*)$")
	local fields = {}
	for v in rest:gmatch("%S+") do fields[#fields + 1] = v end
	-- fields after the command: state is 1, utime is 12, stime is 13
	return (tonumber(fields[12]) + tonumber(fields[13])) / 100
end

local function remote_handles()
	T.raises("a call to another harbor's handle fails at once, saying why",
		"call to :01000001 failed: no such node", skynet.call, 0x01000001, "lua", "ping")
	T.raises("a call to handle 0xffffffff fails the same way",
		"call to :ffffffff failed: no such node", skynet.call, 0xffffffff, "lua", "ping")
	for _ = 1, 100 do
		skynet.send(-1, "lua", "lost")
		skynet.send(0x02000005, "lua", "lost")
	end
	skynet.sleep(20)
	local c0 = cpu_seconds()
	skynet.sleep(100)
	local used = cpu_seconds() - c0
	T.ok("after sends to other harbors' handles the node is idle (" .. used .. " s CPU in 1 s)",
		used < 0.3, "the messages are still being bounced")
	T.ok("a send to another harbor's handle does not raise", pcall(skynet.send, 0x01000001, "lua", "x"))
end

-- Sends n messages to a global name nobody has registered yet, registers
-- it, and returns the seconds until the last one arrived and the sink's
-- verdict.
local function flood_unregistered(name, n)
	local sink = skynet.newservice("svc_sink")
	local t0 = skynet.hpc()
	for i = 1, n do
		skynet.send(name, "lua", "n", i)
	end
	skynet.name(name, sink)
	local count, ordered
	T.waitfor(function()
		count, ordered = skynet.call(sink, "lua", "result")
		return count >= n
	end, 3000)
	local secs = (skynet.hpc() - t0) / 1e9
	skynet.kill(sink)
	return secs, count, ordered
end

local function pending_names()
	local small, c1, o1 = flood_unregistered("waitsmall", 5000)
	T.eq("5,000 messages to a name registered later all arrive", c1, 5000)
	T.ok("... in the order they were sent", o1)
	local big, c2, o2 = flood_unregistered("waitbig", 40000)
	T.eq("40,000 messages to a name registered later all arrive", c2, 40000)
	T.ok("... in the order they were sent", o2)
	-- 8 times the messages: linear cost is ~8x the time, the old tail walk
	-- (quadratic) ~40x or more.  The bound leaves room for a loaded machine.
	local ratio = big / math.max(small, 1e-3)
	T.ok(string.format("queueing for an unregistered name costs the same per message "
		.. "(5k: %.3f s, 40k: %.3f s, ratio %.1f)", small, big, ratio), ratio < 25)
	local sink = skynet.newservice("svc_sink")
	skynet.name("later", sink)
	skynet.send("later", "lua", "n", 1)
	T.ok("a name bound before sending delivers directly",
		T.waitfor(function() return skynet.call(sink, "lua", "result") == 1 end, 500))
end

T.run("harbor", function()
	remote_handles()
	pending_names()
end, 6000)

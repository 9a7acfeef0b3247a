-- test_share_memory.lua -- the memory win of shared data: a table of more
-- than 10 MB (as C data) shared by 1,000 reader services, through
-- skynet.sharetable and skynet.sharedata, adds a small constant per reader,
-- not a copy.  Resident memory comes from /proc/self/status.
local skynet = require "skynet"
local sharetable = require "skynet.sharetable"
local sharedata = require "skynet.sharedata"
local core = require "skynet.sharetable.core"
local T = require "testlib"

local READERS = 1000
local ENTRIES = 40000
-- per reader, both libraries: the proxies, caches and the monitor coroutine
local MAX_QUERY_KB = 32

local function rss_kb()
	local f = io.open "/proc/self/status"
	local s = f:read "a"
	f:close()
	return tonumber(s:match "VmRSS:%s*(%d+)")
end

local SRC = string.format([[
local t = {}
for i = 1, %d do
	t[i] = { id = i, name = "item_" .. i .. string.rep("x", 40), level = i %% 100, tags = { "a" .. i, "b" } }
end
return t
]], ENTRIES)

T.run("test_share_memory", function()
	local doc = core.loadstring(SRC)
	local bytes = core.stat(doc)
	core.release(doc)
	T.ok("the table is over 10 MB of C data", bytes > 10 * 1024 * 1024, bytes)
	sharetable.loadstring("big", SRC)
	sharedata.new("big", SRC)
	collectgarbage()
	local readers = {}
	for i = 1, READERS do
		readers[i] = skynet.newservice("svc_share_reader", "sharetable")
	end
	skynet.sleep(20)
	local before = rss_kb()
	local left, good = READERS, 0
	local co = coroutine.running()
	local code = string.format([[
		H.st = sharetable.query 'big'
		H.sd = sharedata.query 'big'
		local i = math.random(%d)
		return H.st[i].id == i and H.sd[i].id == i and H.st[%d].tags[1] == "a%d" and #H.sd == %d]],
		ENTRIES, ENTRIES, ENTRIES, ENTRIES)
	for i = 1, READERS do
		skynet.fork(function()
			local ok, r = skynet.call(readers[i], "lua", "eval", code)
			if ok and r then good = good + 1 end
			left = left - 1
			if left == 0 then skynet.wakeup(co) end
		end)
	end
	skynet.wait(co)
	T.eq("every reader reads both tables", good, READERS)
	skynet.sleep(20)
	local after = rss_kb()
	local per = (after - before) / READERS
	skynet.error(string.format("share memory: table %.1f MB, %d readers, %.1f kB resident per reader (both libraries)",
		bytes / 1048576, READERS, per))
	T.ok("1,000 readers add far less than one copy each", per < MAX_QUERY_KB,
		string.format("%.1f kB per reader (limit %d kB; a copy is %d kB)", per, MAX_QUERY_KB, bytes // 1024))
	for i = 1, READERS do
		skynet.send(readers[i], "lua", "exit")
	end
end, 5000)

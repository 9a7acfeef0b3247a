-- test_datacenter.lua -- skynet.datacenter, global names (skynet.harbor in
-- single-node mode).
local skynet = require "skynet"
require "skynet.manager"
local datacenter = require "skynet.datacenter"
local harbor = require "skynet.harbor"
local T = require "testlib"

T.run("test_datacenter", function()
	T.eq("get missing", datacenter.get "nokey", nil)
	T.eq("set new returns nil", datacenter.set("a", 1), nil)
	T.eq("get", datacenter.get "a", 1)
	T.eq("set returns previous", datacenter.set("a", 2), 1)
	T.eq("set path", datacenter.set("t", "x", "y", "deep"), nil)
	T.eq("get path", datacenter.get("t", "x", "y"), "deep")
	T.deq("get branch", datacenter.get("t", "x"), { y = "deep" })
	T.eq("get below leaf", datacenter.get("a", "b"), nil)
	datacenter.set("tbl", { 1, 2, { k = "v" } })
	T.deq("table value", datacenter.get "tbl", { 1, 2, { k = "v" } })

	-- wait: blocks until the value is set (several waiters)
	local w = {}
	for i = 1, 2 do
		skynet.fork(function() w[i] = datacenter.wait("later", "key") end)
	end
	skynet.sleep(5)
	T.eq("wait blocks", w[1], nil)
	datacenter.set("later", "key", "arrived")
	T.waitfor(function() return w[1] and w[2] end, 100)
	T.ok("wait wakes every waiter", w[1] == "arrived" and w[2] == "arrived")
	T.eq("wait on existing value", datacenter.wait "a", 2)
	-- a waited leaf that becomes a branch fails its waiters
	local we
	skynet.fork(function() we = { pcall(datacenter.wait, "br") } end)
	skynet.sleep(5)
	datacenter.set("br", "sub", 1)
	T.waitfor(function() return we end, 100)
	T.ok("wait on leaf turned branch fails", we and we[1] == false and tostring(we[2]):find("failed", 1, true), we and we[2])
	-- another service sees the same tree
	local echo = skynet.newservice "svc_echo"
	T.eq("datacenter reachable by global name", skynet.call("DATACENTER", "lua", "QUERY", "a"), 2)

	-- global names
	skynet.name("GECHO", echo)
	T.eq("call by global name", skynet.call("GECHO", "lua", "add", 3, 4), 7)
	T.eq("queryname global", harbor.queryname "GECHO", echo)
	T.eq("queryname local", harbor.queryname ".launcher", skynet.localname ".launcher")
	local qn
	skynet.fork(function() qn = harbor.queryname "GLATER" end)
	skynet.sleep(5)
	T.eq("queryname waits", qn, nil)
	skynet.register "GLATER"
	T.waitfor(function() return qn end, 100)
	T.eq("queryname woken by register", qn, skynet.self())
	-- a call to a global name registered later is delivered then
	local e2 = skynet.newservice "svc_echo"
	local res
	skynet.fork(function() res = skynet.call("GLATE2", "lua", "add", 5, 5) end)
	skynet.sleep(5)
	skynet.name("GLATE2", e2)
	T.waitfor(function() return res end, 100)
	T.eq("call queued for a global name", res, 10)
	harbor.link(1) -- returns at once in single-node mode
	T.pass("harbor.link returns")
end)

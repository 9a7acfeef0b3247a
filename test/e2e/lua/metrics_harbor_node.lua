-- metrics_harbor_node.lua -- start service of test/e2e/test_metrics_harbor.sh
-- (two harbor nodes, each with a metrics endpoint); config key
-- `metrics_harbor_role` says which:
--   one  node 1 (the master): harbor_echo as global name ECHO; READY
--   two  node 2: 200 calls of 1,000 bytes to ECHO, then one call left in
--        flight (ECHO sleeps), logs "CALLS DONE"; when node 1 is killed
--        that call fails and it logs "INFLIGHT <ok> <error>"
local skynet = require "skynet"
local harbor = require "skynet.harbor"
require "skynet.manager"

local role = skynet.getenv "metrics_harbor_role"

skynet.start(function()
	if role == "one" then
		skynet.name("ECHO", skynet.newservice "harbor_echo")
		skynet.error("READY")
		return
	end
	local echo = harbor.queryname "ECHO"
	local payload = string.rep("x", 1000)
	local ok = 0
	for _ = 1, 200 do
		if skynet.call(echo, "lua", "echo", payload) == payload then ok = ok + 1 end
	end
	skynet.fork(function()
		local r, err = pcall(skynet.call, echo, "lua", "sleep", 100000)
		skynet.error("INFLIGHT " .. tostring(r) .. " " .. tostring(err))
	end)
	skynet.sleep(20) -- the in-flight request has left
	skynet.error("CALLS DONE " .. ok)
end)

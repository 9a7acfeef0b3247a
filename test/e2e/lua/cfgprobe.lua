-- Logs the config keys test_config.sh checks, then stops the node.
local skynet = require "skynet"
require "skynet.manager"

skynet.start(function()
	local g = skynet.getenv
	skynet.error("cfgprobe start=" .. tostring(g "start"))
	skynet.error("greeting=" .. tostring(g "greeting"))
	skynet.error(string.format("answer=%s ratio=%s enabled=%s", g "answer", g "ratio", g "enabled"))
	skynet.error(string.format("thread=%s harbor=%s profile=%s logservice=%s", g "thread", g "harbor",
		g "profile", g "logservice"))
	skynet.error("daemon=" .. tostring(g "daemon"))
	skynet.abort()
end)

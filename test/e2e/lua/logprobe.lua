-- Logs, waits, logs again and stops: the SIGHUP and daemon tests rename
-- the log file or check the pid file in between.
local skynet = require "skynet"
require "skynet.manager"

skynet.start(function()
	skynet.error("probe line one")
	skynet.sleep(tonumber(skynet.getenv "probe_wait") or 150)
	skynet.error("probe line two")
	skynet.abort()
end)

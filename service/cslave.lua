-- cslave.lua -- harbor mode (harbor = 1..255) is not supported by this
-- build.  bootstrap starts this service when harbor ~= 0; it says so and
-- stops the node.  Use harbor = 0 and skynet.cluster for multi-node setups.

local skynet = require "skynet"
require "skynet.manager"

skynet.start(function()
	local msg = string.format("harbor mode (harbor = %s) is not supported by this build; use harbor = 0 (cluster) instead",
		skynet.getenv "harbor")
	skynet.error(msg)
	io.stderr:write("skynet: ", msg, "\n")
	skynet.abort(1)
end)

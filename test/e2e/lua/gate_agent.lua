-- gate_agent: the agent (and broker, as ".gbroker") of test/e2e/test_gate.sh.
-- Reports every PTYPE_CLIENT frame it gets to the probe given at launch,
-- as ("client", session, source, payload).
local skynet = require "skynet"
require "skynet.manager"

local probe = tonumber((...))

skynet.register_protocol {
	name = "client",
	id = skynet.PTYPE_CLIENT,
	unpack = skynet.tostring,
	dispatch = function(session, source, msg)
		skynet.ignoreret()
		skynet.send(probe, "lua", "client", session, source, msg)
	end,
}

skynet.start(function()
	skynet.register ".gbroker"
end)

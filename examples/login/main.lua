-- main.lua -- the login example's start service: the login server, then
-- one gate (server name "sample") that registers itself with it.
local skynet = require "skynet"

skynet.start(function()
	local loginserver = skynet.newservice "logind"
	local gate = skynet.newservice("gated", loginserver)
	skynet.call(gate, "lua", "open", {
		port = tonumber(skynet.getenv "gate_port") or 8888,
		maxclient = 64,
		servername = "sample",
	})
end)

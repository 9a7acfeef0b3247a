-- main: start service of the KV database example (examples/config).
-- Starts the debug console on 127.0.0.1:8000, the simpledb service and a
-- watchdog whose gate listens on 0.0.0.0:8888; then it is done.
local skynet = require "skynet"
local kvproto = require "kvproto"

local max_client = 64

skynet.start(function()
	skynet.error("Server start")
	skynet.newservice("debug_console", 8000)
	skynet.newservice("simpledb")
	local watchdog = skynet.newservice("watchdog")
	local addr, port = skynet.call(watchdog, "lua", "start", {
		port = 8888,
		maxclient = max_client,
		nodelay = true,
		maxpacket = kvproto.MAXPACKET, -- longer requests cost the client its connection
	})
	skynet.error("Watchdog listen on " .. addr .. ":" .. port)
	skynet.exit()
end)

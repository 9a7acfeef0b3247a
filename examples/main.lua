-- main: start service of the KV database example (examples/config).
-- Starts the schema loader, a stdin console (unless the node runs as a
-- daemon), the debug console on 127.0.0.1:8000, the SIMPLEDB store and
-- the watchdog, whose gate takes clients on 0.0.0.0:8888; then it exits.
--
-- The two ports can be moved with the config keys kv_console_port and
-- kv_gate_port (the tests do: they cannot count on 8000 and 8888 being free).
local skynet = require "skynet"

local MAX_CLIENT = 64

local function port_setting(key, default)
	local v = skynet.getenv(key)
	if v == nil then
		return default
	end
	local port = math.tointeger(tonumber(v))
	if not port or port < 0 or port > 65535 then
		error(string.format("main: config key %s = %q is not a port number", key, v))
	end
	return port
end

skynet.start(function()
	skynet.error("Server start")
	skynet.uniqueservice("protoloader")
	if not skynet.getenv "daemon" then
		skynet.newservice("console")
	end
	skynet.newservice("debug_console", port_setting("kv_console_port", 8000))
	skynet.newservice("simpledb")
	local watchdog = skynet.newservice("watchdog")
	local addr, port = skynet.call(watchdog, "lua", "start", {
		port = port_setting("kv_gate_port", 8888),
		maxclient = MAX_CLIENT,
		nodelay = true,
	})
	skynet.error("Watchdog listen on " .. addr .. ":" .. port)
	skynet.exit()
end)

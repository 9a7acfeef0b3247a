-- Start service of test_console.sh: a debug console on the port from the
-- config key console_port, and the services the test looks at:
--   .probe    console_probe (info_func, alloc/free, suspended tasks)
--   .limited  console_probe with a 1 MB memlimit
--   .spin     console_probe that busy-loops when told to
--   .caller   console_probe whose calls to .callee stay unanswered (callpark)
--   .callee   console_probe that parks those calls until "release"
--   .net      console_net listening on console_netport (if set)
-- console_many = N also starts N idle services (the scale test).
local skynet = require "skynet"
require "skynet.manager"

skynet.start(function()
	local many = tonumber(skynet.getenv "console_many" or 0)
	if many > 0 then
		local t0 = skynet.hpc()
		for _ = 1, many do
			skynet.newservice("console_probe", "idle")
		end
		skynet.error(string.format("console_main: started %d idle services in %.2f s", many,
			(skynet.hpc() - t0) / 1e9))
	end
	skynet.name(".probe", skynet.newservice("console_probe", "probe"))
	skynet.name(".limited", skynet.newservice("console_probe", "limited"))
	skynet.name(".spin", skynet.newservice("console_probe", "spin"))
	skynet.name(".caller", skynet.newservice("console_probe", "caller"))
	skynet.name(".callee", skynet.newservice("console_probe", "callee"))
	local netport = skynet.getenv "console_netport"
	if netport then
		skynet.name(".net", skynet.newservice("console_net", netport))
	end
	skynet.uniqueservice("console_probe", "unique")
	skynet.newservice("debug_console", skynet.getenv "console_port")
	skynet.error("console_main: ready")
end)

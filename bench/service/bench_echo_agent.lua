-- bench_echo_agent.lua -- owns connections of the `echo` scenario and
-- echoes fixed-size requests (see bench_echo.lua).
local skynet = require "skynet"
local socket = require "skynet.socket"

local size = tonumber((...)) or 64

local function serve(main, fd)
	socket.start(fd)
	local n = 0
	while true do
		local data = socket.read(fd, size)
		if not data then
			break
		end
		socket.write(fd, data)
		n = n + 1
	end
	socket.close(fd)
	skynet.send(main, "lua", "closed", n)
end

skynet.start(function()
	skynet.dispatch("lua", function(_, source, cmd, fd)
		if cmd == "conn" then
			skynet.fork(serve, source, fd)
		end
	end)
end)

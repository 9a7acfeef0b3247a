-- poller_line_agent.lua -- one connection of poller_lines.lua.
local skynet = require "skynet"
local socket = require "skynet.socket"

local function serve(fd)
	socket.start(fd)
	while true do
		local line = socket.readline(fd)
		if not line then
			break
		end
		local ms = line:match "^spin (%d+)$"
		if ms then
			-- a handler that keeps its worker busy (no yield)
			local t0 = skynet.hpc()
			while skynet.hpc() - t0 < tonumber(ms) * 1000000 do
			end
			socket.write(fd, "done\n")
		elseif line == "ping" then
			socket.write(fd, "pong\n")
		end
	end
	skynet.exit()
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, fd)
		skynet.fork(serve, fd)
	end)
end)

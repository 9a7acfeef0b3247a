-- bench_ws_agent.lua -- owns connections of the `websocket` scenario (see
-- bench_echo.lua): http.websocket.accept with a handler that echoes every
-- message with its type.
local skynet = require "skynet"
local websocket = require "http.websocket"

local count = {}
local handle = {}

function handle.message(id, msg, op)
	websocket.write(id, msg, op)
	count[id] = count[id] + 1
end

local function serve(main, fd)
	count[fd] = 0
	websocket.accept(fd, handle, "ws")
	local n = count[fd]
	count[fd] = nil
	skynet.send(main, "lua", "closed", n)
end

skynet.start(function()
	skynet.dispatch("lua", function(_, source, cmd, fd)
		if cmd == "conn" then
			skynet.fork(serve, source, fd)
		end
	end)
end)

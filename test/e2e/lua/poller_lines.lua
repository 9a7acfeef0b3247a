-- poller_lines.lua -- for test_poller.sh: listens on `poller_port` and
-- gives every connection a service of its own (poller_line_agent) that
-- answers lines: "ping" -> "pong", "spin <ms>" -> busy for that long, then
-- "done".
local skynet = require "skynet"
local socket = require "skynet.socket"

skynet.start(function()
	local port = assert(tonumber(skynet.getenv "poller_port"))
	local lid = assert(socket.listen("127.0.0.1", port))
	socket.start(lid, function(fd)
		local agent = skynet.newservice "poller_line_agent"
		skynet.send(agent, "lua", fd)
	end)
	skynet.error("poller_lines listening")
end)

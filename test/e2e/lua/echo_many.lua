-- One-line echo for test_many_sockets.sh: one coroutine per connection;
-- the node closes first, so TIME_WAIT stays on its side (one port) instead
-- of using up the client's ephemeral ports; logs each close.
local skynet = require "skynet"
local socket = require "skynet.socket"

skynet.start(function()
	local port = assert(tonumber(skynet.getenv "echo_many_port"))
	local listen = socket.listen("127.0.0.1", port, 1024)
	socket.start(listen, function(fd)
		socket.start(fd)
		local line = socket.readline(fd)
		if line then
			socket.write(fd, line .. "\n")
		end
		socket.close(fd)
		skynet.error("echo_many closed")
	end)
	skynet.error("echo_many listening")
end)

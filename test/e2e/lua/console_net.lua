-- Listens on 127.0.0.1:<port> and reads (and drops) whatever clients send,
-- so test_console.sh can compare netstat's byte counts with what it sent.
local skynet = require "skynet"
local socket = require "skynet.socket"

local port = tonumber((...))

local function drain(fd, addr)
	local n = 0
	while true do
		local data = socket.read(fd)
		if not data then break end
		n = n + #data
	end
	socket.close(fd)
	skynet.error(string.format("console_net: %s sent %d bytes", addr, n))
end

skynet.start(function()
	local id = socket.listen("127.0.0.1", port)
	socket.start(id, function(fd, addr)
		if socket.start(fd) then
			skynet.fork(drain, fd, addr)
		end
	end)
	skynet.error("console_net: listening on 127.0.0.1:" .. port)
end)

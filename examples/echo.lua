-- Echo server (user notes, section 四): listens on 0.0.0.0:8888 and writes
-- every byte it receives back to the client.  Connects and disconnects are
-- logged.  Try it with `nc 127.0.0.1 8888`.
local skynet = require "skynet"
local socket = require "skynet.socket"

local HOST, PORT = "0.0.0.0", 8888

-- One coroutine per client: read what is there, write it back, until the
-- client goes away.
local function echo(fd, addr)
	while true do
		local data = socket.read(fd)
		if not data then
			break
		end
		socket.write(fd, data)
	end
	socket.close(fd)
	skynet.error(fd .. " disconnect addr:" .. addr)
end

-- Accept callback: a new connection is not read until socket.start(fd).
local function connect(fd, addr)
	if not socket.start(fd) then
		skynet.error(fd .. " connect addr:" .. addr .. " failed to start")
		return
	end
	skynet.error(fd .. " connect addr:" .. addr)
	skynet.fork(echo, fd, addr)
end

skynet.start(function()
	local listenfd = socket.listen(HOST, PORT)
	skynet.error("Listen on " .. HOST .. ":" .. PORT)
	socket.start(listenfd, connect)
end)

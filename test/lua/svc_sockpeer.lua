-- svc_sockpeer.lua -- helper for test_socket.lua: takes over a socket
-- another service abandoned, reads from it and writes back.
local skynet = require "skynet"
local socket = require "skynet.socket"

local CMD = {}

function CMD.adopt_read(fd, n)
	assert(socket.start(fd) == fd)
	local data = socket.read(fd, n)
	socket.write(fd, "back")
	return data
end

function CMD.wait_close(fd)
	local data = socket.read(fd)
	socket.close(fd)
	return data
end

function CMD.exit()
	skynet.exit()
end

skynet.start(function()
	skynet.dispatch("lua", function(session, source, cmd, ...)
		local f = assert(CMD[cmd], "svc_sockpeer: unknown command " .. tostring(cmd))
		if session ~= 0 then
			skynet.ret(skynet.pack(f(...)))
		else
			f(...)
		end
	end)
end)

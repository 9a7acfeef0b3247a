-- bench_gate_agent.lua -- agent of the `gate` scenario: answers each frame
-- forwarded by the gate (PTYPE_CLIENT, session = fd) with the same frame.
local skynet = require "skynet"
local socket = require "skynet.socket"
local netpack = require "skynet.netpack"

local count = 0

skynet.register_protocol {
	name = "client",
	id = skynet.PTYPE_CLIENT,
	unpack = function(msg, sz) return msg, sz end,
	dispatch = function(fd, _, msg, sz)
		skynet.ignoreret()
		socket.write(fd, netpack.pack(msg, sz)) -- a copy with the header; msg is freed after us
		count = count + 1
	end,
}

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd)
		if cmd == "count" then
			skynet.ret(skynet.pack(count))
		end
	end)
end)

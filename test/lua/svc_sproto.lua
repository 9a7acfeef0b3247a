-- svc_sproto.lua -- helper for test_sproto: a service that loads the schema
-- of sprotoloader slot ARGV[1] (saved by another service) and serves RPC
-- through it: "rpc" answers a packed request with the packed response,
-- "push" sends a packed request back as a PTYPE_CLIENT message.
local skynet = require "skynet"
local sprotoloader = require "sprotoloader"

local slot = tonumber((...))
local sp = sprotoloader.load(slot)
local host = sp:host "package"
local push = host:attach(sp)

skynet.register_protocol { name = "client", id = skynet.PTYPE_CLIENT }

local CMD = {}
function CMD.rpc(msg)
	local kind, name, args, respond = host:dispatch(msg)
	assert(kind == "REQUEST" and name == "ping", "unexpected " .. tostring(kind) .. " " .. tostring(name))
	return respond { a = args.a + 1, s = args.s .. "!" }
end
function CMD.push(source, a)
	skynet.rawsend(source, "client", push("ping", { a = a, s = "pushed" }))
	return true
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, ...)
		skynet.ret(skynet.pack(CMD[cmd](...)))
	end)
end)

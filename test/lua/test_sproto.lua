-- test_sproto.lua -- sproto inside a node: every check of sproto_cases.lua
-- (vectors, types, errors, RPC), then sprotoloader's process-wide slots
-- shared between services, and decoding a message straight from a skynet
-- message pointer (what an agent's client protocol does).
local skynet = require "skynet"
local T = require "testlib"

T.run("test_sproto", function()
	require("sproto_cases")(T)

	local sproto = require "sproto"
	local sprotoloader = require "sprotoloader"
	local parser = require "sprotoparser"
	local SCHEMA = [[
.package { type 0 : integer  session 1 : integer }
.P { a 0 : integer  s 1 : string }
ping 1 { request P  response P }
]]
	sprotoloader.save(parser.parse(SCHEMA), 5)
	local sp = sprotoloader.load(5)
	T.ok("loader: load returns the saved schema", sp:exist_type "P" and sp:exist_proto "ping")
	T.ok("loader: each load is a fresh wrapper", sprotoloader.load(5) ~= sp)
	local host = sp:host "package"
	local request = host:attach(sp)

	-- another service loads slot 5 (the same C schema) and answers
	local svc = skynet.newservice("svc_sproto", 5)
	local reply = skynet.call(svc, "lua", "rpc", request("ping", { a = 41, s = "hi" }, 1))
	local kind, session, args = host:dispatch(reply)
	T.ok("loader: a service answers through the shared schema", kind == "RESPONSE" and session == 1 and args.a == 42 and args.s == "hi!")

	-- a packed request arriving as a PTYPE_CLIENT message: decoded from
	-- the message pointer and size, as upstream's agent does
	local got
	skynet.register_protocol {
		name = "client",
		id = skynet.PTYPE_CLIENT,
		unpack = function(msg, sz) return host:dispatch(msg, sz) end,
		dispatch = function(_, _, ...) got = table.pack(...) end,
	}
	skynet.call(svc, "lua", "push", skynet.self(), 7)
	T.waitfor(function() return got end, 300)
	T.ok("rpc: dispatch from a message pointer", got and got[1] == "REQUEST" and got[2] == "ping" and got[3].a == 7 and got[3].s == "pushed")

	-- register from a file, default slot, errors
	local file = os.tmpname()
	local f = assert(io.open(file, "w"))
	f:write(".Q { x 0 : integer }\n")
	f:close()
	sprotoloader.register(file, 6)
	T.ok("loader: register parses a file into a slot", sprotoloader.load(6):exist_type "Q")
	f = assert(io.open(file, "w"))
	f:write(".Q { x 0 : integer\n  x 1 : string }\n")
	f:close()
	T.raises("loader: register names the file in schema errors", { "redefine x in type Q", file }, sprotoloader.register, file, 6)
	os.remove(file)
	T.raises("loader: register of a missing file", "Can't open sproto file", sprotoloader.register, file, 6)
	T.raises("loader: save of a bad bin", "invalid binary schema", sprotoloader.save, "junk", 7)
	T.raises("loader: load of an empty slot", "nil sproto at index 8", sprotoloader.load, 8)
	T.raises("loader: slot 16", "Invalid global slot index 16", sprotoloader.save, parser.parse(SCHEMA), 16)
	sprotoloader.save(parser.parse ".Zero {}")
	T.ok("loader: slot 0 is the default", sprotoloader.load():exist_type "Zero" and sprotoloader.load(0):exist_type "Zero")
	local kept = sproto.new(parser.parse ".Kept { k 0 : integer }")
	collectgarbage()
	T.eq("sproto.new keeps its schema while referenced", kept:decode("Kept", kept:encode("Kept", { k = 9 })).k, 9)
end)

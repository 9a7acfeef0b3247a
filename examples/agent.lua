-- agent: serves one client of the KV database example.  Made by the
-- watchdog, which calls start(conf) with conf = {gate, client = fd,
-- watchdog}; from then on the gate forwards the client's frames here as
-- PTYPE_CLIENT messages (session = fd), each one a packed sproto message
-- of the schemas in examples/proto.lua (loaded from sprotoloader slots 1
-- and 2, where protoloader put them).
--
-- Requests: handshake -> {msg}; get {what} -> {result} (from SIMPLEDB);
-- set {what, value} -> (header only); quit -> the watchdog closes the
-- connection.  Every 5 s the agent pushes a `heartbeat` request (no
-- session).  Frames to the client are a 2-byte big-endian length then
-- the packed message, written straight to the socket.
local skynet = require "skynet"
local socket = require "skynet.socket"
local sprotoloader = require "sprotoloader"

local C2S, S2C = 1, 2 -- sprotoloader slots (see protoloader.lua)
local HEARTBEAT = 500 -- centiseconds between heartbeats (the handshake says 5 sec)

local WATCHDOG
local host          -- sproto RPC host reading the client's messages
local send_request  -- builds the requests we push to the client
local client_fd
local gone = false  -- the client is being closed: stop pushing

local function send_package(pack)
	socket.write(client_fd, string.pack(">s2", pack))
end

local REQUEST = {}

function REQUEST.handshake()
	return { msg = "Welcome to skynet, I will send heartbeat every 5 sec." }
end

function REQUEST.get(args)
	print("get", args.what)
	local r = skynet.call("SIMPLEDB", "lua", "get", args.what)
	return { result = r }
end

function REQUEST.set(args)
	print("set", args.what, args.value)
	skynet.call("SIMPLEDB", "lua", "set", args.what, args.value)
end

function REQUEST.quit()
	gone = true
	skynet.call(WATCHDOG, "lua", "close", client_fd)
end

-- Runs one request; its response (when the client gave a session) goes
-- back on the socket.  A failing handler is logged, the client gets nothing.
local function request(name, args, respond)
	local ok, result = pcall(REQUEST[name], args)
	if not ok then
		skynet.error(string.format("agent: request %s from connection %d failed: %s", name, client_fd, result))
		return
	end
	if respond then
		send_package(respond(result))
	end
end

skynet.register_protocol {
	name = "client",
	id = skynet.PTYPE_CLIENT,
	-- a malformed message comes out as ("BAD", reason) instead of raising
	unpack = function(msg, sz)
		local r = table.pack(pcall(host.dispatch, host, msg, sz))
		if not r[1] then
			return "BAD", r[2]
		end
		return table.unpack(r, 2, r.n)
	end,
	dispatch = function(fd, _, kind, ...)
		skynet.ignoreret() -- the session is the socket id, not a call to answer
		skynet.trace()
		if fd ~= client_fd or gone then
			return
		end
		if kind == "REQUEST" then
			request(...)
		elseif kind == "RESPONSE" then
			skynet.error("This example doesn't support request client")
		else
			skynet.error(string.format("agent: connection %d sent a malformed message (%s); closing it",
				client_fd, tostring(...)))
			gone = true
			skynet.send(WATCHDOG, "lua", "close", client_fd)
		end
	end,
}

local CMD = {}

function CMD.start(conf)
	WATCHDOG = conf.watchdog
	host = sprotoloader.load(C2S):host "package"
	send_request = host:attach(sprotoloader.load(S2C))
	client_fd = conf.client
	skynet.fork(function()
		while true do
			skynet.sleep(HEARTBEAT)
			if gone then
				break
			end
			send_package(send_request "heartbeat")
		end
	end)
	skynet.call(conf.gate, "lua", "forward", client_fd)
end

function CMD.disconnect()
	skynet.exit()
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, ...)
		local f = CMD[cmd]
		if not f then
			error(string.format("agent: unknown command %s", tostring(cmd)))
		end
		skynet.ret(skynet.pack(f(...)))
	end)
end)

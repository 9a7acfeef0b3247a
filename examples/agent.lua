-- agent: serves one client of the KV database example.  Made by the
-- watchdog, which calls start(conf) with conf = { gate, client = fd,
-- watchdog }; the agent then asks the gate to forward the client's frames
-- to it (PTYPE_CLIENT, session = fd) and answers each request with one
-- response frame written straight to the socket (encoding: kvproto.lua).
-- It also pushes "0 heartbeat" every kv_heartbeat centiseconds (config
-- key, default 500 = 5 s).
local skynet = require "skynet"
local socket = require "skynet.socket"
local netpack = require "skynet.netpack"
local queue = require "skynet.queue"
local kvproto = require "kvproto"

local HEARTBEAT = math.tointeger(tonumber(skynet.getenv "kv_heartbeat")) or 500

local WATCHDOG
local client_fd
local done = false -- the client quit or misbehaved: ignore what follows
local cs = queue() -- one request at a time, so answers keep request order

local function send_package(body)
	socket.write(client_fd, netpack.pack(body))
end

-- Gives the client up: the watchdog kicks it from the gate and retires us.
local function hang_up()
	done = true
	skynet.send(WATCHDOG, "lua", "close", client_fd)
end

local REQUEST = {}

function REQUEST.get(key)
	local value = skynet.call(".SIMPLEDB", "lua", "get", key)
	if value == nil then
		return "nil"
	end
	return "ok", value
end

function REQUEST.set(key, value)
	skynet.call(".SIMPLEDB", "lua", "set", key, value)
	return "ok"
end

function REQUEST.quit()
	return "bye"
end

local function request(body)
	if done then
		return
	end
	local session, cmd, key, value = kvproto.parse_request(body)
	if not session then
		local shown = #body > 40 and body:sub(1, 40) .. "..." or body
		shown = shown:gsub("[^%w%p ]", function(ch) return string.format("\\x%02x", ch:byte()) end)
		skynet.error(string.format("agent: connection %d sent a bad request (%s: \"%s\"); closing it",
			client_fd, cmd, shown))
		hang_up()
		return
	end
	local f = REQUEST[cmd]
	if not f then
		send_package(kvproto.response(session, "err", "unknown command " .. cmd))
		return
	end
	local ok, status, text = pcall(f, key, value)
	if not ok then
		skynet.error("agent: " .. tostring(status))
		status, text = "err", "server error"
	end
	send_package(kvproto.response(session, status, text))
	if cmd == "quit" then
		hang_up()
	end
end

skynet.register_protocol {
	name = "client",
	id = skynet.PTYPE_CLIENT,
	unpack = skynet.tostring,
	dispatch = function(fd, _, body)
		skynet.ignoreret() -- the session is the socket id, not a request to answer
		if fd == client_fd then
			cs(request, body)
		end
	end,
}

local CMD = {}

function CMD.start(conf)
	local fd = conf.client
	WATCHDOG = conf.watchdog
	client_fd = fd
	-- forward replies once the gate reads the socket: writable from then on
	skynet.call(conf.gate, "lua", "forward", fd)
	send_package(kvproto.push("welcome", "KV database example. Commands: get <key> | set <key> <value> | quit"))
	skynet.fork(function()
		while true do
			skynet.sleep(HEARTBEAT)
			if done then
				break
			end
			send_package(kvproto.push("heartbeat"))
		end
	end)
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

-- client: the KV database example's client, for the stand-alone Lua 5.4
-- interpreter (not a skynet service).  From the skynet root:
--
--   ./skynet examples/config        (in one terminal)
--   lua examples/client.lua         (in another; lua5.4 works the same)
--
-- It connects to 127.0.0.1:8888 (or `lua examples/client.lua HOST PORT`),
-- sends `handshake` and `set {what="hello", value="world"}`, then turns
-- each line typed on stdin into a request: `quit` sends quit (the server
-- then closes the connection, and the client stops with "Server closed"),
-- any other line L sends `get {what=L}`.  It prints `Request:	<session>`
-- for each request sent and every message received: `RESPONSE	<session>`
-- or `REQUEST	<name>` (the server's heartbeat, every 5 s), then one
-- `key	value` line per field.
--
-- Wire: sproto messages (schemas: examples/proto.lua), each framed by a
-- 2-byte big-endian length.  Modules: client.socket (luaclib/client.so),
-- sproto and sprotoparser (lualib/), sproto.core (luaclib/sproto.so),
-- found relative to this file, so any working directory will do.
local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.cpath = dir .. "/../luaclib/?.so"
package.path = dir .. "/../lualib/?.lua;" .. dir .. "/?.lua"

if _VERSION ~= "Lua 5.4" then
	error "Use lua 5.4"
end

local socket = require "client.socket"
local proto = require "proto"
local sproto = require "sproto"

local host = sproto.new(proto.s2c):host "package"
local request = host:attach(sproto.new(proto.c2s))

io.stdout:setvbuf "line" -- show each line as it comes, even into a pipe

local port = math.tointeger(tonumber(arg[2] or "8888")) or error("not a port number: " .. arg[2])
local fd = socket.connect(arg[1] or "127.0.0.1", port)

local session = 0
local waiting = 0      -- requests sent whose response has not come yet
local last = ""        -- received bytes that are not a whole frame yet

local function send_request(name, args)
	session = session + 1
	socket.send(fd, string.pack(">s2", request(name, args, session)))
	waiting = waiting + 1
	print("Request:", session)
end

local function print_fields(args)
	if args then
		for k, v in pairs(args) do
			print(k, v)
		end
	end
end

local function print_package(kind, ...)
	if kind == "REQUEST" then
		local name, args = ...
		print("REQUEST", name)
		print_fields(args)
	else
		local s, args = ...
		waiting = waiting - 1
		print("RESPONSE", s)
		print_fields(args)
	end
end

-- Prints every whole frame received so far.
local function dispatch_package()
	while true do
		local data = socket.recv(fd)
		if not data then
			return
		end
		if data == "" then
			error "Server closed"
		end
		last = last .. data
		while #last >= 2 do
			local len = string.unpack(">I2", last)
			if #last < 2 + len then
				break
			end
			print_package(host:dispatch(last:sub(3, 2 + len)))
			last = last:sub(3 + len)
		end
	end
end

send_request("handshake")
send_request("set", { what = "hello", value = "world" })

local stdin_open = true
while true do
	dispatch_package()
	local line = stdin_open and socket.readstdin()
	if line then
		if line == "quit" then
			send_request("quit")
		else
			send_request("get", { what = line })
		end
	else
		if line == false then
			-- stdin has ended: stop once every request has its answer
			-- (after `quit` none comes: the server closes first)
			stdin_open = false
		end
		if not stdin_open and waiting <= 0 then
			socket.close(fd)
			break
		end
		socket.usleep(100)
	end
end

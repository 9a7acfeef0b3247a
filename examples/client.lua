-- client: interactive client of the KV database example, for the plain
-- Lua 5.4 interpreter (not a skynet service).  From the repository root:
--
--   ./skynet examples/config        (in one terminal)
--   lua examples/client.lua         (in another; optional: host port)
--
-- Type one command a line:  get <key>  |  set <key> <value>  |  quit
-- Answers: the value or "(nil)" for get, "OK" for set, "Bye" for quit;
-- messages the server pushes are shown as "[server] ..." (a heartbeat
-- every 5 seconds).  The wire encoding is described in examples/kvproto.lua.
-- Uses luaclib/client.so (client.socket), found next to this script.
local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.cpath = dir .. "/../luaclib/?.so;" .. package.cpath
package.path = dir .. "/?.lua;" .. package.path

if _VERSION ~= "Lua 5.4" then
	error "Use lua 5.4"
end

local socket = require "client.socket"
local kvproto = require "kvproto"

local host = arg[1] or "127.0.0.1"
local port = math.tointeger(tonumber(arg[2] or "8888")) or error("bad port " .. tostring(arg[2]))
local USAGE = "commands: get <key> | set <key> <value> | quit"

io.stdout:setvbuf "line"

local ok, fd = pcall(socket.connect, host, port)
if not ok then
	io.stderr:write(tostring(fd), "\n")
	os.exit(1)
end
print(string.format("connected to %s:%d; %s", host, port, USAGE))

local last = ""     -- received bytes not yet a whole frame
local session = 0
local pending = {}  -- session -> command waiting for its answer
local npending = 0
local quitting = false

local function finish(code)
	socket.close(fd)
	os.exit(code)
end

local function on_frame(body)
	local s, status, text = kvproto.parse_response(body)
	if s == nil then
		print("[server] (unreadable message) " .. body)
		return
	end
	if s == 0 then
		if status == "welcome" then
			print("[server] " .. (text or ""))
		else
			print("[server] " .. status .. (text and " " .. text or ""))
		end
		return
	end
	local cmd = pending[s]
	if cmd then
		pending[s] = nil
		npending = npending - 1
	end
	if status == "ok" then
		print(cmd == "get" and (text or "") or "OK")
	elseif status == "nil" then
		print("(nil)")
	elseif status == "bye" then
		print("Bye")
		finish(0)
	else
		print("ERROR: " .. (text or status))
	end
end

-- Reads whatever arrived and handles every whole frame in it.
local function dispatch_package()
	while true do
		local ok, data = pcall(socket.recv, fd)
		if not ok then
			print("connection lost: " .. tostring(data))
			finish(1)
		end
		if data == nil then
			return
		end
		if data == "" then
			print("connection closed by the server")
			finish(quitting and 0 or 1)
		end
		last = last .. data
		while #last >= 2 do
			local len = string.unpack(">I2", last)
			if #last < len + 2 then
				break
			end
			on_frame(last:sub(3, len + 2))
			last = last:sub(len + 3)
		end
	end
end

local function send_request(cmd, key, value)
	local body = kvproto.request(session + 1, cmd, key, value)
	if #body > kvproto.MAXPACKET then
		print(string.format("too long: the server accepts requests of at most %d bytes", kvproto.MAXPACKET))
		return
	end
	session = session + 1
	pending[session] = cmd
	npending = npending + 1
	local ok, err = pcall(socket.send, fd, string.pack(">s2", body))
	if not ok then
		print("connection lost: " .. tostring(err))
		finish(1)
	end
end

-- One line typed by the user.
local function command(line)
	local cmd, rest = line:match("^%s*(%S+)%s*(.-)%s*$")
	if not cmd then
		return -- empty line
	end
	cmd = cmd:lower()
	if cmd == "get" then
		if rest == "" or rest:find("%s") then
			print("usage: get <key>")
			return
		end
		send_request("get", rest)
	elseif cmd == "set" then
		local key, value = rest:match("^(%S+)%s+(.*)$")
		if not key then
			print("usage: set <key> <value>")
			return
		end
		send_request("set", key, value)
	elseif cmd == "quit" or cmd == "exit" then
		quitting = true
		send_request("quit")
	else
		print(string.format("unknown command '%s' (%s)", cmd, USAGE))
	end
end

local stdin_done_at
while true do
	dispatch_package()
	local line = socket.readstdin()
	if line then
		command(line)
	elseif line == false then
		-- end of input: wait (at most 5 s) for the answers still due
		stdin_done_at = stdin_done_at or os.time()
		if (npending == 0 and not quitting) or os.time() - stdin_done_at > 5 then
			finish(0)
		end
		socket.usleep(5000)
	else
		socket.usleep(5000)
	end
end

-- gate_probe: start service of test/e2e/test_gate.sh.  It is the watchdog
-- of two Lua gates (service/gate.lua) and two C gates (cservice/gate.so)
-- and relays everything to a Python driver (test/e2e/gate_client.py) over
-- a line-based control connection on 127.0.0.1:<gate_ctl_port>.
--
-- Lines to the driver:
--   hello k=v ...                 handles and ports, once
--   ev <gate> <sub> <args...>     a Lua gate notification (data as hex)
--   text <gate> <session> <hex>   a C gate report (PTYPE_TEXT)
--   msg <session> <source> <hex>  a frame received by gate_agent
--   ok [results...] | err <text>  the answer to a command
-- Commands from the driver (one a line):
--   lcall <gate> <cmd> <args...>  skynet.call(gate, "lua", cmd, args...);
--                                 args: integers, "agent", "probe", "nil"
--   ctext <gate> <text...>        PTYPE_TEXT command to a C gate
--   csend <gate> <fd> <hex>       PTYPE_CLIENT to a C gate: payload + fd
--   write <fd> <n>                socket.write n bytes to a gate's client
--   launch <params...>            skynet.launch("gate", params) -> handle|nil
local skynet = require "skynet"
require "skynet.manager"
local socket = require "skynet.socket"

skynet.register_protocol {
	name = "text", id = skynet.PTYPE_TEXT,
	pack = function(s) return s end, unpack = skynet.tostring,
}
skynet.register_protocol {
	name = "client", id = skynet.PTYPE_CLIENT,
	pack = function(s) return s end,
}

local ctl_fd
local pending = {} -- lines produced before the driver connected
local gates = {}   -- name -> handle
local names = {}   -- handle -> name
local agent

local function hex(s)
	return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function unhex(h)
	return (h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end))
end

local function out(...)
	local t = table.pack(...)
	for i = 1, t.n do t[i] = tostring(t[i]) end
	local line = table.concat(t, " ", 1, t.n) .. "\n"
	if ctl_fd then
		socket.write(ctl_fd, line)
	else
		pending[#pending + 1] = line
	end
end

skynet.dispatch("text", function(session, source, msg)
	out("text", names[source] or skynet.address(source), session, hex(msg))
end)

skynet.dispatch("lua", function(session, source, cmd, sub, ...)
	if cmd == "socket" then
		local args = table.pack(...)
		if sub == "data" then
			args[2] = hex(args[2])
		elseif sub == "error" then
			args[2] = (tostring(args[2]):gsub("%s", "_"))
		end
		out("ev", names[source] or skynet.address(source), sub, table.unpack(args, 1, args.n))
	elseif cmd == "client" then
		local fd, src, msg = sub, ...
		out("msg", fd, src, hex(msg))
	end
end)

local function arg(v)
	if v == "agent" then return agent end
	if v == "probe" then return skynet.self() end
	if v == "nil" then return nil end
	return math.tointeger(tonumber(v)) or v
end

local COMMAND = {}

function COMMAND.lcall(gate, cmd, ...)
	local args = table.pack(...)
	for i = 1, args.n do args[i] = arg(args[i]) end
	local r = table.pack(pcall(skynet.call, gates[gate], "lua", cmd, table.unpack(args, 1, args.n)))
	if r[1] then
		out("ok", table.unpack(r, 2, r.n))
	else
		out("err", (tostring(r[2]):gsub("\n.*", "")))
	end
end

function COMMAND.ctext(gate, ...)
	skynet.send(gates[gate], "text", table.concat({ ... }, " "))
	out("ok")
end

function COMMAND.csend(gate, fd, h)
	skynet.send(gates[gate], "client", unhex(h or "") .. string.pack("<I4", tonumber(fd)))
	out("ok")
end

function COMMAND.write(fd, n)
	out("ok", socket.write(tonumber(fd), string.rep("x", tonumber(n))))
end

function COMMAND.launch(...)
	out("ok", skynet.launch("gate", table.concat({ ... }, " ")) or "nil")
end

local function control(fd)
	socket.start(fd)
	ctl_fd = fd
	for _, line in ipairs(pending) do socket.write(fd, line) end
	pending = nil
	while true do
		local line = socket.readline(fd)
		if not line then break end
		local words = {}
		for w in line:gmatch("%S+") do words[#words + 1] = w end
		local f = COMMAND[words[1]]
		if f then
			f(table.unpack(words, 2))
		else
			out("err", "unknown control command " .. tostring(words[1]))
		end
	end
	skynet.abort()
end

skynet.start(function()
	local ctl_port = assert(tonumber(skynet.getenv "gate_ctl_port"))
	local cport = assert(tonumber(skynet.getenv "gate_c_port"))
	local lport = assert(tonumber(skynet.getenv "gate_l_port"))
	agent = skynet.newservice("gate_agent", skynet.self())
	local hello = { "hello", "probe=" .. skynet.self(), "agent=" .. agent }
	local function add(name, h, port)
		gates[name], names[h] = h, name
		hello[#hello + 1] = string.format("%s=%d %sport=%d", name, h, name, port)
	end
	-- Lua gate 1: default frame limit, maxclient 4
	local g = skynet.newservice("gate")
	local ip, port = skynet.call(g, "lua", "open", { address = "127.0.0.1", port = 0, maxclient = 4 })
	assert(ip == "127.0.0.1", ip)
	add("lg1", g, port)
	-- Lua gate 2: frames of at most 1000 bytes, nodelay
	g = skynet.newservice("gate")
	ip, port = skynet.call(g, "lua", "open", { address = "127.0.0.1", port = 0, maxpacket = 1000, nodelay = true })
	add("lg2", g, port)
	-- C gates: 2-byte headers, max 3; 4-byte headers, max 8
	local me = skynet.address(skynet.self())
	g = assert(skynet.launch("gate", string.format("S %s 127.0.0.1:%d 0 3", me, cport)))
	add("cg", g, cport)
	g = assert(skynet.launch("gate", string.format("L %s %d 0 8", me, lport)))
	add("cl", g, lport)
	out(table.concat(hello, " "))
	local lid = socket.listen("127.0.0.1", ctl_port)
	socket.start(lid, function(fd)
		socket.close(lid)
		skynet.fork(control, fd)
	end)
	skynet.error("gate_probe ready")
end)

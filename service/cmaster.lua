-- cmaster.lua -- the harbor master, started by
-- bootstrap on the node whose config sets `standalone = "host:port"`.
-- Every slave keeps one TCP connection here.  The master keeps the list of
-- slaves and the global name table:
--   H(id, address)  handshake: the master sends C(id, address) to every
--                   connected slave, then W(n) to the new one (n = the
--                   number of C sent: connections the new slave will accept)
--   R(name, handle) register: stored, and N(name, handle) to every slave
--   Q(name)         query: N(name, handle) back if known, else nothing (the
--                   asker waits until someone registers the name)
-- A broken slave connection is announced to the others as D(id).  A harbor
-- id stays taken until the master restarts, so a crashed slave cannot
-- rejoin under the same id.  Bad input (no or bad handshake, a taken id,
-- an undecodable packet) closes that connection with one log line; the
-- master keeps serving the others.

local skynet = require "skynet"
local socket = require "skynet.socket"
local packet = require "skynet.harborpacket"

local slaves = {}     -- id -> { fd = socket id, address = "host:port" }
local taken = {}      -- id -> true: every id that ever joined
local globalname = {} -- name -> handle

local function log(fmt, ...)
	skynet.error(string.format("cmaster: " .. fmt, ...))
end

local function broadcast(kind, ...)
	for _, s in pairs(slaves) do
		packet.write(s.fd, kind, ...)
	end
end

local function valid_name(name)
	return type(name) == "string" and #name >= 1 and #name <= 15
end

-- The first packet of a connection: H(id, address).  Returns the id, or nil
-- after logging why the connection is refused.
local function handshake(fd, peer)
	local kind, id, address = packet.read(fd)
	if kind == nil then
		log("refused %s: %s before the handshake", peer, id)
		return
	end
	if kind ~= "H" or math.type(id) ~= "integer" or type(address) ~= "string" then
		log("refused %s: bad handshake (expected H(id, address), got %s)", peer, kind)
		return
	end
	if id < 1 or id > 255 then
		log("refused %s: harbor id %d is not in 1..255", peer, id)
		return
	end
	if taken[id] then
		log("refused %s: harbor id %d is already taken", peer, id)
		return
	end
	if not address:match("^.+:%d+$") then
		log("refused %s: harbor %d gave a bad address %q", peer, id, address)
		return
	end
	taken[id] = true
	local n = 0
	for _, s in pairs(slaves) do
		packet.write(s.fd, "C", id, address)
		n = n + 1
	end
	slaves[id] = { fd = fd, address = address }
	packet.write(fd, "W", n)
	log("harbor %d joined from %s, listening on %s", id, peer, address)
	return id
end

-- Serves one slave until its connection breaks.
local function serve(fd, id)
	local why
	while true do
		local kind, a, b = packet.read(fd)
		if kind == nil then
			why = a
			break
		elseif kind == "R" then
			if valid_name(a) and math.type(b) == "integer" and b > 0 and b <= 0xffffffff then
				globalname[a] = b
				broadcast("N", a, b)
			else
				log("harbor %d: ignored a bad registration (%s, %s)", id, tostring(a), tostring(b))
			end
		elseif kind == "Q" then
			if valid_name(a) then
				local handle = globalname[a]
				if handle then
					packet.write(fd, "N", a, handle)
				end
			else
				log("harbor %d: ignored a query for a bad name", id)
			end
		else
			why = "unknown packet kind " .. string.format("%q", kind)
			break
		end
	end
	slaves[id] = nil
	socket.close(fd)
	log("harbor %d is down: %s", id, why)
	broadcast("D", id)
end

skynet.start(function()
	local address = assert(skynet.getenv "standalone", "cmaster: config key `standalone` (host:port) is not set")
	local listen_fd = socket.listen(address)
	log("listening on %s", address)
	socket.start(listen_fd, function(fd, peer)
		skynet.fork(function()
			socket.start(fd)
			local ok, id = pcall(handshake, fd, peer)
			if not ok then
				log("refused %s: %s", peer, tostring(id))
				id = nil
			end
			if id then
				serve(fd, id)
			else
				socket.close(fd)
			end
		end)
	end)
end)

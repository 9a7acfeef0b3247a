-- skynet/harborpacket.lua -- the master <-> slave packets of harbor mode
-- (upstream's): one length byte n, then n bytes of
-- skynet.packstring(kind, args...), kind a one-letter string.  Used by
-- service/cmaster.lua and service/cslave.lua.

local skynet = require "skynet"
local socket = require "skynet.socket"

local packet = {}

-- The encoded content must fit the one-byte length.
packet.MAX = 255

-- Sends one packet; raises if it does not fit (a name or address too long).
function packet.write(fd, kind, ...)
	local content = skynet.packstring(kind, ...)
	if #content > packet.MAX then
		error(string.format("harbor: packet %s is %d bytes, more than %d", kind, #content, packet.MAX), 2)
	end
	return socket.write(fd, string.char(#content) .. content)
end

-- Reads one packet: kind, args...  Returns nil, why when the connection is
-- closed or the packet is malformed (never raises on peer input).
function packet.read(fd)
	local head = socket.read(fd, 1)
	if not head then
		return nil, "connection closed"
	end
	local n = head:byte()
	if n == 0 then
		return nil, "empty packet"
	end
	local content = socket.read(fd, n)
	if not content then
		return nil, "connection closed inside a packet"
	end
	local r = table.pack(pcall(skynet.unpack, content))
	if not r[1] then
		return nil, "undecodable packet: " .. tostring(r[2])
	end
	local kind = r[2]
	if type(kind) ~= "string" or #kind ~= 1 then
		return nil, "packet without a one-letter kind"
	end
	return table.unpack(r, 2, r.n)
end

return packet

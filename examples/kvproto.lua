-- kvproto: the wire encoding of the KV database example, shared by the
-- agent (inside the node) and examples/client.lua (plain lua5.4).
--
-- Framing: each message is one netpack frame, a 2-byte big-endian body
-- length followed by the body.  The gate
-- accepts bodies of at most MAXPACKET bytes; a client announcing a longer
-- one is disconnected.
--
-- Bodies are text, fields separated by one space:
--   request  client -> server   "<session> get <key>"
--                               "<session> set <key> <value>"
--                               "<session> quit"
--            session: decimal, 1 .. 2^31-1, chosen by the client;
--            key: 1..256 bytes without spaces or control characters;
--            value: the rest of the body (may contain spaces, may be empty).
--   response server -> client   "<session> ok [<value>]"  (get: the value;
--                                                         set: no value)
--                               "<session> nil"           (get: no such key)
--                               "<session> err <message>" (e.g. unknown command)
--                               "<session> bye"           (quit; the server
--                                                         then closes)
--   push     server -> client   "0 heartbeat"             (every 5 s)
--                               "0 welcome <text>"        (after connecting)
-- A body that is not a well-formed request (bad session, missing key, ...)
-- costs the client its connection.
local kvproto = {}

kvproto.MAXPACKET = 4096
kvproto.KEYMAX = 256

-- Commands and how many arguments they take: key (1) or key + value (2).
local ARGS = { get = 1, set = 2, quit = 0 }

local function valid_key(key)
	return key ~= nil and #key >= 1 and #key <= kvproto.KEYMAX and not key:find("[%c ]")
end

-- Builds a request body; raises on bad arguments.
function kvproto.request(session, cmd, key, value)
	local n = ARGS[cmd]
	assert(n, "kvproto: unknown command " .. tostring(cmd))
	if n == 0 then
		return string.format("%d %s", session, cmd)
	end
	assert(valid_key(key), "kvproto: invalid key")
	if n == 1 then
		return string.format("%d %s %s", session, cmd, key)
	end
	return string.format("%d %s %s %s", session, cmd, key, value or "")
end

-- Parses a request body.  Returns session, cmd, key, value; for a body
-- that is not a request, nil and the reason.  An unknown command with a
-- valid session parses (cmd is returned as is; the server answers err).
function kvproto.parse_request(body)
	local s, cmd, rest = body:match("^(%d+) (%l+)(.*)$")
	local session = s and #s <= 10 and math.tointeger(tonumber(s))
	if not session or session < 1 or session > 0x7fffffff then
		return nil, "not a request"
	end
	local n = ARGS[cmd]
	if n == nil then
		return session, cmd
	end
	if n == 0 then
		if rest ~= "" then
			return nil, cmd .. " takes no argument"
		end
		return session, cmd
	end
	local key, more = rest:match("^ ([^ ]+)(.*)$")
	if not valid_key(key) then
		return nil, cmd .. " needs a valid key"
	end
	if n == 1 then
		if more ~= "" then
			return nil, cmd .. " takes one argument"
		end
		return session, cmd, key
	end
	if more ~= "" and more:sub(1, 1) ~= " " then
		return nil, "malformed " .. cmd
	end
	return session, cmd, key, more:sub(2)
end

-- Response and push bodies.
function kvproto.response(session, status, text)
	if text == nil then
		return string.format("%d %s", session, status)
	end
	return string.format("%d %s %s", session, status, text)
end

function kvproto.push(name, text)
	return kvproto.response(0, name, text)
end

-- Parses a response or push body: session (0 for a push), status, text?
function kvproto.parse_response(body)
	local s, status, rest = body:match("^(%d+) (%l+)(.*)$")
	if not s then
		return nil
	end
	local text
	if rest ~= "" then
		text = rest:sub(2)
	end
	return tonumber(s), status, text
end

return kvproto

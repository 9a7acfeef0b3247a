-- proto: the two sproto schemas of the KV database example, parsed (into
-- binary schemas, strings) when this module is first required.
--   proto.c2s  what the client asks: handshake, get, set, quit
--   proto.s2c  what the server pushes: heartbeat
-- Both share the `.package` header type ({type, session}) that
-- sproto's RPC host puts in front of every message.  Loaded by the
-- protoloader service (inside the node) and by examples/client.lua.
local sprotoparser = require "sprotoparser"

local proto = {}

proto.c2s = sprotoparser.parse [[
.package {
	type 0 : integer
	session 1 : integer
}

handshake 1 {
	response {
		msg 0 : string
	}
}

get 2 {
	request {
		what 0 : string
	}
	response {
		result 0 : string
	}
}

set 3 {
	request {
		what 0 : string
		value 1 : string
	}
}

quit 4 {}
]]

proto.s2c = sprotoparser.parse [[
.package {
	type 0 : integer
	session 1 : integer
}

heartbeat 1 {}
]]

return proto

-- skynet.cluster.handshake: the cluster secret handshake (config key
-- `cluster_secret`), both sides.  Not upstream's: when no secret is
-- configured nothing here is used and the wire is upstream's, byte for
-- byte.  README.md ("Where we differ", cluster) describes the bytes; in
-- short, on every connection to a listener that has a secret:
--
--   1. listener -> connector, at once on accept: the CHALLENGE, shaped as
--      an error response with session 0 (so a connector that knows nothing
--      of this sees a response to no call, and can log it):
--        u16 BE length | u32 LE 0 | u8 0 | "cluster_secret required; challenge " hex(ns)
--   2. connector -> listener, the ANSWER (a request tag of its own, 0x05):
--        u16 BE 49 | u8 0x05 | nc (16 bytes) | HMAC-SHA256(secret, "skynet-cluster-client" ‖ ns ‖ nc)
--   3. listener -> connector, the VERDICT, shaped as a response with session 0:
--        accepted: u16 BE 37 | u32 LE 0 | u8 1 | HMAC-SHA256(secret, "skynet-cluster-server" ‖ ns ‖ nc)
--        refused:  u16 BE len | u32 LE 0 | u8 0 | "bad cluster secret"   (then the listener closes)
--   The connector sends no request before it has checked the verdict's
--   proof: both sides prove the secret, on nonces fresh per connection.
--
-- The cryptography (nonces, HMAC, constant-time compare) is C:
-- skynet.cluster.auth (lualib-src/lua-cluster-auth.c).

local skynet = require "skynet"
local auth = require "skynet.cluster.auth"

local spack, sunpack, format = string.pack, string.unpack, string.format

local NONCE_LEN, MAC_LEN = auth.NONCE_LEN, auth.MAC_LEN
local TAG_ANSWER = 0x05
local ANSWER_LEN = 1 + NONCE_LEN + MAC_LEN -- body bytes of the answer frame
local CHALLENGE_TEXT = "cluster_secret required; challenge "
local REFUSED_TEXT = "bad cluster secret"
local RESP_ERROR, RESP_OK = 0, 1

local M = {}

local secret = skynet.getenv "cluster_secret"
if secret == "" then
	secret = nil
end
-- true when this node has a cluster secret (never the secret itself)
M.enabled = secret ~= nil

local function hex(s)
	return (s:gsub(".", function(c) return format("%02x", c:byte()) end))
end

local function unhex(s)
	if #s % 2 ~= 0 or s:find "[^%x]" then
		return nil
	end
	return (s:gsub("..", function(h) return string.char(tonumber(h, 16)) end))
end

-- a response frame with session 0
local function response0(rtype, data)
	return spack(">s2", spack("<I4B", 0, rtype) .. data)
end

----------------------------------------------------------------------------
-- Listener side.

-- -> ns (keep it for check_answer), the challenge frame to send
function M.challenge()
	local ns = auth.nonce()
	return ns, response0(RESP_ERROR, CHALLENGE_TEXT .. hex(ns))
end

-- head: the first 3 or more bytes a connection sent.  nil if they can
-- begin an answer, else why not (so a peer that skipped the handshake is
-- refused without waiting for the rest of its frame).
function M.check_head(head)
	local len, tag = sunpack(">I2B", head)
	if len == ANSWER_LEN and tag == TAG_ANSWER then
		return nil
	end
	return format("it did not answer the cluster_secret challenge (its first frame: %d bytes, tag 0x%02x)", len, tag)
end

-- body: the first frame's body.  -> nc, or nil and why not
function M.check_answer(ns, body)
	if #body ~= ANSWER_LEN or body:byte(1) ~= TAG_ANSWER then
		return nil, "it did not answer the cluster_secret challenge"
	end
	local nc, mac = body:sub(2, 1 + NONCE_LEN), body:sub(2 + NONCE_LEN)
	if not auth.verify(secret, "client", ns, nc, mac) then
		return nil, REFUSED_TEXT
	end
	return nc
end

-- the verdict frames
function M.accept(ns, nc)
	return response0(RESP_OK, auth.mac(secret, "server", ns, nc))
end

function M.refuse()
	return response0(RESP_ERROR, REFUSED_TEXT)
end

----------------------------------------------------------------------------
-- Connector side.  The frames arrive as response bodies; the caller has
-- decoded them with cluster.core.unpackresponse into (session, type, data).

-- data of an error response with session 0: the listener's nonce if it is
-- a challenge, else nil
function M.parse_challenge(data)
	if data:sub(1, #CHALLENGE_TEXT) ~= CHALLENGE_TEXT then
		return nil
	end
	local ns = unhex(data:sub(#CHALLENGE_TEXT + 1))
	if ns == nil or #ns ~= NONCE_LEN then
		return nil
	end
	return ns
end

-- -> nc (keep it for check_proof), the answer frame to send
function M.answer(ns)
	local nc = auth.nonce()
	return nc, spack(">s2", string.char(TAG_ANSWER) .. nc .. auth.mac(secret, "client", ns, nc))
end

-- the verdict, as (type, data) of a session-0 response: true if the
-- listener proved the secret, else false and why ("bad cluster secret",
-- or what else it said)
function M.check_verdict(ns, nc, rtype, data)
	if rtype == RESP_OK then
		if auth.verify(secret, "server", ns, nc, data) then
			return true
		end
		return false, "it does not know our cluster_secret (its proof does not match)"
	elseif rtype == RESP_ERROR then
		return false, data
	end
	return false, format("unexpected answer (response type %d) to the cluster_secret handshake", rtype)
end

return M

-- snax/loginwire.lua -- the wire formats of snax.loginserver and
-- snax.msgserver (upstream's, byte for byte), as pure
-- functions: no sockets, no services.  None of them raises on anything a
-- client sends: bad input gives nil and the reason.  fuzz/fuzz_loginwire.c
-- feeds them arbitrary bytes.
local crypt = require "skynet.crypt"

local b64decode, hmac64, desdecode, hmac_hash = crypt.base64decode, crypt.hmac64, crypt.desdecode, crypt.hmac_hash
local spack, sunpack, tointeger = string.pack, string.unpack, math.tointeger

local wire = {}

wire.MAX_FRAME = 65535 -- a netpack body (2-byte length)

local function b64(line)
	local ok, v = pcall(b64decode, line)
	if ok then
		return v
	end
end

-- Login step 2: the client's DH public key line -> 8 bytes.
function wire.clientkey(line)
	local key = b64(line)
	if key == nil or #key ~= 8 then
		return nil, "Invalid client key"
	end
	return key
end

-- Login step 4: does the line carry hmac64(challenge, secret)?
function wire.challenge_ok(line, challenge, secret)
	local v = b64(line)
	return v ~= nil and v == hmac64(challenge, secret)
end

-- Login step 5: the DES-encrypted token line -> token.
function wire.token(line, secret)
	local etoken = b64(line)
	if etoken == nil then
		return nil, "Invalid base64 text"
	end
	local ok, token = pcall(desdecode, secret, etoken)
	if not ok then
		return nil, token
	end
	return token
end

-- msgserver handshake body "<username>:<index>:<base64 hmac>" ->
-- username, index, hmac, text; text ("<username>:<index>" as sent) is
-- what the hmac covers.  nil when the body has no three `:`-separated
-- fields (as upstream, extra fields are ignored); index is nil unless an
-- integer >= 0, hmac nil unless base64.
function wire.handshake(body)
	local username, index, hmac = body:match "([^:]*):([^:]*):([^:]*)"
	if username == nil then
		return nil
	end
	local idx = tointeger(tonumber(index))
	if idx and idx < 0 then
		idx = nil
	end
	return username, idx, b64(hmac), username .. ":" .. index
end

-- Does hmac prove knowledge of secret for text?
function wire.handshake_ok(secret, text, hmac)
	return hmac_hash(secret, text) == hmac
end

-- Request body: content .. uint32_be(session) -> content, session.
function wire.request(body)
	if #body < 4 then
		return nil, "request shorter than its 4-byte session"
	end
	return body:sub(1, -5), sunpack(">I4", body, -4)
end

-- Response frame: 2-byte length, content, uint8 ok, uint32_be session.
-- A failed request's content is empty.  nil, why when it would not fit a
-- frame.
function wire.response(content, ok, session)
	if not ok then
		content = ""
	end
	if #content + 5 > wire.MAX_FRAME then
		return nil, string.format("response of %d bytes does not fit a frame", #content)
	end
	return spack(">s2", content .. spack(">BI4", ok and 1 or 0, session))
end

-- A frame carrying text (the handshake's answer).
function wire.frame(text)
	return spack(">s2", text)
end

return wire

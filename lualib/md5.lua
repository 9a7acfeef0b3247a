-- md5.lua -- `require "md5"` (as upstream), over the C
-- module md5.core (luaclib/md5.so).
--   md5.sum(s)             16-byte binary digest
--   md5.sumhexa(s)         the same as 32 lowercase hex characters
--   md5.hmacmd5(data, key) HMAC-MD5 in lowercase hex (note: data first)
--   md5.exor(a, b), md5.crypt(msg, key [, seed]), md5.decrypt(c, key)
local core = require "md5.core"

local md5 = {
	_VERSION = "MD5 1.2",
	_COPYRIGHT = "Copyright (C) 2003-2013 PUC-Rio",
	_DESCRIPTION = "Basic cryptographic facilities",
	sum = core.sum,
	exor = core.exor,
	crypt = core.crypt,
	decrypt = core.decrypt,
}

local function tohex(s)
	return (s:gsub(".", function(c)
		return string.format("%02x", c:byte())
	end))
end

function md5.sumhexa(s)
	return tohex(core.sum(s))
end

function md5.hmacmd5(data, key)
	return tohex(core.hmacmd5(data, key))
end

return md5

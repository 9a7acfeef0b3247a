-- crypt_standalone.lua -- run by test/e2e/test_crypt_client.sh with the
-- stand-alone lua5.4 interpreter (no node): client.crypt from
-- luaclib/client.so and md5 (lualib/md5.lua over luaclib/md5.so) load and
-- give the spec's vectors.  Prints one PASS/FAIL line per check.
local root = ...
package.cpath = root .. "/luaclib/?.so"
package.path = root .. "/lualib/?.lua"

local function check(name, got, want)
	if got == want then
		print("PASS " .. name)
	else
		print(string.format("FAIL %s: got %q, want %q", name, tostring(got), tostring(want)))
	end
end

local ok, crypt = pcall(require, "client.crypt")
check("client.crypt loads in lua5.4", ok, true)
if not ok then print("FAIL load: " .. tostring(crypt)) return end
local socket_ok = pcall(require, "client.socket")
check("client.socket still loads beside it", socket_ok, true)
local hex, unhex = crypt.hexencode, crypt.hexdecode

check("hashkey(hello world)", hex(crypt.hashkey "hello world"), "c1c8513506e36bbc")
check("desencode FIPS vector", hex(crypt.desencode(unhex "133457799bbcdff1", unhex "0123456789abcdef")),
	"85e813540f0ab40587ab78d11e188df6")
check("hmac64(a, b)", hex(crypt.hmac64("\1\2\3\4\5\6\7\8", "abcdefgh")), "c33a3fabc0e7c128")
check("hmac64_md5(a, b)", hex(crypt.hmac64_md5("\1\2\3\4\5\6\7\8", "abcdefgh")), "ecaeeab22183c5f2")
check("sha1(abc)", hex(crypt.sha1 "abc"), "a9993e364706816aba3e25717850c26c9cd0d89d")
check("hmac_sha1(Jefe)", hex(crypt.hmac_sha1("Jefe", "what do ya want for nothing?")),
	"effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
check("base64decode lenient", crypt.base64decode "Zm 9v\nYg==", "foob")
-- login vector, the client's side of the login example
local cpub = crypt.dhexchange "clientk1"
local secret = crypt.dhsecret(crypt.base64decode "2I4C89s88DI=", "clientk1")
check("login vector client public", crypt.base64encode(cpub), "i0KI0a6kqy8=")
check("login vector secret", hex(secret), "a02b6d0a0955c21b")
check("login vector challenge hmac", crypt.base64encode(crypt.hmac64(crypt.base64decode "AQIDBAUGBwg=", secret)), "KQhCvISl/ic=")
check("login vector token", crypt.base64encode(crypt.desencode(secret, "aGVsbG8=@c2FtcGxl:cGFzc3dvcmQ=")),
	"eA95itZfvkPSb47IbJEay6x1o4mK2rXpAp1yoKdz8OM=")
check("login vector handshake hmac", crypt.base64encode(crypt.hmac_hash(secret, "aGVsbG8=@c2FtcGxl#MQ==:1")), "tUqql1bhiZ4=")
local e1 = select(2, pcall(crypt.desencode, "short", "x"))
check("error: DES key size", e1, "Invalid key size 5, need 8 bytes")
local e2 = select(2, pcall(crypt.hexencode, {}))
check("error: bad argument names the function",
	e2 and e2:match "^bad argument #1 to '[%w_.]*hexencode' %(string expected, got table%)$" ~= nil, true)
local md5_ok, md5 = pcall(require, "md5")
check("md5 loads in lua5.4", md5_ok, true)
if md5_ok then
	check("md5.sumhexa(abc)", md5.sumhexa "abc", "900150983cd24fb0d6963f7d28e17f72")
	check("md5.hmacmd5(Jefe)", md5.hmacmd5("what do ya want for nothing?", "Jefe"), "750c783e6ab0b503eaa86e310a5db738")
end

-- test_mysqlaux.lua -- skynet.mysqlaux's cryptography inside a node: the
-- SHA-1 / SHA-256 vectors of FIPS 180, xor, and rsa_encrypt /
-- rsa_modulus_bits on both key forms a server may send (SubjectPublicKeyInfo
-- "BEGIN PUBLIC KEY", PKCS#1 "BEGIN RSA PUBLIC KEY") and on every kind of
-- bad key (the key comes off the network: each must give nil, reason).
-- OAEP is checked without a private key: with the public exponent 1 the
-- "ciphertext" is the encoded message itself, which is unmasked here.
-- The RSA arithmetic with a real key is checked end to end by
-- test/e2e/test_mysql.sh (its scripted server decrypts what we send).
local aux = require "skynet.mysqlaux"
local crypt = require "skynet.crypt"
local T = require "testlib"

local hex = crypt.hexencode

-- test/e2e/mysql_sha2_server.py's throwaway 2048-bit key, in both forms
local SPKI = [[
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAi+ZNh666ykIcym3xSgHx
PQJAw6RDhNLz3bMfPnKUR3S1jQ5+GipvNVi+aQAdl5QAktV2X0oefHvSW/O7fjlZ
rpxmL4Fv35caUDe2E92FXKr/Z2DFO16zCvcfL/NWiVd7mBHagPvE8+W6K0WLpA1k
gNx+wUGQCk8B75Qd9ilN/8C5Z+VTQXN5s2R7KHk/EFbHjNs6jFg4GlktQqhnfVZ2
e3QZTKy8VKLJpdTsa6RDSC75xDEFrmjmMdxcC4VHhc7WqGX9nXh0IQsYaIfrQowq
vr0P935r0K3ABlHvcjNM0KjfF679RsUXZRueUVoROyxnPw3K2yUyavG+WjlFFj1M
LQIDAQAB
-----END PUBLIC KEY-----
]]
local PKCS1 = [[
-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEAi+ZNh666ykIcym3xSgHxPQJAw6RDhNLz3bMfPnKUR3S1jQ5+Gipv
NVi+aQAdl5QAktV2X0oefHvSW/O7fjlZrpxmL4Fv35caUDe2E92FXKr/Z2DFO16z
CvcfL/NWiVd7mBHagPvE8+W6K0WLpA1kgNx+wUGQCk8B75Qd9ilN/8C5Z+VTQXN5
s2R7KHk/EFbHjNs6jFg4GlktQqhnfVZ2e3QZTKy8VKLJpdTsa6RDSC75xDEFrmjm
MdxcC4VHhc7WqGX9nXh0IQsYaIfrQowqvr0P935r0K3ABlHvcjNM0KjfF679RsUX
ZRueUVoROyxnPw3K2yUyavG+WjlFFj1MLQIDAQAB
-----END RSA PUBLIC KEY-----
]]
-- a P-256 public key (not RSA)
local EC = [[
-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEZWscQqs/wsRaBdjEz68KJvFpwIef
iFUcSlWQezjNm7RQLTS3NlZREh2ga/2MzF8l8BrI5sz5mujv346QjYwZrg==
-----END PUBLIC KEY-----
]]

-- DER and PEM, enough to build keys of any shape (integers as big-endian
-- byte strings)
local function tlv(tag, body)
	local n = #body
	local len
	if n < 0x80 then
		len = string.char(n)
	elseif n < 0x100 then
		len = "\x81" .. string.char(n)
	else
		len = "\x82" .. string.pack(">I2", n)
	end
	return string.char(tag) .. len .. body
end
local function int(bytes)
	if bytes:byte(1) >= 0x80 then bytes = "\0" .. bytes end
	return tlv(0x02, bytes)
end
local function rsa_der(n, e) return tlv(0x30, int(n) .. int(e)) end
local RSA_ALG = tlv(0x30, tlv(0x06, "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01") .. "\x05\x00")
local function spki_der(n, e) return tlv(0x30, RSA_ALG .. tlv(0x03, "\0" .. rsa_der(n, e))) end
local function pem(label, der)
	local b = crypt.base64encode(der)
	local lines = {}
	for i = 1, #b, 64 do lines[#lines + 1] = b:sub(i, i + 63) end
	return "-----BEGIN " .. label .. "-----\n" .. table.concat(lines, "\n") .. "\n-----END " .. label .. "-----\n"
end
local function spki(n, e) return pem("PUBLIC KEY", spki_der(n, e)) end
local function pkcs1(n, e) return pem("RSA PUBLIC KEY", rsa_der(n, e)) end
-- an odd modulus of `bits` bits
local function modulus(bits)
	local bytes = bits // 8
	return "\x80" .. ("\x35"):rep(bytes - 2) .. "\x01"
end
local E65537 = "\1\0\1"

local function hashes()
	local abc448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
	local v = {
		{ 'sha1("")', aux.sha1 "", "da39a3ee5e6b4b0d3255bfef95601890afd80709" },
		{ 'sha1("abc")', aux.sha1 "abc", "a9993e364706816aba3e25717850c26c9cd0d89d" },
		{ "sha1(448 bits)", aux.sha1(abc448), "84983e441c3bd26ebaae4aa1f95129e5e54670f1" },
		{ "sha1(a * 10^6)", aux.sha1(("a"):rep(1000000)), "34aa973cd4c4daa4f61eeb2bdbad27316534016f" },
		{ 'sha256("")', aux.sha256 "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ 'sha256("abc")', aux.sha256 "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "sha256(448 bits)", aux.sha256(abc448), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
		{ "sha256(a * 10^6)", aux.sha256(("a"):rep(1000000)),
			"cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0" },
	}
	for _, c in ipairs(v) do
		T.eq(c[1], hex(c[2]), c[3])
	end
	T.raises("sha1 wants a string", "string expected", aux.sha1, {})
	T.raises("sha256 wants a string", "string expected", aux.sha256)
	T.eq("xor repeats the key", aux.xor("\1\2\3\4\5", "\1\2"), "\0\0\2\6\4")
	T.raises("xor with an empty key", "empty key", aux.xor, "abc", "")
end

local function good_keys()
	T.eq("rsa_modulus_bits: SubjectPublicKeyInfo", aux.rsa_modulus_bits(SPKI), 2048)
	T.eq("rsa_modulus_bits: PKCS#1", aux.rsa_modulus_bits(PKCS1), 2048)
	T.eq("rsa_modulus_bits: 1021 bits", aux.rsa_modulus_bits(spki("\x1f" .. ("\xff"):rep(127), E65537)), 1021)
	T.eq("rsa_modulus_bits: CRLF line ends", aux.rsa_modulus_bits((SPKI:gsub("\n", "\r\n"))), 2048)
	T.eq("rsa_modulus_bits: no newline at the end", aux.rsa_modulus_bits(PKCS1:sub(1, -2)), 2048)
	T.eq("rsa_modulus_bits: text before the PEM", aux.rsa_modulus_bits("key follows\n" .. SPKI), 2048)
	-- the DER decides the form, not the PEM label
	T.eq("rsa_modulus_bits: a PKCS#1 DER labelled PUBLIC KEY",
		aux.rsa_modulus_bits(pem("PUBLIC KEY", rsa_der(modulus(1024), E65537))), 1024)
	T.eq("rsa_modulus_bits: a SubjectPublicKeyInfo labelled RSA PUBLIC KEY",
		aux.rsa_modulus_bits(pem("RSA PUBLIC KEY", spki_der(modulus(1024), E65537))), 1024)
	for name, key in pairs { SPKI = SPKI, PKCS1 = PKCS1 } do
		local a, err = aux.rsa_encrypt(key, "secret-pw\0")
		T.eq("rsa_encrypt " .. name .. ": a 256-byte ciphertext", a and #a or err, 256)
		local b = aux.rsa_encrypt(key, "secret-pw\0")
		T.ok("rsa_encrypt " .. name .. ": randomised (two ciphertexts differ)", a ~= b)
		local max = aux.rsa_encrypt(key, ("x"):rep(256 - 42))
		T.eq("rsa_encrypt " .. name .. ": the longest message (k - 42 bytes)", max and #max, 256)
		local none, why = aux.rsa_encrypt(key, ("x"):rep(256 - 41))
		T.deq("rsa_encrypt " .. name .. ": k - 41 bytes is too long", { none, why },
			{ nil, "message too long for the key" })
	end
end

-- MGF1 with SHA-1 (RFC 8017 B.2.1)
local function mgf1(seed, len)
	local out, c = {}, 0
	while #table.concat(out) < len do
		out[#out + 1] = aux.sha1(seed .. string.pack(">I4", c))
		c = c + 1
	end
	return table.concat(out):sub(1, len)
end

-- With e = 1 the ciphertext is EM = 0x00 || maskedSeed || maskedDB: undo
-- the masks and check DB = SHA1("") || 0x00.. || 0x01 || message.
local function oaep()
	local n = "\x80" .. ("\xff"):rep(127) -- 1024 bits, odd, above any EM
	for name, key in pairs { SPKI = spki(n, "\1"), PKCS1 = pkcs1(n, "\1") } do
		local msg = "pass\0word\0"
		local em = aux.rsa_encrypt(key, msg)
		if T.eq("oaep " .. name .. ": EM is k bytes", em and #em, 128) then
			T.eq("oaep " .. name .. ": EM starts with 0x00", em:byte(1), 0)
			local mseed, mdb = em:sub(2, 21), em:sub(22)
			local seed = aux.xor(mseed, mgf1(mdb, 20))
			local db = aux.xor(mdb, mgf1(seed, #mdb))
			T.eq("oaep " .. name .. ": lHash is SHA-1 of the empty label", hex(db:sub(1, 20)), hex(aux.sha1 ""))
			local ps, rest = db:sub(21):match("^(%z*)\1(.*)$")
			T.ok("oaep " .. name .. ": zero padding then 0x01", ps ~= nil)
			T.eq("oaep " .. name .. ": the message follows", rest, msg)
			T.eq("oaep " .. name .. ": padding length", ps and #ps, 128 - 2 - 2 * 20 - #msg)
		end
	end
end

local function bad_keys()
	local n2048 = modulus(2048)
	local cases = {
		{ "not a PEM text", "hello", "not a PEM text" },
		{ "empty key", "", "not a PEM text" },
		{ "no END line", SPKI:match("^(.*)%-%-%-%-%-END"), "not a PEM text" },
		{ "key text over 8192 bytes", SPKI .. (" "):rep(8192), "key text too long" },
		{ "a DER that is not a key", pem("PUBLIC KEY", "\x30\x03\x02\x01\x05"), "bad DER" },
		{ "a truncated SubjectPublicKeyInfo", pem("PUBLIC KEY", spki_der(n2048, E65537):sub(1, 200)), "bad DER" },
		{ "a truncated PKCS#1 key", pem("RSA PUBLIC KEY", rsa_der(n2048, E65537):sub(1, 200)), "bad DER" },
		{ "an elliptic-curve key", EC, "not an RSA key" },
		{ "a 256-bit modulus", spki(modulus(256), E65537), "modulus too short" },
		{ "a 504-bit modulus (PKCS#1)", pkcs1(modulus(504), E65537), "modulus too short" },
		{ "an even modulus", spki("\x80" .. ("\0"):rep(63), E65537), "modulus is even" },
		{ "an even modulus (PKCS#1)", pkcs1("\x80" .. ("\0"):rep(63), E65537), "modulus is even" },
		{ "a modulus over 8192 bits", spki(modulus(8200), E65537), "bad DER: modulus" },
		{ "an exponent over 64 bits", spki(n2048, "\1" .. ("\0"):rep(8) .. "\1"), "bad DER: exponent" },
		{ "a zero exponent", pkcs1(n2048, "\0"), "bad DER: exponent" },
	}
	for _, c in ipairs(cases) do
		local r, err = aux.rsa_encrypt(c[2], "pw\0")
		T.ok("rsa_encrypt refuses " .. c[1], r == nil and type(err) == "string" and err:find(c[3], 1, true) == 1,
			"got " .. tostring(r and #r) .. ", " .. tostring(err))
		local bits, err2 = aux.rsa_modulus_bits(c[2])
		T.ok("rsa_modulus_bits refuses " .. c[1], bits == nil and err2 == err,
			"got " .. tostring(bits) .. ", " .. tostring(err2))
	end
	T.raises("rsa_encrypt wants a string key", "string expected", aux.rsa_encrypt, nil, "pw")
	T.raises("rsa_encrypt wants a string message", "string expected", aux.rsa_encrypt, SPKI)
	T.raises("rsa_modulus_bits wants a string", "string expected", aux.rsa_modulus_bits, 1 < 2)
	-- a good key still works after all those failures (no state left behind)
	T.eq("a good key after the bad ones", #(aux.rsa_encrypt(SPKI, "pw") or ""), 256)
end

T.run("test_mysqlaux", function()
	hashes()
	good_keys()
	oaep()
	bad_keys()
end)

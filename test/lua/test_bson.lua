-- test_bson.lua -- the bson C module (luaclib/bson.so): known-good
-- encodings, constructors, bson.type, the document
-- object (makeindex / in-place replace), upstream's test/testbson.lua
-- checks, encoder errors, and malformed bytes that must raise, never crash.
local bson = require "bson"
local T = require "testlib"

local function hex(s)
	return (tostring(s):gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function vectors()
	local v = {
		{ "encode{}", bson.encode {}, "0500000000" },
		{ "encode_order hello/world", bson.encode_order("hello", 1, "world", 2), "1b0000001068656c6c6f000100000010776f726c64000200000000" },
		{ "{a=1}", bson.encode { a = 1 }, "0c0000001061000100000000" },
		{ "{a=-1}", bson.encode { a = -1 }, "0c000000106100ffffffff00" },
		{ "{a=2147483648} int64", bson.encode { a = 2147483648 }, "10000000126100000000800000000000" },
		{ "{a=1.5}", bson.encode { a = 1.5 }, "10000000016100000000000000f83f00" },
		{ "{a=2^32-1} double", bson.encode { a = 2 ^ 32 - 1 }, "100000000161000000e0ffffffef4100" },
		{ "{s='hi'}", bson.encode { s = "hi" }, "0f0000000273000300000068690000" },
		{ "{s='a\\0b'}", bson.encode { s = "a\0b" }, "10000000027300040000006100620000" },
		{ "encode_order t/f booleans", bson.encode_order("t", true, "f", false), "0d000000087400010866000000" },
		{ "null", bson.encode { n = bson.null }, "080000000a6e0000" },
		{ "minkey", bson.encode { n = bson.minkey }, "08000000ff6e0000" },
		{ "maxkey", bson.encode { n = bson.maxkey }, "080000007f6e0000" },
		{ "{a={1,2,3}}", bson.encode { a = { 1, 2, 3 } }, "220000000461001a0000001030000100000010310002000000103200030000000000" },
		{ "{d={}}", bson.encode { d = {} }, "0d000000036400050000000000" },
		{ "binary", bson.encode { b = bson.binary "hello" }, "12000000056200050000000068656c6c6f00" },
		{ "objectid", bson.encode { _id = bson.objectid "0123456789abcdefABCDEF01" }, "16000000075f6964000123456789abcdefabcdef0100" },
		{ "date", bson.encode { d = bson.date(1700000000) }, "100000000964000068e5cf8b01000000" },
		{ "timestamp", bson.encode { t = bson.timestamp(1700000000, 5) }, "100000001174000500000000f1536500" },
		{ "regex", bson.encode { r = bson.regex("a.*", "i") }, "0e0000000b7200612e2a00690000" },
		{ "int64", bson.encode { i = bson.int64(5) }, "10000000126900050000000000000000" },
		{ "nested document object", bson.encode { o = bson.encode_order("x", 1) }, "14000000036f000c000000107800010000000000" },
		{ "find command", bson.encode_order("find", "c", "filter", bson.encode {}, "limit", 1),
			"290000000266696e64000200000063000366696c746572000500000000106c696d6974000100000000" },
	}
	for _, t in ipairs(v) do
		T.eq("vector: " .. t[1], hex(t[2]), t[3])
	end
	local c = {
		{ "null", bson.null, "000a" }, { "minkey", bson.minkey, "00ff" }, { "maxkey", bson.maxkey, "007f" },
		{ "binary hi", bson.binary "hi", "0005006869" }, { "date(1)", bson.date(1), "000901000000" },
		{ "timestamp(2,3)", bson.timestamp(2, 3), "00110300000002000000" },
		{ "regex(a,i)", bson.regex("a", "i"), "000b61006900" }, { "regex(a)", bson.regex("a"), "000b610000" },
		{ "int64(-1)", bson.int64(-1), "0012ffffffffffffffff" },
		{ "objectid(hex)", bson.objectid "000102030405060708090a0b", "0007000102030405060708090a0b" },
	}
	for _, t in ipairs(c) do
		T.eq("constructor: " .. t[1], hex(t[2]), t[3])
	end
	T.eq("date(5000000000) is truncated to 32 bits (705032704000 ms)",
		hex(bson.encode { d = bson.date(5000000000) }), "10000000096400" .. hex(string.pack("<i8", 705032704000)) .. "00")
	local o1, o2 = bson.objectid(), bson.objectid()
	T.ok("objectid(): 12 bytes, time first, counter +1", #o1 == 14 and string.unpack(">I4", o1, 3) // 10 == os.time() // 10
		and (string.unpack(">I3", o2, 12) - string.unpack(">I3", o1, 12)) % 0x1000000 == 1, hex(o1) .. " " .. hex(o2))
	local t1, t2 = bson.timestamp(7), bson.timestamp(7)
	T.ok("timestamp(t) without inc: the increment counts up (upstream: always 0)",
		string.unpack("<I4", t2, 3) == string.unpack("<I4", t1, 3) + 1 and string.unpack("<I4", t1, 7) == 7)
end

local function roundtrip()
	local doc = bson.encode {
		a = 1, b = true, c = "str", d = { x = 1 }, e = bson.binary "bin", f = bson.objectid "000102030405060708090a0b",
		g = bson.date(1700000000), h = bson.timestamp(3, 4), i = bson.regex("p", "o"), j = bson.null, k = { 1, 2, { 3 } },
		l = 2.5, m = bson.minkey, n = bson.maxkey, o = bson.int64(1 << 40), p = -7, q = 1.0,
	}
	local t = bson.decode(doc)
	T.eq("decode: int32", t.a, 1)
	T.eq("decode: boolean", t.b, true)
	T.eq("decode: string", t.c, "str")
	T.eq("decode: document", t.d.x, 1)
	T.eq("decode: binary is \\0\\5 .. subtype .. data", t.e, bson.binary "bin")
	T.eq("decode: objectid", t.f, bson.objectid "000102030405060708090a0b")
	T.eq("decode: date", t.g, bson.date(1700000000))
	T.eq("decode: timestamp", t.h, bson.timestamp(3, 4))
	T.eq("decode: regex", t.i, bson.regex("p", "o"))
	T.eq("decode: null == bson.null", t.j, bson.null)
	T.deq("decode: arrays get integer keys from 1", t.k, { 1, 2, { 3 } })
	T.eq("decode: double", t.l, 2.5)
	T.eq("decode: minkey", t.m, bson.minkey)
	T.eq("decode: maxkey", t.n, bson.maxkey)
	T.eq("decode: int64 -> integer", t.o, 1 << 40)
	T.ok("decode: a float stays a float", math.type(t.q) == "float")
	T.eq("doc:decode() is decode", doc:decode().c, "str")
	T.eq("#doc == #tostring(doc)", #doc, #tostring(doc))
	T.eq("decode of a light userdata", bson.decode(bson.to_lightuserdata(doc)).c, "str")
	T.eq("decode of a Lua string returns nothing", select("#", bson.decode("\5\0\0\0\0")), 0)
	T.deq("re-encode of a decoded document decodes the same",
		bson.decode(bson.encode(bson.decode(doc))), t)
	-- code / symbol / dbpointer survive decode -> encode
	local raw = "\13" .. "c\0" .. string.pack("<i4", 4) .. "abc\0"
	local codedoc = bson.fromstring(string.pack("<i4", 4 + #raw + 1) .. raw .. "\0")
	local ct = bson.decode(codedoc)
	T.eq("decode: code -> \\0\\13 .. raw", ct.c, "\0\13" .. string.pack("<i4", 4) .. "abc\0")
	T.eq("bson.type(code) is unsupported", (bson.type(ct.c)), "unsupported")
	T.eq("code re-encodes byte for byte", hex(bson.encode_order("c", ct.c)), hex(codedoc))
end

local function types()
	local function ty(v) return table.pack(bson.type(v)) end
	T.deq("type: number", ty(1), { "number", 1, n = 2 })
	T.deq("type: boolean", ty(false), { "boolean", false, n = 2 })
	T.deq("type: nil", ty(nil), { "nil", n = 1 })
	T.deq("type: string", ty("s"), { "string", "s", n = 2 })
	T.deq("type: binary", ty(bson.binary "xy"), { "binary", "xy", 0, n = 3 })
	T.deq("type: objectid -> lowercase hex", ty(bson.objectid "0123456789ABCDEF01234567"), { "objectid", "0123456789abcdef01234567", n = 2 })
	T.deq("type: timestamp", ty(bson.timestamp(9, 8)), { "timestamp", 9, 8, n = 3 })
	T.deq("type: date", ty(bson.date(77)), { "date", 77, n = 2 })
	T.deq("type: regex", ty(bson.regex("p", "i")), { "regex", "p", "i", n = 3 })
	T.deq("type: minkey", ty(bson.minkey), { "minkey", n = 1 })
	T.deq("type: maxkey", ty(bson.maxkey), { "maxkey", n = 1 })
	T.deq("type: null is nil", ty(bson.null), { "nil", n = 1 })
	T.deq("type: int64", ty(bson.int64(-5)), { "int64", -5, n = 2 })
	T.raises("type: unknown subtype", "Invalid subtype 99", bson.type, "\0\99")
	T.raises("type: a function", "Invalid type function", bson.type, print)
end

local function document_object()
	local doc = bson.encode_order("d", 1.5, "b", true, "i", 7, "l", bson.int64(9), "o", bson.objectid "000102030405060708090a0b",
		"t", bson.date(5), "ts", bson.timestamp(1, 2), "s", "text")
	T.raises("replace: before makeindex", "call makeindex first", function() doc.i = 1 end)
	T.eq("makeindex returns the doc", doc:makeindex(), doc)
	doc.d = 2.25
	doc.b = false
	doc.i = 2 ^ 40 -- truncated to 32 bits, as upstream
	doc.l = 1 << 50
	doc.o = bson.objectid "0b0a09080706050403020100"
	doc.t = bson.date(6)
	doc.ts = bson.timestamp(3, 4)
	local t = doc:decode()
	T.ok("replace: double, boolean, int32 (truncated), int64", t.d == 2.25 and t.b == false and t.i == 0 and t.l == 1 << 50)
	T.ok("replace: objectid, date, timestamp", t.o == bson.objectid "0b0a09080706050403020100" and t.t == bson.date(6)
		and t.ts == bson.timestamp(3, 4))
	T.raises("replace: a string field cannot be replaced", "Can't replace key : s", function() doc.s = "x" end)
	T.raises("replace: unknown key", "Can't replace key : zz", function() doc.zz = 1 end)
	T.raises("replace: int32 with 1.5", "1.5 must be a 32bit integer ", function() doc.i = 1.5 end)
	T.raises("replace: double with a string", "bad argument #3 to 'newindex' (number expected, got string)", function() doc.d = "x" end)
	T.raises("replace: a date with 5", "Type mismatch, need bson type 9", function() doc.t = 5 end)
	T.raises("replace: a date with a timestamp", "Type mismatch, need bson type 9", function() doc.t = bson.timestamp(1, 1) end)
end

local function encoder_errors()
	local function e(name, want, ...)
		local ok, err = pcall(...)
		T.ok("encode error: " .. name, not ok and tostring(err):find(want, 1, true), tostring(err))
		return err
	end
	local err = e("top-level array", "Bson dictionary's key can't be number", bson.encode, { 1, 2, 3 })
	T.eq("encode error: no position prefix", err, "Bson dictionary's key can't be number")
	e("not a table", "bad argument #1 to 'encode' (table expected, got string)", bson.encode, "x")
	e("a function value", "Invalid value type : function", bson.encode, { f = print })
	e("a boolean key", "Invalid key type : boolean", bson.encode, { [true] = 1 })
	e("a hole", "Bson array has a hole (nil), Use bson.null instead", bson.encode, { a = setmetatable({}, { __len = function() return 2 end }) })
	e("bad utf8 value", "Invalid utf8 string", bson.encode, { s = "\xff" })
	e("overlong utf8", "Invalid utf8 string", bson.encode, { s = "\xc0\x80" })
	e("beyond U+10FFFF", "Invalid utf8 string", bson.encode, { s = "\xf4\x90\x80\x80" })
	e("bad utf8 key", "Invalid utf8 string", bson.encode, { ["\xfe"] = 1 })
	e("a NUL in a key (upstream wrote malformed BSON)", "Invalid key (contains \\0)", bson.encode, { ["a\0b"] = 1 })
	local cyc = {}
	cyc.self = cyc
	e("a reference cycle", "Too depth while encoding bson", bson.encode, { c = cyc })
	e("unknown subtype", "Invalid subtype 99", bson.encode, { x = "\0\99" })
	e("bad objectid", "Invalid object id", bson.encode, { x = "\0\7abc" })
	e("bad date", "Invalid date", bson.encode, { x = "\0\9ab" })
	e("bad timestamp", "Invalid timestamp", bson.encode, { x = "\0\17ab" })
	e("bad int64", "Invalid int64", bson.encode, { x = "\0\18ab" })
	e("odd encode_order", "Invalid ordered dict", bson.encode_order, "a")
	e("encode_order table key", "Argument 3 need a string", bson.encode_order, "a", 1, {}, 2)
	e("objectid length", "Invalid objectid abc", bson.objectid, "abc")
	e("objectid not hex (upstream read garbage)", "Invalid objectid", bson.objectid, "zz0102030405060708090a0b")
	e("date not integral", "number has no integer representation", bson.date, 1.5)
	e("a userdata that is not a document", "not a bson document", bson.encode, { u = io.stdout })
	T.eq("encode_order: number keys become strings", hex(bson.encode_order(1, 2)), "0c0000001031000200000000")
	T.eq("encode_order: no arguments", hex(bson.encode_order()), "0500000000")
	T.eq("mixed table keeps its array part (as upstream)", hex(bson.encode { a = { 1, 2, x = 3 } }), hex(bson.encode { a = { 1, 2 } }))
	-- 128 levels encode, 129 do not
	local function nest(n) local t = {} for _ = 1, n do t = { t = t } end return t end
	T.ok("depth: 127 nested tables encode", pcall(bson.encode, nest(127)))
	e("depth: 200 nested tables", "Too depth while encoding bson", bson.encode, nest(200))
end

local function bad_bytes()
	local function bad(name, bytes, want)
		local ok, err = pcall(bson.decode, bson.fromstring(bytes))
		T.ok("bad bytes: " .. name, not ok and tostring(err):find(want, 1, true), ok and "decoded" or tostring(err))
	end
	local good = tostring(bson.encode_order("a", 1, "s", "hi", "d", bson.encode_order("x", 1)))
	bad("empty", "", "Invalid bson block")
	bad("length says more than there is", string.pack("<i4", 100) .. good:sub(5), "Invalid bson block (")
	bad("length below 5", string.pack("<i4", 3) .. "\0", "Invalid bson block")
	bad("negative length", string.pack("<i4", -1) .. "\0\0\0\0\0", "Invalid bson block")
	bad("missing terminator", good:sub(1, -2) .. "x", "Invalid document end")
	bad("key without NUL", string.pack("<i4", 9) .. "\16abc" .. "\0", "Invalid bson block : cstring")
	bad("string length lies", string.pack("<i4", 15) .. "\2s\0" .. string.pack("<i4", 50) .. "hi\0\0", "Invalid bson string , length = 50")
	bad("string length 0", string.pack("<i4", 14) .. "\2s\0" .. string.pack("<i4", 0) .. "\0\0\0", "Invalid bson string , length = 0")
	bad("string not NUL-terminated", string.pack("<i4", 15) .. "\2s\0" .. string.pack("<i4", 3) .. "hix\0", "Invalid bson string")
	bad("inner document length lies", string.pack("<i4", 13) .. "\3d\0" .. string.pack("<i4", 99) .. "\0\0", "Invalid bson block")
	bad("binary length lies", string.pack("<i4", 15) .. "\5b\0" .. string.pack("<i4", 1000) .. "\0ab\0", "Invalid bson block")
	bad("unknown type", string.pack("<i4", 8) .. "\99a\0" .. "\0", "Invalid bson type : 99")
	bad("undefined (6)", string.pack("<i4", 8) .. "\6a\0" .. "\0", "Invalid bson type : 6")
	bad("decimal128 (19)", string.pack("<i4", 24) .. "\19a\0" .. string.rep("\0", 16) .. "\0", "Invalid bson type : 19")
	bad("truncated double", string.pack("<i4", 11) .. "\1a\0" .. "\0\0\0\0\0", "Invalid bson block")
	bad("array key not a number", string.pack("<i4", 20) .. "\4a\0" .. string.pack("<i4", 12) .. "\16x\0\1\0\0\0\0" .. "\0", "Invalid bson array index")
	-- nesting too deep: 200 levels of {"a": {...}}
	local inner = "\5\0\0\0\0"
	for _ = 1, 200 do inner = string.pack("<i4", #inner + 8) .. "\3a\0" .. inner .. "\0" end
	bad("nesting 200 deep", inner, "Too depth while decoding bson")
	local ok = pcall(bson.decode, bson.fromstring(good))
	T.ok("bad bytes: the good document still decodes", ok)
	T.raises("bad bytes: nesting a malformed document object is refused", "Invalid bson block",
		bson.encode, { d = bson.fromstring(string.pack("<i4", 99) .. "\0") })
end

-- upstream's testbson: __pairs iteration (obj_a nested in obj_b), value types, replace
local function upstream_testbson()
	local lines = {}
	local function iter(t)
		return function(tbl, k)
			local nk, nv = next(tbl, k)
			lines[#lines + 1] = "--- next.b " .. tostring(nk) .. " " .. tostring(nv)
			return nk, nv
		end, t, nil
	end
	local obj_a = setmetatable({}, { __pairs = function() return iter({ ["1"] = 2, ["3"] = 4, ["5"] = 6 }) end })
	local obj_b = setmetatable({}, { __pairs = function() return iter({ ["7"] = 8, ["9"] = 10, ["11"] = obj_a }) end })
	local t = bson.decode(bson.encode(obj_b))
	T.ok("testbson: __pairs drives the encoder (obj_a inside obj_b)", t["7"] == 8 and t["9"] == 10 and t["11"]["1"] == 2
		and t["11"]["5"] == 6)
	T.eq("testbson: iterator called until nil for both tables", #lines, 8)
	local doc = bson.encode {
		a = 1, b = true, c = "hello", d = { 1, 2, 3 }, e = bson.null, f = bson.minkey, g = bson.maxkey,
		h = bson.date(1), i = bson.timestamp(1), j = bson.objectid(), k = { x = 1 }, l = { 1 }, m = bson.binary "m",
		n = bson.regex("x"), o = { hello = 1 }, p = 2.0, q = {}, r = { {} },
	}
	local want = { a = "number", b = "boolean", c = "string", d = "table", e = "string", f = "string", g = "string",
		h = "string", i = "string", j = "string", k = "table", l = "table", m = "string", n = "string", o = "table",
		p = "number", q = "table", r = "table" }
	local got = {}
	for k, v in pairs(doc:decode()) do got[k] = type(v) end
	T.deq("testbson: [before replace] the 18 field types", got, want)
	doc:makeindex()
	doc.p = 1
	T.eq("testbson: [after replace] a double field", doc:decode().p, 1.0)
end

T.run("test_bson", function()
	vectors()
	roundtrip()
	types()
	document_object()
	encoder_errors()
	bad_bytes()
	upstream_testbson()
end)

-- sproto_cases.lua -- checks of sproto, sproto.core and sprotoparser that
-- need no node: the spec's test vectors (api-sproto.md §2-§5), every field
-- type, errors for bad values, bad bytes and bad schemas, and RPC.
-- Run by test/lua/test_sproto.lua inside a node and by
-- test/e2e/test_sproto.sh with the stand-alone lua5.4 interpreter:
--   require("sproto_cases")(T)   where T has pass/fail/ok/eq/deq/raises
local sproto = require "sproto"
local parser = require "sprotoparser"
local core = require "sproto.core"

local function H(s)
	return (s:gsub("%s+", ""):gsub("..", function(x) return string.char(tonumber(x, 16)) end))
end

local function hex(s)
	return (s:gsub(".", function(c) return string.format("%02x ", c:byte()) end))
end

return function(T)
	local function eqhex(name, got, want)
		got = tostring(got)
		if got == want then
			T.pass(name)
			return
		end
		local at = 1
		while got:byte(at) == want:byte(at) do at = at + 1 end
		local from = math.max(1, at - 8)
		T.fail(name, string.format("%d bytes, want %d; first difference at byte %d: got ..%s want ..%s", #got, #want, at - 1,
			hex(got:sub(from, from + 31)), hex(want:sub(from, from + 31))))
	end

	-- ---- schema text -> bin (§2.4, §2.5) ----------------------------------------
	eqhex("bin .A { a 0 : integer }", parser.parse ".A { a 0 : integer }",
		H"01 00 00 00 26 00 00 00 22 00 00 00 02 00 00 00 00 00 01 00 00 00 41 13 00 00 00 0f 00 00 00 04 00 00 00 02 00 01 00 02 00 01 00 00 00 61")
	eqhex("bin .A {}", parser.parse ".A {}", H"01 00 00 00 0d 00 00 00 09 00 00 00 01 00 00 00 01 00 00 00 41")
	do
		local bin = parser.parse ".A { d 100 : *integer(3) }"
		T.ok("bin field *integer(3) records", bin:find(H"05 00 00 00 02 00 08 00 ca 00 04 00", 1, true) ~= nil, hex(bin))
		bin = parser.parse ".A {} foo 1 { request A response nil }"
		T.ok("bin protocol request A response nil",
			bin:find(H"13 00 00 00 05 00 00 00 04 00 02 00 01 00 04 00 03 00 00 00 66 6f 6f", 1, true) ~= nil, hex(bin))
		bin = parser.parse ".A {} foo 1 { response A }"
		T.ok("bin protocol response only", bin:find(H"04 00 00 00 04 00 01 00 02 00 03 00 00 00 66 6f 6f", 1, true) ~= nil, hex(bin))
		bin = parser.parse ".A {} foo 1 { request A }"
		T.ok("bin protocol request only", bin:find(H"03 00 00 00 04 00 02 00 03 00 00 00 66 6f 6f", 1, true) ~= nil, hex(bin))
	end

	local C2S_TEXT = [[
.package {
	type 0 : integer
	session 1 : integer
}

handshake 1 {
	response {
		msg 0  : string
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
	local S2C_TEXT = [[
.package {
	type 0 : integer
	session 1 : integer
}

heartbeat 1 {}
]]
	local c2s_bin, s2c_bin = parser.parse(C2S_TEXT), parser.parse(S2C_TEXT)
	eqhex("bin of the KV example's s2c (109 bytes)", s2c_bin, H[[
02 00 00 00 00 00 48 00 00 00 44 00 00 00 02 00
00 00 00 00 07 00 00 00 70 61 63 6b 61 67 65 2f
00 00 00 12 00 00 00 04 00 00 00 02 00 01 00 02
00 04 00 00 00 74 79 70 65 15 00 00 00 04 00 00
00 02 00 01 00 04 00 07 00 00 00 73 65 73 73 69
6f 6e 17 00 00 00 13 00 00 00 02 00 00 00 04 00
09 00 00 00 68 65 61 72 74 62 65 61 74]])
	T.eq("bin of the KV example's c2s is 407 bytes", #c2s_bin, 407)
	T.ok("c2s protocol array", c2s_bin:sub(-89) == H"55 00 00 00" ..
		H"17 00 00 00 04 00 00 00 04 00 01 00 06 00 09 00 00 00" .. "handshake" ..
		H"11 00 00 00 04 00 00 00 06 00 02 00 04 00 03 00 00 00" .. "get" ..
		H"0f 00 00 00 03 00 00 00 08 00 0a 00 03 00 00 00" .. "set" ..
		H"0e 00 00 00 02 00 00 00 0a 00 04 00 00 00" .. "quit", hex(c2s_bin:sub(-89)))

	-- ---- messages (§3.5) ----------------------------------------------------------
	local sp = sproto.parse [[
.Person { name 0:string  age 1:integer  marital 2:boolean  children 3:*Person }
.Data { numbers 0:*integer  bools 1:*boolean  number 2:integer  bignumber 3:integer
        double 4:double  doubles 5:*double  fpn 6:integer(2) }
]]
	local function vec(name, typename, value, enc, packed)
		local e = sp:encode(typename, value)
		eqhex("encode " .. name, e, H(enc))
		if packed then
			local p = sproto.pack(e)
			eqhex("pack " .. name, p, H(packed))
			local u = sproto.unpack(p)
			T.ok("unpack " .. name, u:sub(1, #e) == e and u:sub(#e + 1) == ("\0"):rep(#u - #e) and #u % 8 == 0, hex(u))
		end
		local d, n = sp:decode(typename, H(enc))
		T.eq("decode " .. name .. " consumes all", n, #H(enc))
		return d
	end
	local d = vec("Person Alice", "Person", { name = "Alice", age = 13, marital = false },
		"03 00 00 00 1c 00 02 00 05 00 00 00 41 6c 69 63 65", "51 03 1c 02 f1 05 41 6c 69 63 01 65")
	T.deq("decode Person Alice", d, { name = "Alice", age = 13, marital = false })
	d = vec("Person Bob", "Person", { name = "Bob", age = 40, children = { { name = "Alice", age = 13 }, { name = "Carol", age = 5 } } },
		"04 00 00 00 52 00 01 00 00 00 03 00 00 00 42 6f 62 26 00 00 00 0f 00 00 00 02 00 00 00 1c 00 05 00 00 00 41 6c 69 63 65 0f 00 00 00 02 00 00 00 0c 00 05 00 00 00 43 61 72 6f 6c",
		"51 04 52 01 c4 03 42 6f 23 62 26 0f a2 02 1c 05 f8 41 6c 69 63 65 11 0f 02 c5 0c 05 43 61 07 72 6f 6c")
	T.deq("decode Person Bob (struct array)", d, { name = "Bob", age = 40, children = { { name = "Alice", age = 13 }, { name = "Carol", age = 5 } } })
	d = vec("numbers 1..5", "Data", { numbers = { 1, 2, 3, 4, 5 } },
		"01 00 00 00 15 00 00 00 04 01 00 00 00 02 00 00 00 03 00 00 00 04 00 00 00 05 00 00 00", "11 01 15 23 04 01 02 22 03 04 02 05")
	T.deq("decode numbers 1..5", d, { numbers = { 1, 2, 3, 4, 5 } })
	d = vec("numbers 2^32+k", "Data", { numbers = { 2 ^ 32 + 1, 2 ^ 32 + 2, 2 ^ 32 + 3 } },
		"01 00 00 00 19 00 00 00 08 01 00 00 00 01 00 00 00 02 00 00 00 01 00 00 00 03 00 00 00 01 00 00 00", "11 01 19 23 08 01 01 22 02 01 22 03 01 00")
	T.ok("decode 64-bit integer array", d.numbers[3] == (1 << 32) + 3 and math.type(d.numbers[3]) == "integer")
	d = vec("numbers 1,-1,2^40 (widened)", "Data", { numbers = { 1, -1, 1 << 40 } },
		"01 00 00 00 19 00 00 00 08 01 00 00 00 00 00 00 00 ff ff ff ff ff ff ff ff 00 00 00 00 00 01 00 00")
	T.deq("decode widened array", d, { numbers = { 1, -1, 1 << 40 } })
	d = vec("bools", "Data", { bools = { false, true, false } }, "02 00 01 00 00 00 03 00 00 00 00 01 00", "45 02 01 03 08 01")
	T.deq("decode bools", d, { bools = { false, true, false } })
	d = vec("number/bignumber", "Data", { number = 100000, bignumber = -10000000000 },
		"03 00 03 00 00 00 00 00 04 00 00 00 a0 86 01 00 08 00 00 00 00 1c f4 ab fd ff ff ff", "05 03 03 71 04 a0 86 01 e1 08 1c f4 ab 0f fd ff ff ff")
	T.deq("decode number/bignumber", d, { number = 100000, bignumber = -10000000000 })
	d = vec("fpn 1.82", "Data", { fpn = 1.82 }, "02 00 0b 00 6e 01", "35 02 0b 6e 01")
	T.ok("decode decimal is a float", d.fpn == 1.82 and math.type(d.fpn) == "float", tostring(d.fpn))
	d = vec("fpn -1.82", "Data", { fpn = -1.82 }, "02 00 0b 00 00 00 04 00 00 00 4a ff ff ff")
	T.eq("decode fpn -1.82", d.fpn, -1.82)
	d = vec("fpn 3", "Data", { fpn = 3 }, "02 00 0b 00 5a 02")
	T.ok("decode decimal 3 -> 3.0", math.type(d.fpn) == "float" and d.fpn == 3.0)
	vec("fpn 0.005 rounds half away from zero", "Data", { fpn = 0.125 }, "02 00 0b 00 1c 00")
	vec("fpn -0.125", "Data", { fpn = -0.125 }, "02 00 0b 00 00 00 04 00 00 00 f3 ff ff ff")
	d = vec("empty array", "Data", { numbers = {} }, "01 00 00 00 00 00 00 00", "01 01")
	T.ok("empty array decodes to {} and absent fields to nil", type(d.numbers) == "table" and next(d.numbers) == nil and d.bools == nil)
	d = vec("empty struct", "Person", {}, "00 00", "00")
	T.ok("empty struct decodes to {}", next(d) == nil)
	vec("number 0", "Data", { number = 0 }, "02 00 03 00 02 00")
	vec("number 0x7ffe", "Data", { number = 0x7ffe }, "02 00 03 00 fe ff")
	vec("number 0x7fff", "Data", { number = 0x7fff }, "02 00 03 00 00 00 04 00 00 00 ff 7f 00 00")
	vec("number -1", "Data", { number = -1 }, "02 00 03 00 00 00 04 00 00 00 ff ff ff ff")
	vec("number 0x80000000", "Data", { number = 0x80000000 }, "02 00 03 00 00 00 08 00 00 00 00 00 00 80 00 00 00 00")
	d = vec("number -2^31", "Data", { number = -0x80000000 }, "02 00 03 00 00 00 04 00 00 00 00 00 00 80")
	T.eq("decode -2^31", d.number, -0x80000000)
	d = vec("number maxinteger", "Data", { number = math.maxinteger }, "02 00 03 00 00 00 08 00 00 00 ff ff ff ff ff ff ff 7f")
	T.eq("decode maxinteger", d.number, math.maxinteger)
	d = vec("number mininteger", "Data", { number = math.mininteger }, "02 00 03 00 00 00 08 00 00 00 00 00 00 00 00 00 00 80")
	T.eq("decode mininteger", d.number, math.mininteger)
	d = vec("double 1", "Data", { double = 1 }, "02 00 07 00 00 00 08 00 00 00 00 00 00 00 00 00 f0 3f")
	T.ok("decode double is a float", math.type(d.double) == "float" and d.double == 1.0)
	d = vec("doubles {23}", "Data", { doubles = { 23 } }, "02 00 09 00 00 00 09 00 00 00 08 00 00 00 00 00 00 37 40")
	T.deq("decode doubles", d, { doubles = { 23.0 } })
	vec("double 0.0 is still a chunk", "Data", { double = 0.0 }, "02 00 07 00 00 00 08 00 00 00 00 00 00 00 00 00 00 00")
	d = sp:decode("Data", sp:encode("Data", { double = 1 / 3, doubles = { -0.5, 1e300, math.huge } }))
	T.ok("double round trip", d.double == 1 / 3 and d.doubles[2] == 1e300 and d.doubles[3] == math.huge)
	T.eq("integer field takes a numeric string", hex(sp:encode("Data", { number = "12" })), hex(H"02 00 03 00 1a 00"))
	T.eq("integer field takes an integral float", hex(sp:encode("Data", { number = 3.0 })), hex(H"02 00 03 00 08 00"))
	T.eq("double and decimal take non-numbers as 0", sp:decode("Data", sp:encode("Data", { double = "x", fpn = {} })).fpn, 0.0)
	T.eq("double field takes a numeric string", sp:decode("Data", sp:encode("Data", { double = "2.5" })).double, 2.5)

	-- map / main index / string arrays / binary / tag gaps
	local bag = sproto.parse [[
.Item { id 0 : integer  name 1 : string }
.KV { key 0 : string  value 1 : integer }
.KS { key 0 : integer  item 1 : Item }
.Bag {
	items 0 : *Item(id)
	byname 1 : *Item(name)
	kv 2 : *KV()
	ks 3 : *KS()
	strs 4 : *string
	bin 5 : binary
	bins 6 : *binary
	decs 7 : *integer(3)
}
]]
	eqhex("encode main index by name", bag:encode("Bag", { byname = { x = { id = 1, name = "x" } } }),
		H"02 00 01 00 00 00 0f 00 00 00 0b 00 00 00 02 00 04 00 00 00 01 00 00 00 78")
	eqhex("encode map", bag:encode("Bag", { kv = { hello = 1 } }),
		H"02 00 03 00 00 00 13 00 00 00 0f 00 00 00 02 00 00 00 04 00 05 00 00 00 68 65 6c 6c 6f")
	eqhex("encode string array", bag:encode("Bag", { strs = { "a", "", "bc" } }),
		H"02 00 07 00 00 00 0f 00 00 00 01 00 00 00 61 00 00 00 00 02 00 00 00 62 63")
	local full = {
		items = { [3] = { id = 3, name = "c" }, [10] = { id = 10, name = "j" } },
		byname = { a = { id = 1, name = "a" }, b = { id = 2, name = "b" } },
		kv = { x = 1, y = -2, z = 1 << 40 },
		ks = { [1] = { id = 5, name = "five" }, [7] = { id = 7 } },
		strs = { "a", "", "b\0c" },
		bin = "\0\1\2\255",
		bins = { "\0", "" },
		decs = { 1.5, -2.25, 0 },
	}
	T.deq("main index, map, string, binary and decimal arrays round trip", bag:decode("Bag", bag:encode("Bag", full)), full)
	T.deq("empty map", bag:decode("Bag", bag:encode("Bag", { kv = {} })), { kv = {} })
	do
		local ordered = setmetatable({}, { __pairs = function()
			local keys, i = { "p", "q" }, 0
			return function() i = i + 1 local k = keys[i] if k then return k, i end end
		end })
		T.deq("map honours __pairs", bag:decode("Bag", bag:encode("Bag", { kv = ordered })), { kv = { p = 1, q = 2 } })
		local proxy = setmetatable({}, { __index = function(_, k) if k == "strs" then return { "via", "__index" } end end })
		T.deq("struct fields read through __index", bag:decode("Bag", bag:encode("Bag", proxy)), { strs = { "via", "__index" } })
		T.deq("array stops at the first hole", bag:decode("Bag", bag:encode("Bag", { strs = { "a", "b", nil, "d" } })), { strs = { "a", "b" } })
		T.deq("keys not in the schema are ignored", bag:decode("Bag", bag:encode("Bag", { bin = "x", other = 1, [1] = 2 })), { bin = "x" })
	end
	T.raises("main index element without its key", "Can't find main index (tag=0) in [items]",
		bag.decode, bag, "Bag", bag:encode("Bag", { items = { { name = "no id" } } }))
	T.raises("main index element without its key", "Can't find main index (tag=0) in [items]",
		bag.decode, bag, "Bag", bag:encode("Bag", { items = { { name = "no id" } } }))
	do
		-- the same wire type with one of the two fields left out
		local half_k = sproto.parse ".K { key 0 : string } .Bag { kk 2 : *K }"
		local half_v = sproto.parse ".V { value 1 : integer } .Bag { vv 2 : *V }"
		T.raises("map element without its key", "Can't find key field in [kv]",
			bag.decode, bag, "Bag", half_v:encode("Bag", { vv = { { value = 1 } } }))
		T.raises("map element without its value", "Can't find value field in [kv]",
			bag.decode, bag, "Bag", half_k:encode("Bag", { kk = { { key = "x" } } }))
	end
	local gap = sproto.parse ".A{a 0:integer b 5:string c 7:*boolean d 100:*integer(3) e 101:boolean f 30000:integer}"
	eqhex("tag gap of 30000", gap:encode("A", { f = 2 }), H"02 00 5f ea 06 00")
	eqhex("tag gap before e", gap:encode("A", { e = false }), H"02 00 c9 00 02 00")
	T.deq("tag gaps round trip", gap:decode("A", gap:encode("A", { a = 1, b = "x", c = { true }, d = { 0.5 }, e = true, f = 30000 })),
		{ a = 1, b = "x", c = { true }, d = { 0.5 }, e = true, f = 30000 })

	-- forward compatibility: unknown fields are skipped, missing ones nil
	do
		local new = sproto.parse ".M { a 0:integer  b 1:string  c 2:string  d 3:*integer  e 4:integer  f 5:Sub  g 9:integer } .Sub { x 0:integer }"
		local old = sproto.parse ".M { a 0:integer  c 2:string  g 9:integer }"
		local msg = new:encode("M", { a = 1, b = "skip me", c = "keep", d = { 1, 2 }, e = 7, f = { x = 1 }, g = 100000 })
		local t, n = old:decode("M", msg)
		T.deq("unknown fields skipped", t, { a = 1, c = "keep", g = 100000 })
		T.eq("unknown field chunks consumed", n, #msg)
		T.deq("missing fields decode to nil", new:decode("M", old:encode("M", { a = 5 })), { a = 5 })
		local t2, n2 = old:decode("M", msg .. "trailing")
		T.ok("top level tolerates trailing bytes", t2.c == "keep" and n2 == #msg)
	end

	-- a freed schema's memory reused by the next one must not bring back
	-- the old field names (the decoder caches names per type handle)
	do
		local okall, reused, seen = true, false, {}
		collectgarbage "stop" -- keep the weak cache entries alive
		for i = 1, 20 do
			local name = (i % 2 == 0) and "even" or "odd"
			local cobj = core.newproto(parser.parse(".T { " .. name .. " 0 : integer }"))
			local st = core.querytype(cobj, "T")
			reused = reused or seen[st]
			seen[st] = true
			local t = core.decode(st, core.encode(st, { [name] = i }))
			if t[name] ~= i then okall = false end
			core.deleteproto(cobj)
		end
		collectgarbage "restart"
		T.ok("field names follow the schema when its memory is reused", okall, reused and "memory was reused" or "no reuse seen")
	end

	-- decode into an existing table
	do
		local into = { keep = true, name = "old" }
		local r = sp:decode("Person", sp:encode("Person", { name = "new", age = 1 }), into)
		T.ok("decode into a given table", r == into and into.keep == true and into.name == "new" and into.age == 1)
	end

	-- ---- encode errors (§3.4) ---------------------------------------------------------
	T.raises("integer field rejects a float", "Data.number[0] is not an integer (Is a number)", sp.encode, sp, "Data", { number = 3.5 })
	T.raises("integer field rejects a boolean", "Data.number[0] is not an integer (Is a boolean)", sp.encode, sp, "Data", { number = true })
	T.raises("integer array element", "Data.numbers[2] is not an integer (Is a string)", sp.encode, sp, "Data", { numbers = { 1, "x" } })
	T.raises("boolean field", "Person.marital[0] is not a boolean (Is a number)", sp.encode, sp, "Person", { marital = 1 })
	T.raises("boolean array element", "Data.bools[1] is not a boolean (Is a string)", sp.encode, sp, "Data", { bools = { "yes" } })
	T.raises("string field rejects numbers", "Person.name[0] is not a string (Is a number)", sp.encode, sp, "Person", { name = 1 })
	T.raises("array field must be a table", "Person.children(1) should be a table or an userdata with metamethods (Is a number)",
		sp.encode, sp, "Person", { children = 1 })
	T.raises("struct element must be indexable", { "attempt to index a number value", "Person.children[2]" },
		sp.encode, sp, "Person", { children = { {}, 5 } })
	T.raises("top level must be indexable", "attempt to index a nil value", sp.encode, sp, "Person", nil)
	T.raises("unknown type", "type not found", sp.encode, sp, "Nobody", {})
	T.raises("decimal out of the integer range", "out of the integer range", sp.encode, sp, "Data", { fpn = 1e300 })
	do
		local deep = {}
		for _ = 1, 70 do deep = { children = { deep } } end
		T.raises("encoding a table nested too deep", "The table is too deep", sp.encode, sp, "Person", deep)
		local ok = {}
		for _ = 1, 60 do ok = { children = { ok } } end
		T.ok("60 levels encode and decode", pcall(function() return sp:decode("Person", sp:encode("Person", ok)) end))
		local loop = {}
		loop.children = { loop }
		T.raises("a table that contains itself", "The table is too deep", sp.encode, sp, "Person", loop)
	end
	T.raises("message over 16 MiB", "object is too large (>16777216)", sp.encode, sp, "Person", { name = ("x"):rep(16 * 1024 * 1024 + 1) })
	do
		local big = sp:encode("Person", { name = ("y"):rep(1 << 20), children = { { name = ("z"):rep(300000) } } })
		local t = sp:decode("Person", sproto.unpack(sproto.pack(big)))
		T.ok("1.3 MB message round trips through pack", #t.name == 1 << 20 and #t.children[1].name == 300000)
		T.ok("the encoder works after an error", sp:encode("Person", { name = "Alice", age = 13, marital = false }) ==
			H"03 00 00 00 1c 00 02 00 05 00 00 00 41 6c 69 63 65")
	end

	-- ---- decode errors: bad bytes never crash, they raise -------------------------------
	local function bad(name, typename, bytes, want)
		T.raises("decode refuses " .. name, want or "decode error", sp.decode, sp, typename, H(bytes))
	end
	bad("an empty string", "Person", "")
	bad("a 1-byte header", "Person", "01")
	bad("a header announcing more records than bytes", "Person", "03 00 00 00")
	bad("a chunk length past the end", "Person", "01 00 00 00 05 00 00 00 41")
	bad("a truncated chunk length", "Person", "01 00 00 00 05 00")
	bad("a 3-byte integer", "Data", "03 00 01 00 00 00 03 00 00 00 01 02 03")
	bad("a boolean in a chunk", "Person", "03 00 01 00 01 00 00 00 01 00 00 00 01")
	bad("an inline string", "Person", "01 00 04 00")
	bad("an inline array", "Data", "01 00 04 00")
	bad("an inline double", "Data", "05 00 07 00 04 00")
	bad("a 4-byte double", "Data", "02 00 07 00 00 00 04 00 00 00 00 00 00 00")
	bad("an integer array of width 3", "Data", "01 00 00 00 04 00 00 00 03 01 02 03")
	bad("an integer array that is not whole", "Data", "01 00 00 00 04 00 00 00 04 01 02 03")
	bad("a double array of width 4", "Data", "02 00 09 00 00 00 05 00 00 00 04 00 00 80 3f")
	bad("a nested struct that does not fill its chunk", "Person", "02 00 05 00 00 00 07 00 00 00 03 00 00 00 00 00 00", "does not fill its chunk")
	T.deq("the same struct filling its chunk", sp:decode("Person", H"02 00 05 00 00 00 06 00 00 00 02 00 00 00 00 00"), { children = { {} } })
	bad("a struct array element past its chunk", "Person", "04 00 01 00 01 00 01 00 00 00 04 00 00 00 09 00 00 00")
	bad("a string array element past its chunk", "Data", "01 00 00 00 04 00 00 00 09 00 00 00", "decode error")
	T.deq("a lone width byte is an empty integer array", sp:decode("Data", H"01 00 00 00 01 00 00 00 04"), { numbers = {} })
	do
		-- 70 nested children: {children = {{children = ...}}}
		local msg = H"00 00"
		for _ = 1, 70 do
			msg = H"02 00 05 00 00 00" .. string.pack("<s4", string.pack("<s4", msg))
		end
		T.raises("decoding bytes nested too deep", "The table is too deep", sp.decode, sp, "Person", msg)
		-- random bytes: any outcome but a crash; most are refused
		local seed = 12345
		local function rnd(n)
			seed = (seed * 1103515245 + 12345) & 0x7fffffff
			return seed % n
		end
		local valid = sp:encode("Person", { name = "Bob", age = 40, marital = true, children = { { name = "A" }, { age = 1 } } })
		local refused, accepted = 0, 0
		for i = 1, 3000 do
			local s
			if i % 2 == 0 then
				local t = {}
				for k = 1, rnd(40) do t[k] = string.char(rnd(256)) end
				s = table.concat(t)
			else -- mutate a valid message
				local k = rnd(#valid) + 1
				s = valid:sub(1, k - 1) .. string.char(rnd(256)) .. valid:sub(k + 1, rnd(#valid + 1))
			end
			local ok, err = pcall(sp.decode, sp, "Person", s)
			if ok then
				accepted = accepted + 1
			elseif tostring(err):find("decode error", 1, true) or tostring(err):find("too deep", 1, true) then
				refused = refused + 1
			else
				T.fail("random bytes decode or raise 'decode error'", err)
				break
			end
			ok = pcall(sproto.unpack, s)
		end
		T.ok("3000 random or mutated messages decode or raise 'decode error'", refused + accepted == 3000 and refused > 0, refused .. "/" .. accepted)
	end

	-- ---- 0-pack (§4.3) --------------------------------------------------------------------
	local function packvec(name, raw, packed, unpacked)
		eqhex("pack " .. name, sproto.pack(raw), packed)
		eqhex("unpack " .. name, sproto.unpack(packed), unpacked or raw)
	end
	local A8 = ("\x8a"):rep(8)
	packvec("mixed groups", H"08 00 00 00 03 00 02 00 19 00 00 00 aa 01 00 00", H"51 08 03 02 31 19 aa 01")
	packvec("30 dense bytes", ("\x8a"):rep(30), H"ff 03" .. ("\x8a"):rep(30) .. H"00 00", ("\x8a"):rep(30) .. H"00 00")
	packvec("8 dense bytes", A8, H"ff 00" .. A8)
	packvec("7 dense bytes", ("\x8a"):rep(7), H"7f" .. ("\x8a"):rep(7), ("\x8a"):rep(7) .. "\0")
	packvec("9 dense bytes", ("\x8a"):rep(9), H"ff 00" .. A8 .. H"01 8a", ("\x8a"):rep(9) .. ("\0"):rep(7))
	packvec("a 6-byte group extends a run", A8 .. H"01 02 03 04 05 06 00 00" .. A8, H"ff 02" .. A8 .. H"01 02 03 04 05 06 00 00" .. A8)
	packvec("a 5-byte group ends a run", A8 .. H"01 02 03 04 05 00 00 00" .. A8, H"ff 00" .. A8 .. H"1f 01 02 03 04 05 ff 00" .. A8)
	packvec("a 7-byte group never starts a run", H"01 02 03 04 05 06 07 00" .. A8, H"7f 01 02 03 04 05 06 07 ff 00" .. A8)
	packvec("a 7-byte group after a run", A8 .. H"00 01 02 03 04 05 06 07", H"ff 01" .. A8 .. H"00 01 02 03 04 05 06 07")
	packvec("a run of 256 groups", ("\x8a"):rep(2048), H"ff ff" .. ("\x8a"):rep(2048))
	packvec("257 groups", ("\x8a"):rep(2056), H"ff ff" .. ("\x8a"):rep(2048) .. H"ff 00" .. A8)
	packvec("one zero", "\0", "\0", ("\0"):rep(8))
	packvec("16 zeros", ("\0"):rep(16), "\0\0")
	packvec("nothing", "", "")
	for _, s in ipairs { "ff", "ff 00 01 02", "03 01", "ff 01" .. ("8a"):rep(15) } do
		T.raises("unpack refuses " .. s:sub(1, 12), "Invalid unpack stream", sproto.unpack, H(s))
	end
	do
		local ok = true
		for n = 0, 300 do
			local t = {}
			for i = 1, n do t[i] = string.char((i * 7919 % 5 == 0) and 0 or (i * 31 % 256)) end
			local s = table.concat(t)
			local u = sproto.unpack(sproto.pack(s))
			if u:sub(1, n) ~= s or #u ~= (n + 7) // 8 * 8 then ok = false break end
		end
		T.ok("pack/unpack round trip for sizes 0..300", ok)
	end
	T.raises("pack of a non-string", "Need a string or userdata", sproto.pack, 1)

	-- ---- bad binary schemas ------------------------------------------------------------
	T.raises("sproto.new of an empty schema", "invalid binary schema", sproto.new, parser.parse "")
	T.eq("an empty schema parses to 00 00", parser.parse " # nothing\n", "\0\0")
	T.raises("sproto.new of garbage", "invalid binary schema", sproto.new, "garbage!")
	do
		local all_refused = true
		for n = 0, #c2s_bin - 1 do
			if core.newproto(c2s_bin:sub(1, n)) then all_refused = false end
		end
		T.ok("every truncation of a bin is refused", all_refused)
		local seed, crashed = 99, false
		for _ = 1, 3000 do
			seed = (seed * 1103515245 + 12345) & 0x7fffffff
			local k = seed % #c2s_bin + 1
			local b = c2s_bin:sub(1, k - 1) .. string.char(seed >> 8 & 255) .. c2s_bin:sub(k + 1)
			local ok, s = pcall(core.newproto, b)
			if not ok then crashed = true break end
			if s then core.deleteproto(s) end
		end
		T.ok("3000 mutated bins load or are refused", not crashed)
		T.eq("newproto says why", select(2, core.newproto(H"01 00 00 00 00 00 00 00")), "invalid binary schema (no types)")
	end
	do
		-- hand-built bins (spec §2.2) that break one rule each
		local function inline(v) return string.pack("<I2", (v + 1) * 2) end
		local function chunk(x) return string.pack("<s4", x) end
		local function struct(records, chunks) return string.pack("<I2", #records) .. table.concat(records) .. table.concat(chunks) end
		local function array(list) local t = {} for i, e in ipairs(list) do t[i] = chunk(e) end return chunk(table.concat(t)) end
		local D, S = "\0\0", "\1\0"
		local function field(name, buildin, tag, extra) -- extra: records after the tag
			local r = { D, buildin and inline(buildin) or S, S, inline(tag) }
			for _, x in ipairs(extra or {}) do r[#r + 1] = x end
			return struct(r, { chunk(name) })
		end
		local function utype(name, index, tag, extra)
			local r = { D, S, inline(index), inline(tag) }
			for _, x in ipairs(extra or {}) do r[#r + 1] = x end
			return struct(r, { chunk(name) })
		end
		local function typ(name, fields) return struct({ D, D }, { chunk(name), array(fields) }) end
		local function proto(name, tag) return struct({ D, inline(tag) }, { chunk(name) }) end
		local function group(types, protos)
			if protos then return struct({ D, D }, { array(types), array(protos) }) end
			return struct({ D }, { array(types) })
		end
		local function refused(name, bin, why)
			local s, err = core.newproto(bin)
			T.ok("bin refused: " .. name, s == nil and tostring(err):find(why, 1, true), tostring(err))
		end
		local good = group { typ("A", { field("a", 0, 0), field("b", 2, 1) }) }
		T.ok("hand-built bin loads", core.newproto(good) ~= nil and good == parser.parse ".A { a 0 : integer b 1 : string }")
		refused("field tags not ascending", group { typ("A", { field("b", 2, 1), field("a", 0, 0) }) }, "not ascending")
		refused("duplicate field tags", group { typ("A", { field("a", 0, 1), field("b", 2, 1) }) }, "not ascending")
		refused("built-in code 4", group { typ("A", { field("a", 4, 0) }) }, "unknown built-in")
		refused("type index out of range", group { typ("A", { utype("a", 1, 0) }) }, "out of range")
		refused("a field attribute above 6", group { typ("A", { field("a", 0, 0, { inline(1), S, S, inline(1) }) }) }, "unknown field attribute")
		refused("map flag on an integer array", group { typ("A", { field("a", 0, 0, { inline(1), inline(0), inline(1) }) }) }, "map flag")
		refused("protocol tags not ascending", group({ typ("A", {}) }, { proto("p", 2), proto("q", 1) }), "not ascending")
		refused("protocol request index out of range",
			group({ typ("A", {}) }, { struct({ D, inline(1), inline(5) }, { chunk("p") }) }), "out of range")
		refused("a field without a name", group { typ("A", { struct({ S, inline(0), S, inline(0) }, {}) }) }, "name")
	end

	-- ---- the schema language and its errors (§1) --------------------------------------------
	local function parses(name, text)
		local ok, err = pcall(parser.parse, text)
		T.ok("parses: " .. name, ok, err)
	end
	parses("no blank around ':'", ".X{x 0:integer}")
	parses("blanks around ':'", ".X{x 0 : integer}")
	parses("an item right after '}'", ".X{x 0:integer}foo 1{request X}")
	parses("a built-in name as a type name", ".integer {}")
	parses("comments anywhere", "# head\n.X { # after brace\n x 0 : integer # field\n} # tail")
	parses("CRLF line ends", ".X {\r\n x 0 : integer\r\n}\r\n")
	parses("leading zeros in a tag", ".X { x 007 : integer }")
	parses("request nil", ".X {} p 1 { request nil }")
	parses("a suffix on a non-array struct field is ignored", ".A { a 0 : integer } .B { b 0 : A(a) }")
	parses("empty protocol", ".X {} quit 4 {}")
	do
		local s = sproto.parse ".A { .B { v 0 : integer } .C { b 0 : B } c 1 : C } .D { b 0 : A.B }"
		T.deq("nested type resolves from an inner scope", s:decode("A", s:encode("A", { c = { b = { v = 3 } } })), { c = { b = { v = 3 } } })
		T.ok("nested types are named A.B", s:exist_type "A.B" and s:exist_type "A.C" and not s:exist_type "B")
		local d2 = s:default "A.C"
		T.eq("fully qualified reference", d2.b.__type, "A.B")
		s = sproto.parse ".A { x 0 : integer(2)(3) }"
		T.eq("only the first suffix counts", s:decode("A", s:encode("A", { x = 1.5 })).x, 1.5)
		T.eq("integer(2) sends 150 for 1.5", s:encode("A", { x = 1.5 }), H"01 00 2e 01")
		s = sproto.parse ".A {} p 1 { request { .N { v 0 : integer } n 0 : N } }"
		T.ok("inline request types are named p.request and p.request.N", s:exist_type "p.request" and s:exist_type "p.request.N")
	end
	local function perr(name, text, want, chunk)
		T.raises("schema error: " .. name, want, parser.parse, text, chunk)
	end
	perr("syntax error with its line", ".A {\n a 0 : integer\n b x : integer\n}", "syntax error at [=text] line (3)")
	perr("syntax error names the chunk", ".A {", "syntax error at [my.sproto] line (1)", "my.sproto")
	perr("syntax error says why", ".A { a 0 integer }", "expected ':' after the tag of field 'a'")
	perr("CRLF counts once", ".A {\r\n\r\n a 0 : integer\r\n b :\r\n}", "line (4)")
	perr("a dotted field name", ".A { x.y 0 : integer }", "syntax error")
	perr("a name starting with a digit", ".A { 1x 0 : integer }", "syntax error")
	perr("a negative tag", ".A { x -1 : integer }", "syntax error")
	perr("a blank between '*' and the type", ".A { x 0 : * integer }", "syntax error")
	perr("a protocol without a tag", ".A {} foo { }", "syntax error")
	perr("an unclosed type", ".A { x 0 : integer", "not closed")
	perr("duplicate field name", ".A {\n a 0 : integer\n a 1 : integer }", "redefine a in type A at [=text] line 3")
	perr("duplicate field tag", ".A { a 0 : integer\n b 0 : integer }", "redefine tag 0 in type A at [=text] line 2")
	perr("duplicate type", ".A {}\n.A {}", "redefined A")
	perr("duplicate nested type", ".A { .B {} .B {} }", "redefined A.B")
	perr("duplicate protocol", ".A {} p 1 {} p 2 {}", "redefined p")
	perr("unknown field type", ".A { b 0 : B }", "Undefined type B in type A")
	perr("unknown request type", ".A {} p 1 { request B }", "Undefined request type B in protocol p")
	perr("unknown response type", ".A {} p 1 { response B }", "Undefined response type B in protocol p")
	perr("a request type is not searched in scopes", ".A { .B {} } p 1 { request B }", "Undefined request type B in protocol p")
	perr("duplicate protocol tag", ".A {} p 1 {} q 1 {}", "redefined protocol tag 1")
	perr("request twice", ".A {} p 1 { request A request A }", "redefine request in protocol p")
	perr("map of three fields", ".K { a 0 : string b 1 : integer c 2 : integer } .A { m 0 : *K() }",
		"Invalid map definition: m, must only have two fields")
	perr("map key not built-in", ".S {} .K { a 0 : S b 1 : integer } .A { m 0 : *K() }", "Invalid map index :a")
	perr("index not a field", ".K { a 0 : string } .A { m 0 : *K(zz) }", "Invalid map index :zz")
	perr("index not built-in", ".S {} .K { a 0 : S } .A { m 0 : *K(a) }", "Invalid map index :a")
	perr("index on an array of built-ins", ".A { m 0 : *string(k) }", "Invalid map index :k")
	perr("decimal on a string", ".A { s 0 : string(2) }", "decimal precision (2) needs an integer field: s in type A")
	perr("tag 32767", ".A { a 32767 : integer }", "is over 32766")
	perr("protocol tag 32767", ".A {} p 32767 {}", "is over 32766")
	perr("protocols without types", "foo 1 {}", "needs a schema with at least one type")
	perr("junk at top level", ".A {} ?", "syntax error at [=text] line (1)")
	T.raises("sproto.parse passes parser errors on", "redefine tag 0", sproto.parse, ".A { a 0 : integer b 0 : integer }")

	-- ---- the sproto object API (§5.1) ----------------------------------------------------------
	local c2s, s2c = sproto.new(c2s_bin), sproto.new(s2c_bin)
	T.ok("exist_type", c2s:exist_type "package" and c2s:exist_type "get.request" and not c2s:exist_type "nope")
	T.ok("exist_proto by name and tag", c2s:exist_proto "get" and c2s:exist_proto(2) and not c2s:exist_proto "nope" and not c2s:exist_proto(9))
	do
		local p = c2s:queryproto "get"
		T.ok("queryproto by name", p.name == "get" and p.tag == 2 and p.request ~= nil and p.response ~= nil)
		local q = c2s:queryproto(3)
		T.ok("queryproto by tag", q.name == "set" and q.tag == 3 and q.request ~= nil and q.response == nil)
		T.eq("queryproto caches", c2s:queryproto "get", p)
		T.raises("queryproto of an unknown name", "nope not found", c2s.queryproto, c2s, "nope")
		T.raises("queryproto of an unknown tag", "99 not found", c2s.queryproto, c2s, 99)
	end
	do
		local bytes, tag = c2s:request_encode("get", { what = "hello" })
		T.ok("request_encode", tag == 2 and c2s:request_decode("get", bytes).what == "hello")
		local none, qtag = c2s:request_encode("quit", {})
		T.ok("request_encode without a request type", none == "" and qtag == 4)
		local r, name = c2s:request_decode("quit", "")
		T.ok("request_decode without a request type", r == nil and name == "quit")
		local rb = c2s:response_encode("get", { result = "r" })
		T.eq("response_decode", (c2s:response_decode("get", rb)).result, "r")
		T.eq("response_encode without a response type", c2s:response_encode("set", { x = 1 }), "")
		T.eq("response_decode without a response type", select("#", c2s:response_decode("set", "")), 0)
		local rn = sproto.parse ".A { a 0 : integer } foo 1 { request A response nil }"
		local p = rn:queryproto "foo"
		T.ok("response nil is a truthy NULL handle", p.response and type(p.response) == "userdata")
		T.eq("response_encode of response nil with nil", rn:response_encode("foo", nil), "")
		T.raises("response_encode of response nil with a table", "bad argument #2 to 'encode' (nil expected, got table)",
			rn.response_encode, rn, "foo", {})
		T.eq("response_decode of response nil", select("#", rn:response_decode("foo", "")), 0)
		T.eq("default RESPONSE of response nil", rn:default("foo", "RESPONSE"), nil)
		local pe = c2s:pencode("set.request", { what = "hello", value = "world" })
		local t, n = c2s:pdecode("set.request", pe)
		T.ok("pencode/pdecode", t.what == "hello" and t.value == "world" and n == 24)
	end
	do
		local dp = sproto.parse [[
.Sub { x 0 : integer }
.D { i 0:integer  b 1:boolean  s 2:string  bin 3:binary  d 4:double  f 5:integer(2)
     sub 6:Sub  ai 7:*integer  as 8:*Sub  ab 9:*boolean  af 10:*integer(1) }
p 1 { request D }
]]
		T.deq("default of a type", dp:default "D", { i = 0, b = false, s = "", bin = "", d = 0.0, f = 0.0, sub = { __type = "Sub" },
			ai = { __array = 0 }, as = { __array = "Sub" }, ab = { __array = false }, af = { __array = 0.0 } })
		T.ok("default decimal is a float", math.type(dp:default("D").f) == "float")
		T.deq("default REQUEST", dp:default("p", "REQUEST"), dp:default "D")
		T.eq("default RESPONSE when there is none", dp:default("p", "RESPONSE"), nil)
		T.raises("default of another kind", "Invalid type", dp.default, dp, "p", "OTHER")
		T.raises("core.default without a type", "Need a sproto_type object", core.default, nil)
	end
	T.raises("core.querytype without a schema", "Need a sproto object", core.querytype, nil, "x")
	T.raises("core.protocol with a table", "Should be number or string", core.protocol, c2s.__cobj, {})
	T.raises("core.decode of a number", "Need a string or userdata", core.decode, core.querytype(c2s.__cobj, "package"), 1)
	T.eq("core.encode without a type", core.encode(nil, nil), "")
	T.eq("core.decode without a type returns nothing", select("#", core.decode(nil, "")), 0)
	T.raises("core.loadproto of slot 16", "Invalid global slot index 16", core.loadproto, 16)
	T.raises("core.saveproto to slot -1", "Invalid global slot index -1", core.saveproto, c2s.__cobj, -1)

	-- ---- RPC (§5.2) -------------------------------------------------------------------------------
	do
		local server = c2s:host "package"
		local client = s2c:host "package"
		local request = client:attach(c2s)
		local push = server:attach(s2c)
		local m = request("handshake", nil, 1)
		eqhex("rpc: handshake request, session 1", m, H"15 02 04 04")
		local kind, name, args, respond, ud = server:dispatch(m)
		T.ok("rpc: server sees REQUEST handshake", kind == "REQUEST" and name == "handshake" and args == nil and type(respond) == "function" and ud == nil)
		local r = respond { msg = "Welcome to skynet, I will send heartbeat every 5 sec." }
		T.ok("rpc: handshake response is 63 bytes", #r == 63 and r:sub(1, 11) == H"55 02 01 04 01 c4 35 57 65 ff 05" and r:sub(-4) == H"07 65 63 2e", hex(r))
		local k2, session, rargs = client:dispatch(r)
		T.ok("rpc: client sees RESPONSE 1", k2 == "RESPONSE" and session == 1 and rargs.msg:find "^Welcome")

		m = request("set", { what = "hello", value = "world" }, 2)
		eqhex("rpc: set request, session 2", m, H"55 02 08 06 02 10 05 3f 68 65 6c 6c 6f 05 3e 77 6f 72 6c 64")
		eqhex("rpc: set request unpacked", sproto.unpack(m),
			H"02 00 08 00 06 00 02 00 00 00 00 00 05 00 00 00 68 65 6c 6c 6f 05 00 00 00 77 6f 72 6c 64 00 00")
		kind, name, args, respond = server:dispatch(m)
		T.ok("rpc: set arrives", kind == "REQUEST" and name == "set" and args.what == "hello" and args.value == "world")
		r = respond { ignored = true }
		eqhex("rpc: response to a protocol without response type is the header", r, H"15 02 01 06")
		k2, session, rargs = client:dispatch(r)
		T.ok("rpc: client gets nil args for it", k2 == "RESPONSE" and session == 2 and rargs == nil)

		m = request("get", { what = "hello" }, 3)
		eqhex("rpc: get request, session 3", m, H"55 02 06 08 01 c4 05 68 65 07 6c 6c 6f")
		kind, name, args, respond = server:dispatch(m)
		r = respond { result = "world" }
		eqhex("rpc: get response", r, H"55 02 01 08 01 c4 05 77 6f 07 72 6c 64")
		k2, session, rargs = client:dispatch(r)
		T.ok("rpc: get result", session == 3 and rargs.result == "world")
		T.raises("rpc: a duplicate reply", "Unknown session", client.dispatch, client, r)

		request("get", { what = "x" }, 4)
		r = select(4, server:dispatch(request("get", { what = "y" }, 4)))({})
		eqhex("rpc: get response with result nil", r, H"15 02 01 0a")
		T.deq("rpc: ... decodes to {}", select(3, client:dispatch(r)), {})

		m = push("heartbeat")
		eqhex("rpc: heartbeat without session", m, H"05 01 04")
		eqhex("rpc: heartbeat unpacked", sproto.unpack(m), H"01 00 04 00 00 00 00 00")
		kind, name, args, respond = client:dispatch(m)
		T.ok("rpc: no session, no responder", kind == "REQUEST" and name == "heartbeat" and args == nil and respond == nil)

		eqhex("rpc: get without session", request("get", { what = "x" }), H"15 01 06 01 11 01 78")
		T.raises("rpc: request args must be a table", "attempt to index a nil value", request, "get", nil, 5)
		T.raises("rpc: unknown protocol name", "nope not found", request, "nope", {})
		T.raises("rpc: a response without session", "session not found", client.dispatch, client, H"01 00 00 00 00 00 00 00")
		T.raises("rpc: an unknown request tag", "9 not found", server.dispatch, server, sproto.pack(H"01 00 14 00"))
		T.raises("rpc: a truncated message", "decode error", server.dispatch, server, sproto.pack(H"02 00 04 00"))
		T.raises("rpc: an empty message", "decode error", server.dispatch, server, "")
		T.raises("rpc: a bad packed stream", "Invalid unpack stream", server.dispatch, server, H"ff 01 02")
		T.raises("rpc: host of a missing package type", "type nopkg not found", c2s.host, c2s, "nopkg")
		T.raises("rpc: responder needs a table when there is a response type", "attempt to index a nil value",
			select(4, server:dispatch(request("get", { what = "z" }, 6))), nil)
	end
	do
		local u = sproto.parse [[
.package { type 0 : integer  session 1 : integer  ud 2 : string }
.A { a 0 : integer }
foo 1 { request A response A }
bar 2 { request A response nil }
]]
		local h = u:host()
		local req = h:attach(u)
		local m = req("foo", { a = 1 }, 7, "hi")
		eqhex("rpc: header with ud", m, H"15 03 04 10 71 02 68 69 01 01 04")
		local kind, name, args, respond, ud = h:dispatch(m)
		T.ok("rpc: ud reaches the server", kind == "REQUEST" and name == "foo" and args.a == 1 and ud == "hi")
		local k2, s2, a2, ud2 = h:dispatch(respond({ a = 2 }, "back"))
		T.ok("rpc: ud comes back with the response", k2 == "RESPONSE" and s2 == 7 and a2.a == 2 and ud2 == "back")
		m = req("bar", { a = 3 }, 8)
		kind, name, args, respond = h:dispatch(m)
		local r = respond()
		k2, s2, a2 = h:dispatch(r)
		T.ok("rpc: response nil answers with no args", k2 == "RESPONSE" and s2 == 8 and a2 == nil)
		T.raises("rpc: response nil refuses args", "nil expected", select(4, h:dispatch(req("bar", { a = 1 }, 9))), {})
		local plain = c2s:host "package"
		local r2 = plain:attach(u)
		T.eq("rpc: ud is dropped when the package has no ud field", hex(r2("foo", { a = 1 }, 7, "hi")), hex(H"55 02 04 10 01 01 04"))
		-- many sessions in flight, answered out of order
		local server, client = u:host(), u:host()
		local call = client:attach(u)
		local pending = {}
		for s = 1, 50 do
			local _, _, a, resp = server:dispatch(call("foo", { a = s * 1000 }, s))
			pending[s] = resp { a = a.a + 1 }
		end
		local okall = true
		for s = 50, 1, -1 do
			local k, sess, a = client:dispatch(pending[s])
			if k ~= "RESPONSE" or sess ~= s or a.a ~= s * 1000 + 1 then okall = false end
		end
		T.ok("rpc: 50 sessions answered in reverse order", okall)
		T.ok("rpc: sessions are per host", not pcall(server.dispatch, server, pending[1]))
	end
end

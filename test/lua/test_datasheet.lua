-- test_datasheet.lua -- skynet.datasheet and skynet.datasheet.builder: the
-- document bytes (spec api-shared-data.md §5.4 vectors), reading, many
-- readers in many services, held tables across several updates, no
-- half-switched reads, errors, hostile documents, lifetime of versions,
-- and upstream's test/testdatasheet.lua (§8.4).
local skynet = require "skynet"
local builder = require "skynet.datasheet.builder"
local datasheet = require "skynet.datasheet"
local core = require "skynet.datasheet.core"
local T = require "testlib"

local function hex(s)
	return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function unhex(h)
	h = h:gsub("%s", "")
	return (h:gsub("..", function(x) return string.char(tonumber(x, 16)) end))
end

local function readers(n)
	local r = {}
	for i = 1, n do
		r[i] = skynet.newservice "svc_datasheet_reader"
	end
	return r
end

local function eval(addr, code)
	return skynet.call(addr, "lua", "eval", code)
end

-- spec §5.4 test vectors
local VECTORS = {
	{ "{}", {}, "14000000 01000000 00000000 00000000 00000000 00" },
	{ "{a=1}", { a = 1 }, "20000000 01000000 00000000 00000000 01000000 01000000 00000000 01000000 6100" },
	{ "{1,-1,2.5,true,false,\"s\"}", { 1, -1, 2.5, true, false, "s" },
		"34000000 01000000 00000000 06000000 00000000 010102030305 0000 01000000 ffffffff 00002040 00000001 00000000 00000000 7300" },
	{ "{{1}}", { { 1 } }, "30000000 02000000 00000000 10000000 01000000 00000000 04000000 01000000 01000000 00000000 01000000 01000000 00" },
	{ "{a={\"x\"}}", { a = { "x" } },
		"34000000 02000000 00000000 14000000 00000000 01000000 04000000 00000000 01000000 01000000 00000000 05000000 02000000 61007800" },
	{ "{\"s\",\"s\"}", { "s", "s" }, "20000000 01000000 00000000 02000000 00000000 05050000 00000000 00000000 7300" },
	{ "{2^31}", { 2 ^ 31 }, "1c000000 01000000 00000000 01000000 00000000 02000000 0000004f 00" },
}

-- {a={1},b={2}} dumped as a, b (hand-made: pairs order is not fixed)
local DIFF_OLD = "50000000 03000000 00000000 1c000000 2c000000" ..
	" 00000000 02000000 04040000 00000000 01000000 02000000 02000000" ..
	" 01000000 00000000 01000000 01000000  01000000 00000000 01000000 02000000 61006200"
local DIFF_NEW = "38000000 03000000 00000000 ffffffff 14000000 00000000 01000000 04000000 00000000 02000000" ..
	" 01000000 00000000 01000000 03000000 6200"

local function test_vectors()
	for _, v in ipairs(VECTORS) do
		T.eq("compile " .. v[1], hex(builder.compile(v[2])), hex(unhex(v[3])))
	end
	local old = core.new(unhex(DIFF_OLD))
	T.eq("renumber: diff vector", hex(core.renumber(builder.compile { b = { 3 } }, old)), hex(unhex(DIFF_NEW)))
	core.release(old)
	-- a bigger document: tables numbered in pre-order, strings deduplicated
	local doc = builder.compile { { "k", { "k" } }, { 7 } }
	local n = string.unpack("<I4", doc, 5)
	T.eq("pre-order numbering: 4 tables", n, 4)
	local strings = doc:sub(string.unpack("<I4", doc) + 1)
	T.eq("strings stored once", strings, "k\0")
end

local function test_read()
	builder.new("basic", { 1, 2, "three", { 4 }, name = "cfg", pi = 0.1, big = 2 ^ 31, wide = 1 << 40,
		neg = -5, yes = true, no = false, nested = { a = { b = "deep" } }, empty = {}, lazy = { k = "v" } })
	local t = datasheet.query "basic"
	T.eq("type is table", type(t), "table")
	T.ok("proxy before first use", getmetatable(t) ~= nil)
	T.eq("string value", t.name, "cfg")
	T.eq("plain table after first use", getmetatable(t), nil)
	T.eq("rawget after first use", rawget(t, "name"), "cfg")
	T.eq("#t", #t, 4)
	T.eq("array string", t[3], "three")
	T.eq("integer", t.neg, -5)
	T.eq("int32 stays an integer", math.type(t[1]), "integer")
	T.eq("float32: 0.1 reads back as binary32", t.pi, 0.10000000149011612)
	T.eq("2^31 is a float", math.type(t.big), "float")
	T.eq("2^31 value", t.big, 2147483648.0)
	T.eq("1<<40 is exact as float32", t.wide, 1099511627776.0)
	T.ok("booleans", t.yes == true and t.no == false)
	T.eq("nested", t.nested.a.b, "deep")
	T.ok("sub-table identity", t.nested == t.nested and t[4] == t[4])
	local ne = 0
	for _ in pairs(t.empty) do ne = ne + 1 end
	T.eq("empty table", ne, 0)
	T.eq("missing key", t.nope, nil)
	T.ok("query returns the same table", datasheet.query "basic" == t)
	local n = 0
	for _ in pairs(t) do n = n + 1 end
	T.eq("pairs sees every key", n, 14)
	local sub = datasheet.query("basic").lazy
	local k, v = next(sub) -- not loaded yet: a proxy, so next sees nothing until pairs
	T.eq("next on an unloaded proxy sees nothing", k, nil)
	for kk, vv in pairs(sub) do k, v = kk, vv end
	T.ok("pairs loads a proxy", k == "k" and v == "v")
	local seen = {}
	for i, x in ipairs(t[4]) do seen[i] = x end
	T.deq("ipairs on a proxy", seen, { 4 })
	t.name = "local"
	T.eq("a local write is seen locally", t.name, "local")
	-- concurrent first queries of one name: one object for all
	builder.new("conc", { v = 1 })
	local got, done = {}, 0
	for i = 1, 5 do
		skynet.fork(function()
			got[i] = datasheet.query "conc"
			done = done + 1
		end)
	end
	T.waitfor(function() return done == 5 end)
	T.ok("concurrent first queries share one object", got[1] and got[1] == got[2] and got[1] == got[5] and got[3].v == 1)
end

local function test_errors()
	local function compile_err(name, value, pattern)
		T.raises("compile rejects " .. name, pattern, builder.compile, value)
	end
	compile_err("a function", { f = print }, { "Unsupport value function", "[.f]" })
	compile_err("userdata", { io.stdout }, { "Unsupport value file", "[.1]" })
	compile_err("a thread", { a = { coroutine.create(print) } }, { "Unsupport value thread", "[.a.1]" })
	compile_err("a deep function", { a = { b = { f = print } } }, "at [.a.b.f]")
	compile_err("a boolean key", { [true] = 1 }, "key true (boolean) cannot be stored")
	compile_err("a hole", { 1, nil, 3 }, "key 3 (number) cannot be stored")
	compile_err("key 0", { [0] = 1 }, "key 0 (number)")
	compile_err("a float key", { [1.5] = 1 }, "key 1.5 (number)")
	compile_err("a table key", { [{}] = 1 }, "(table) cannot be stored")
	local cyc = { a = {} }
	cyc.a.up = cyc
	compile_err("a cycle", cyc, { "contains itself", "[.a.up]" })
	compile_err("a NUL in a value", { s = "a\0b" }, { "embedded NUL", "[.s]" })
	compile_err("a NUL in a key", { ["a\0b"] = 1 }, "embedded NUL")
	compile_err("an integer float32 cannot hold", { id = (1 << 40) + 1 }, { "integer 1099511627777 does not fit", "[.id]" })
	compile_err("a number beyond float32", { x = 1e300 }, "beyond float32")
	T.raises("compile needs a table", "must be a table", builder.compile, 1)
	T.ok("a table referenced twice is stored twice", pcall(builder.compile, (function() local s = { 1 } return { s, s } end)()))

	T.raises("new: name must be a string", "name must be a string", builder.new, 1, {})
	T.raises("new: value must be a table or bytes", "must be a table or a document", builder.new, "x", 1)
	T.raises("new: bad data fails in the caller", "Unsupport value function", builder.new, "x", { print })
	builder.new("dup", { 1 })
	T.raises("new twice", "dup exists already", builder.new, "dup", { 2 })
	T.raises("update of a name never created", "no such name never", builder.update, "never", {})
	T.raises("query of a name never created", { "datasheet.query", "no such name nothere" }, datasheet.query, "nothere")
	T.raises("a failed query is not remembered as such, asks again", "no such name nothere", datasheet.query, "nothere")
	builder.new("nothere", { ok = true })
	T.ok("a name created after a failed query can be queried", datasheet.query("nothere").ok == true)

	-- hostile documents: refused with a reason, never read
	local good = builder.compile { a = { "x" } }
	local function patch(s, pos, bytes) return s:sub(1, pos - 1) .. bytes .. s:sub(pos + #bytes) end
	local bad = {
		{ "empty", "", "shorter than its 8-byte header" },
		{ "short", "\1\0\0\0", "shorter than its 8-byte header" },
		{ "no final NUL", good:sub(1, -2), "string area" },
		{ "string area offset beyond the end", patch(good, 1, string.pack("<I4", 1000)), "string area offset beyond" },
		{ "n too big", patch(good, 5, string.pack("<I4", 0x40000000)), "table index larger" },
		{ "no tables", patch(good, 5, string.pack("<I4", 0)), "no root table" },
		{ "root absent", patch(good, 9, "\255\255\255\255"), "no root table" },
		{ "table beyond the area", patch(good, 13, string.pack("<I4", 200)), "a table starts beyond" },
		{ "huge counts", patch(good, 17, string.pack("<I4I4", 0xffffffff, 0xffffffff)), "a table ends beyond" },
		{ "unknown type", patch(good, 25, "\9"), "unknown value type" },
		{ "table value out of range", patch(good, 33, string.pack("<I4", 7)), "refers to a table that does not exist" },
		{ "key offset out of range", patch(good, 29, string.pack("<I4", 99)), "key offset is beyond" },
		{ "string offset out of range", patch(good, 49, string.pack("<I4", 99)), "string offset is beyond" },
	}
	for _, b in ipairs(bad) do
		T.raises("hostile document refused: " .. b[1], { "not a document (", b[3] }, builder.new, "hostile", b[2])
	end
	local gdoc = core.new(good)
	T.raises("renumber refuses a hostile document", "not a document", core.renumber, "xx", gdoc)
	core.release(gdoc)
	T.raises("nothing was published for a refused document", "no such name hostile", datasheet.query, "hostile")
	builder.new("src", { x = { y = { 1, 2 } }, z = "s" })
	builder.new("copy", { a = datasheet.query "src" }) -- a proxy nobody has read yet
	local cp = datasheet.query "copy"
	T.ok("a reader's unread tables can be published again", cp.a.x.y[2] == 2 and cp.a.z == "s")
	builder.new("fromdoc", good)
	T.eq("new from compiled bytes", datasheet.query("fromdoc").a[1], "x")
	-- a document whose table refers to itself (never made by compile) reads lazily
	local loop = patch(builder.compile { a = { 1 } }, 33, string.pack("<I4", 0))
	builder.new("loop", loop)
	local lt = datasheet.query "loop"
	T.ok("a self-referring foreign document reads without looping", lt.a == lt and lt.a.a == lt)
	builder.update("loop", { a = { b = {} } })
	T.ok("and renumbers against a new version", T.waitfor(function() return type(lt.a) == "table" and lt.a.b ~= nil end))
	-- table 1's body starts inside table 0's (found by fuzz/fuzz_datasheet.c):
	-- renumbering table 0's value 1 -> 2 must not change table 1's header
	local overlap = unhex("48000000 02000000 00000000 08000000" ..
		" 01000000 00000000 04000000 01000000 01000000 00000000 07000000 00000000" ..
		" 00000000 00000000 00000000 00000000 00000000 00000000 00")
	builder.new("overlap", builder.compile { 5, {} })
	local ov = datasheet.query "overlap"
	local okov, everr = pcall(builder.update, "overlap", overlap)
	T.ok("overlapping foreign bodies renumber into a valid document", okov, everr)
	T.ok("and read as written", T.waitfor(function() return type(ov[1]) == "table" and ov[1][1] == 7 end))
end

-- the diff vector end to end: a held table keeps its number, a vanished one raises
local function test_diff_readers()
	builder.new("diff", unhex(DIFF_OLD))
	local t = datasheet.query "diff"
	local a, b = t.a, t.b
	T.ok("before update", a[1] == 1 and b[1] == 2)
	builder.update("diff", { b = { 3 } })
	T.ok("held b follows the update", T.waitfor(function() return b[1] == 3 end))
	T.ok("b keeps its identity", t.b == b)
	T.raises("vanished a raises", "Invalid proxy (index = 1)", function() return a[1] end)
	T.raises("and for #", "Invalid proxy (index = 1)", function() return #a end)
	T.raises("and for pairs", "Invalid proxy (index = 1)", function() for _ in pairs(a) do end end)
	T.eq("a is gone from the root", t.a, nil)
end

local V = {
	{ name = "v1", list = { 1, 2, 3 }, sub = { deep = { x = 1 } }, gone = { 1 } },
	{ name = "v2", list = { 4, 5 }, sub = { deep = { x = 2 } }, gone = 5 },
	{ name = "v3", list = { 6 }, sub = { deep = { x = 3 } }, gone = { 7 } },
	{ name = "v4", list = { 8 }, sub = "flat" },
	{ name = "v5", list = { 9 }, sub = { deep = { x = 5 } } },
}

local function test_many_readers()
	builder.new("cfg", V[1])
	local rs = readers(12)
	local good = 0
	for _, r in ipairs(rs) do
		local ok, name, first = eval(r, [[
			H.t = datasheet.query 'cfg'
			H.list, H.sub, H.deep, H.gone = H.t.list, H.t.sub, H.t.sub.deep, H.t.gone
			return H.t.name, H.list[1] ]])
		if ok and name == "v1" and first == 1 then good = good + 1 end
	end
	T.eq("12 reader services read v1", good, 12)
	local t = datasheet.query "cfg"
	local list, deep, gone = t.list, t.sub.deep, t.gone
	local function all_see(check)
		return T.waitfor(function()
			for _, r in ipairs(rs) do
				local ok, yes = eval(r, check)
				if not (ok and yes) then return false end
			end
			return true
		end)
	end
	t.name = "written locally"
	builder.update("cfg", V[2])
	T.ok("every reader sees v2 through its held tables", all_see [[
		return H.t.name == 'v2' and #H.list == 2 and H.list[2] == 5 and H.t.list == H.list and H.deep.x == 2 and H.t.sub.deep == H.deep ]])
	T.ok("here too", T.waitfor(function() return t.name == "v2" end) and list[1] == 4 and #list == 2 and deep.x == 2)
	T.raises("a table that became a number raises", "Invalid proxy", function() return gone[1] end)
	T.ok("in the readers as well", all_see [[ return not pcall(function() return H.gone[1] end) and H.t.gone == 5 ]])
	builder.update("cfg", V[3])
	T.ok("every reader follows v3", all_see [[ return H.t.name == 'v3' and H.list[1] == 6 and #H.list == 1 and H.deep.x == 3 ]])
	T.ok("the old vanished table stays invalid when its path is a table again",
		all_see [[ return not pcall(function() return H.gone[1] end) and H.t.gone[1] == 7 and H.t.gone ~= H.gone ]])
	builder.update("cfg", V[4])
	T.ok("v4: held deep table raises once its parent is a string",
		all_see [[ return H.t.sub == 'flat' and H.list[1] == 8 and not pcall(function() return H.deep.x end) ]])
	builder.update("cfg", V[5])
	T.ok("v5: a fresh path gets fresh tables, the old one stays invalid",
		all_see [[ return H.t.sub.deep.x == 5 and H.list[1] == 9 and not pcall(function() return H.deep.x end) and H.t.sub.deep ~= H.deep ]])
	T.ok("the held list followed all five versions here", T.waitfor(function() return list[1] == 9 end) and list == t.list)

	-- no reader ever sees a half-switched version: each version is
	-- consistent in itself (x == y == every list item == sub.v)
	builder.new("cons", { x = 0, y = 0, list = { 0, 0, 0 }, sub = { v = 0 } })
	local results, finished = {}, 0
	for i = 1, 4 do
		skynet.fork(function()
			local ok, bad, last = eval(rs[i], [[
				local t = datasheet.query 'cons'
				local list, sub = t.list, t.sub
				local bad, last = 0, -1
				for i = 1, 400 do
					local x = t.x
					if t.y ~= x or list[1] ~= x or list[3] ~= x or #list ~= 3 or sub.v ~= x or x < last then bad = bad + 1 end
					last = x
					if x == 40 then break end
					skynet.yield()
				end
				return bad, last ]])
			results[i] = { ok, bad, last }
			finished = finished + 1
		end)
	end
	for v = 1, 40 do
		builder.update("cons", { x = v, y = v, list = { v, v, v }, sub = { v = v } })
		skynet.yield()
	end
	T.waitfor(function() return finished == 4 end, 1000)
	local consistent = 0
	for i = 1, 4 do
		local r = results[i]
		if r and r[1] and r[2] == 0 then consistent = consistent + 1 end
	end
	T.eq("4 readers, 40 updates: every read consistent", consistent, 4)

	-- versions are freed once nobody holds them
	local live0 = core.live()
	for v = 1, 10 do
		builder.update("cfg", { name = "again" .. v, list = { v } })
	end
	T.ok("readers reached the last version", all_see [[ return H.t.name == 'again10' and H.list[1] == 10 ]])
	local function settled()
		for _, r in ipairs(rs) do eval(r, "collectgarbage() collectgarbage()") end
		T.waitfor(function() return t.name == "again10" end)
		collectgarbage()
		collectgarbage()
		return core.live() <= live0
	end
	T.ok("replaced versions are freed (live " .. live0 .. ")", T.waitfor(settled, 300), "live " .. core.live())

	-- a builder that exits leaves its data readable (it is not in its memory)
	local ok, err = eval(rs[1], "builder.new('orphan', { v = 1, t = { 2 } })")
	T.ok("a reader service can be a builder", ok, err)
	skynet.call(rs[1], "lua", "exit")
	local o = datasheet.query "orphan"
	T.ok("data of an exited builder is readable", o.v == 1 and o.t[1] == 2)
	local okb, berr = eval(rs[2], "builder.new('orphan', {})")
	T.ok("another builder cannot take a name", not okb and tostring(berr):find("orphan exists already", 1, true), berr)
	local oku, uerr = eval(rs[2], "builder.update('cfg', {})")
	T.ok("nor update another builder's name", not oku and tostring(uerr):find("no such name cfg", 1, true), uerr)
	for i = 2, #rs do skynet.call(rs[i], "lua", "exit") end
end

-- upstream's test/testdatasheet.lua, its lines collected instead of printed
local function test_upstream()
	local lines = {}
	local function dump(t, prefix)
		for k, v in pairs(t) do
			lines[#lines + 1] = table.concat({ prefix, tostring(k), tostring(v) }, "\t")
			if type(v) == "table" then
				dump(v, prefix .. "." .. k)
			end
		end
	end
	-- lines of one dump, checked as a set with "P" standing for the pointer;
	-- a ".c" line must follow the "c" line
	local function check(name, got, want, pointer)
		local rest = {}
		for _, w in ipairs(want) do rest[w:gsub("P", pointer or "P")] = true end
		local cline
		for i, l in ipairs(got) do
			if not rest[l] then
				return T.fail(name, "unexpected line " .. l)
			end
			rest[l] = nil
			if l:find("\tc\ttable: ", 1, true) then cline = i end
			if l:find("%.c\t") and not (cline and cline < i) then
				return T.fail(name, "the .c line comes before the c line")
			end
		end
		if next(rest) then
			return T.fail(name, "missing line " .. next(rest))
		end
		T.pass(name)
	end
	local childlines
	skynet.dispatch("lua", function(_, _, cmd, l)
		if cmd == "child" then childlines = l end
	end)
	builder.new("foobar", { a = 1, b = 2, c = { 3 } })
	local child = skynet.newservice("svc_datasheet_child", skynet.self())
	T.ok("the child's lines come before newservice returns", childlines ~= nil)
	local cpointer = childlines and (table.concat(childlines, "\n"):match("\tc\t(table: 0x%x+)")) or "?"
	check("[CHILD] lines", childlines or {}, { "[CHILD]\ta\t1", "[CHILD]\tb\t2", "[CHILD]\tc\tP", "[CHILD].c\t1\t3" }, cpointer)
	T.raises("the child exited when newservice returned", "", skynet.call, child, "lua", "x")
	local t = datasheet.query "foobar"
	local c = t.c
	dump(t, "[1]")
	local pointer = tostring(c)
	check("[1] lines", lines, { "[1]\ta\t1", "[1]\tb\t2", "[1]\tc\tP", "[1].c\t1\t3" }, pointer)
	builder.update("foobar", { b = 4, c = { 5 } })
	skynet.sleep(100)
	lines = {}
	dump(t, "[2]")
	check("[2] lines: no a, the same c pointer", lines, { "[2]\tb\t4", "[2]\tc\tP", "[2].c\t1\t5" }, pointer)
	lines = {}
	dump(c, "[2.c]")
	T.deq("[2.c] line", lines, { "[2.c]\t1\t5" })
	builder.update("foobar", { a = 6, c = 7, d = 8 })
	skynet.sleep(100)
	lines = {}
	dump(t, "[3]")
	check("[3] lines", lines, { "[3]\ta\t6", "[3]\tc\t7", "[3]\td\t8" })
end

T.run("test_datasheet", function()
	test_vectors()
	test_read()
	test_errors()
	test_diff_readers()
	test_many_readers()
	test_upstream()
	-- every name keeps exactly its current version once readers let go
	local names = { "basic", "conc", "src", "copy", "dup", "nothere", "fromdoc", "loop", "overlap", "diff", "cfg", "cons", "orphan", "foobar" }
	T.ok("only the current versions are left", T.waitfor(function()
		collectgarbage()
		return core.live() == #names
	end), "live " .. core.live() .. ", names " .. #names)
end, 5000)

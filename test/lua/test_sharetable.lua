-- test_sharetable.lua -- skynet.sharetable: loading, reading through the
-- shared C copy, errors, many readers in many services, reloads and update.
local skynet = require "skynet"
local sharetable = require "skynet.sharetable"
local T = require "testlib"

local SRC = [[
local t = { 1, 2, 3, name = "cfg", nested = { a = { b = "deep" } }, list = { 10, 20, 30 }, f = function(x) return x * 2 end }
t.self = t
t.alias = t.list
t.big = 1 << 40
t.pi = 3.5
t[1.5] = "float key"
t[true] = "bool key"
t[t.nested] = "table key"
local many = {}
for i = 1, 3000 do many[i] = { id = i, sub = { i } } end
t.many = many
return t
]]

local function sum(list)
	local s = 0
	for _, v in ipairs(list) do s = s + v end
	return s
end

local function readers(n, impl)
	local r = {}
	for i = 1, n do
		r[i] = skynet.newservice("svc_share_reader", impl or "sharetable")
	end
	return r
end

local function eval(addr, code)
	return skynet.call(addr, "lua", "eval", code)
end

T.run("test_sharetable", function()
	sharetable.loadstring("cfg", SRC)
	local t = sharetable.query "cfg"
	T.eq("type is table", type(t), "table")
	T.eq("integer value", t[2], 2)
	T.eq("string value", t.name, "cfg")
	T.eq("nested", t.nested.a.b, "deep")
	T.eq("#t", #t, 3)
	T.eq("64-bit integer", t.big, 1 << 40)
	T.eq("float", t.pi, 3.5)
	T.eq("float key", t[1.5], "float key")
	T.eq("boolean key", t[true], "bool key")
	T.eq("missing key", t.nope, nil)
	T.eq("nil key", t[nil], nil)
	T.eq("function", t.f(21), 42)
	T.ok("function identity", t.f == t.f)
	T.ok("query returns the same table", sharetable.query "cfg" == t)
	T.ok("sub-table identity", t.nested == t.nested and t.nested.a == t.nested.a)
	T.ok("cycle kept", t.self == t and t.self.self.list == t.list)
	T.ok("shared sub-table kept", t.alias == t.list)
	local keys, n = {}, 0
	for k, v in pairs(t) do keys[k] = v; n = n + 1 end
	T.eq("pairs visits every key", n, 15)
	T.eq("a shared table as a key", t[t.nested], "table key")
	T.eq("a table of this service is no key", t[{}], nil)
	-- proxies come and go with the collector (their memory is reused by
	-- new ones): every access must still find its own table
	local held, bad = {}, 0
	for round = 1, 3 do
		for i = 1, #t.many do
			local e = t.many[i]
			if e.id ~= i or e.sub[1] ~= i then bad = bad + 1 end
			if i % 97 == round then held[#held + 1] = e end
		end
		collectgarbage()
	end
	for i = 1, 300 do -- a dead proxy's memory is most likely reused by the next one
		local _ = t.many[i].id
		collectgarbage()
		if t.many[i + 1].id ~= i + 1 then bad = bad + 1 end
	end
	for _, e in ipairs(held) do
		if t.many[e.id] ~= e or e.sub ~= t.many[e.id].sub then bad = bad + 1 end
	end
	T.eq("proxies stay right across collections", bad, 0)
	T.ok("pairs values", keys[1] == 1 and keys.name == "cfg" and keys.list == t.list and keys[true] == "bool key")
	local seen = {}
	for i, v in ipairs(t.list) do seen[i] = v end
	T.deq("ipairs", seen, { 10, 20, 30 })
	T.raises("write raises", "read-only", function() t.name = "x" end)
	T.raises("write to a sub-table raises", "read-only", function() t.list[1] = 0 end)
	T.raises("setmetatable raises", "protected metatable", function() setmetatable(t, {}) end)
	T.eq("unknown name is nil", sharetable.query "nope", nil)

	-- bad values and sources fail the caller with the reason
	local bad = {
		{ "syntax error", "return {", "unexpected symbol" },
		{ "root not a table", "return 1", "Not a table, it's a number." },
		{ "metatable", "return setmetatable({}, {})", "Can't share metatable" },
		{ "function with upvalue", "return { f = function() return print end }", "Invalid function with upvalue" },
		{ "userdata", "return { io.stdout }", "Invalid type [userdata]" },
		{ "thread", "return { coroutine.create(print) }", "Invalid type [thread]" },
		{ "runtime error", "error 'boom'", "boom" },
	}
	for _, b in ipairs(bad) do
		T.raises("loadstring rejects " .. b[1], b[3], sharetable.loadstring, "bad", b[2])
	end
	T.raises("string argument rejected", "bad argument #1 to 'matrix' (Type invalid)", sharetable.loadstring, "bad", "return {...}", "s")
	T.raises("loadtable with a function", "function", sharetable.loadtable, "bad", { f = print })
	T.raises("loadtable needs a table", "must be a table", sharetable.loadtable, "bad", 1)
	T.eq("failed loads leave nothing", sharetable.query "bad", nil)

	-- arguments, loadfile, loadtable, queryall
	sharetable.loadstring("args", "local a, b, c = ... return { a, b, c }", 1, true, 2.5)
	T.deq("chunk arguments", { table.unpack(sharetable.query "args", 1, 3) }, { 1, true, 2.5 })
	local path = os.tmpname()
	local fh = io.open(path, "w")
	fh:write("return { from = 'file', ... }")
	fh:close()
	sharetable.loadfile(path, 7)
	local ft = sharetable.query(path)
	T.ok("loadfile", ft and ft.from == "file" and ft[1] == 7)
	os.remove(path)
	T.raises("loadfile of a missing file", "cannot open", sharetable.loadfile, "/nonexistent/x.lua")
	sharetable.loadtable("tbl", { 1, 2, { x = "y" }, k = "v" })
	local tt = sharetable.query "tbl"
	T.ok("loadtable", tt[3].x == "y" and tt.k == "v" and #tt == 3)
	local all = sharetable.queryall { "cfg", "tbl", "missing" }
	T.ok("queryall list skips missing names", all.cfg == t and all.tbl == tt and all.missing == nil)
	local every = sharetable.queryall()
	T.ok("queryall of every name", every.cfg and every.args and every.tbl and every[path])

	-- many readers in many services see the same data
	local rs = readers(20)
	local ok = 0
	for _, r in ipairs(rs) do
		local good, s, name = eval(r, "H.t = lib.query 'cfg' H.list = H.t.list H.gone = H.t.nested return H.t.list[3] + H.t.f(1), H.t.name")
		if good and s == 32 and name == "cfg" then ok = ok + 1 end
	end
	T.eq("20 reader services read the data", ok, 20)
	local okw, werr = eval(rs[1], "H.t.name = 'changed'")
	T.ok("a reader cannot write", not okw and tostring(werr):find("read-only", 1, true))
	T.eq("nothing changed for others", t.name, "cfg")

	-- reloads do not disturb earlier readers until they call update
	sharetable.loadstring("cfg", "return { name = 'v2', list = { 1, 2, 3, 4 } }")
	sharetable.loadstring("cfg", "return { name = 'v3', list = { 5, 6 } }")
	local _, oldname, oldsum = eval(rs[1], "return H.t.name, H.list[3]")
	T.ok("held version survives reloads", oldname == "cfg" and oldsum == 30)
	T.eq("this service's held table is unchanged", t.name, "cfg")
	local t3 = sharetable.query "cfg"
	T.ok("query gives the new version", t3.name == "v3" and t ~= t3)
	local _, same, newname, newsum, listsame = eval(rs[1], [[
		local old = H.t
		lib.update 'cfg'
		return lib.query 'cfg' == old, H.t.name, H.list[1] + H.list[2], H.list == H.t.list]])
	T.ok("update re-points the held root", same and newname == "v3")
	T.ok("update re-points a held sub-table", newsum == 11 and listsame)
	local gok, gerr = eval(rs[1], "return H.gone.a")
	T.ok("a sub-table gone after update raises", not gok and tostring(gerr):find("sharetable.update", 1, true), gerr)
	sharetable.update "cfg"
	T.ok("update in this service", t.name == "v3" and sharetable.query "cfg" == t)
	local cnt = 0
	for _, r in ipairs(rs) do
		local good, n2 = eval(r, "return H.t.name")
		if good and n2 == "cfg" then cnt = cnt + 1 end
	end
	T.eq("other readers keep the old version", cnt, 19)
	for _, r in ipairs(rs) do skynet.call(r, "lua", "exit") end

	-- update moves held tables into a version whose own proxies came and
	-- went at the same addresses: each must still read its own table
	local MANY = "local t = {} for i = 1, 500 do t[i] = { id = i } end return t"
	sharetable.loadstring("memo", MANY)
	local old = sharetable.query "memo"
	sharetable.loadstring("memo", MANY)
	local new = sharetable.query "memo"
	local kept = {}
	for i = 1, 300 do
		local _ = new[i].id
		collectgarbage()
		kept[i] = old[i + 1]
		local _ = kept[i].id
	end
	sharetable.update "memo"
	local wrong = 0
	for i = 300, 1, -1 do -- the latest first: their addresses are the ones remembered
		if kept[i].id ~= i + 1 or kept[i] ~= new[i + 1] then wrong = wrong + 1 end
	end
	T.eq("tables moved by update read their own data", wrong, 0)
end)

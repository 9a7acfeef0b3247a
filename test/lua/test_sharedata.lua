-- test_sharedata.lua -- skynet.sharedata with sharedatad: building from
-- tables and sources, reading through proxies, errors, update propagation
-- to many reader services, stale sub-objects, delete, deepcopy, flush.
local skynet = require "skynet"
local sharedata = require "skynet.sharedata"
local T = require "testlib"

local function eval(addr, code)
	return skynet.call(addr, "lua", "eval", code)
end

T.run("test_sharedata", function()
	sharedata.new("foo", { a = 1, b = { "hello", "world" }, n = { 1, { 2 }, 3 }, [1 << 40] = "wide", [0] = "zero", s = "x\0y" })
	local obj = sharedata.query "foo"
	T.eq("type", type(obj), "table")
	T.ok("has a metatable", getmetatable(obj) ~= nil)
	T.eq("scalar", obj.a, 1)
	T.eq("nested", obj.b[2], "world")
	T.eq("#", #obj.b, 2)
	T.eq("# of a hash-only table", #obj, 0)
	T.eq("string with NUL", obj.s, "x\0y")
	T.ok("64-bit keys do not alias", obj[1 << 40] == "wide" and obj[0] == "zero")
	T.ok("child proxy cached", obj.n == obj.n and obj.n[2] == obj.n[2])
	T.ok("query cached", sharedata.query "foo" == obj)
	T.eq("nil key", obj[nil], nil)
	T.eq("missing key", obj.zzz, nil)
	T.raises("float key", "Invalid key 1.5", function() return obj[1.5] end)
	T.raises("boolean key", "string expected, got boolean", function() return obj[true] end)
	T.raises("newindex at the root", "Error newindex, the key []", function() obj.x = 1 end)
	T.raises("newindex below", "Error newindex, the key [.n.2]", function() obj.n[2].x = 1 end)
	local order = {}
	sharedata.new("ab", { a = 1, b = 2 })
	for k in pairs(sharedata.query "ab") do order[#order + 1] = k end
	T.eq("pairs order as upstream (a before b)", table.concat(order, ","), "a,b")
	local arr = {}
	for i, v in ipairs(obj.b) do arr[i] = v end
	T.deq("ipairs", arr, { "hello", "world" })
	local packed = skynet.unpack(skynet.packstring(obj))
	T.ok("skynet.pack of a proxy (nested too)", packed.b[1] == "hello" and packed.n[2][1] == 2)

	-- sources
	sharedata.new("src", "x = 1 y = {2,3}")
	local src = sharedata.query "src"
	T.ok("assigned globals are the data", src.x == 1 and src.y[2] == 3 and src.print == nil and src.string == nil)
	sharedata.new("ret", "local a = ... g = 1 return { a = a }", "arg")
	T.ok("a returned table wins, arguments passed", sharedata.query "ret".a == "arg" and sharedata.query "ret".g == nil)
	local path = os.tmpname()
	local fh = io.open(path, "w")
	fh:write("return { file = true }")
	fh:close()
	sharedata.new("file", "@" .. path)
	T.eq("@file source", sharedata.query "file".file, true)
	os.remove(path)
	sharedata.new("empty")
	T.eq("nil value is an empty table", next(sharedata.deepcopy "empty"), nil)

	-- errors
	T.raises("syntax error", "bad5:1:", sharedata.new, "bad5", "x = ")
	T.raises("runtime error", "bad6:1: boom", sharedata.new, "bad6", "error 'boom'")
	T.raises("unknown data type", "Unknown data type boolean", sharedata.new, "bad7", true)
	T.raises("function value from a source", "Unsupport value type function", sharedata.new, "bad8", "return { f = print }")
	T.raises("function value in a table", "function", sharedata.new, "bad9", { f = print })
	T.raises("userdata value", "Unsupport value type userdata", sharedata.new, "bad10", "return { io.stdout }")
	T.raises("thread value", "Unsupport value type thread", sharedata.new, "bad11", "return { coroutine.create(print) }")
	T.raises("float key in data", "Invalid key 1.5", sharedata.new, "bad12", "return { [1.5] = 1 }")
	T.raises("boolean key in data", "Invalid key type boolean", sharedata.new, "bad13", "return { [true] = 1 }")
	T.raises("new of an existing name", "exists already", sharedata.new, "foo", {})
	T.raises("query of an unknown name", "no such name", sharedata.query, "nope")
	T.raises("delete of an unknown name", "no such name", sharedata.delete, "nope")

	-- deepcopy
	sharedata.new("holes", { 1, nil, 3, t = { k = "v" } })
	local dc = sharedata.deepcopy "holes"
	T.ok("deepcopy is plain", getmetatable(dc) == nil and dc[1] == 1 and dc[2] == nil and dc[3] == 3 and dc.t.k == "v")
	T.deq("deepcopy of a path", sharedata.deepcopy("holes", "t"), { k = "v" })
	T.eq("deepcopy of a scalar", sharedata.deepcopy("holes", "t", "k"), "v")
	T.eq("deepcopy of a missing key gives nothing", select("#", sharedata.deepcopy("holes", "zz")), 0)
	T.raises("deepcopy of an unknown name", "no such name", sharedata.deepcopy, "nope")

	-- update seen by this service at once, and by many readers soon
	sharedata.new("cfg", { a = 1, b = { 1, 2 }, n = { { 5 } } })
	local cfg = sharedata.query "cfg"
	local b, n2 = cfg.b, cfg.n[1]
	local rs = {}
	for i = 1, 30 do
		rs[i] = skynet.newservice("svc_share_reader", "sharedata")
		eval(rs[i], "H.c = lib.query 'cfg' H.b = H.c.b return H.c.a")
	end
	sharedata.update("cfg", { a = 2, b = { 3, 4, 5 }, n = { 7 } })
	T.ok("the updater sees the new data at once", cfg.a == 2 and cfg.b == b and b[3] == 5 and #b == 3)
	T.raises("a vanished path raises", "The key [.n.1] doesn't exist after update", function() return n2[1] end)
	sharedata.update("cfg", { a = 3, n = { { 9 } } })
	T.raises("b gone", "The key [.b] doesn't exist after update", function() return b[1] end)
	sharedata.update("cfg", { a = 4, b = { 8 }, n = { { 9 } } })
	T.raises("stays invalid when the path comes back", "The key [.b] doesn't exist after update", function() return #b end)
	T.ok("a fresh child works", cfg.b[1] == 8 and cfg.b ~= b)
	local function all_see(want)
		return T.waitfor(function()
			for _, r in ipairs(rs) do
				local ok, a = eval(r, "return H.c.a")
				if not ok or a ~= want then return false end
			end
			return true
		end, 300)
	end
	T.ok("30 readers follow the updates", all_see(4))
	local ok, err = eval(rs[1], "return H.b[1]")
	T.ok("a reader's vanished child raises", not ok and tostring(err):find("The key [.b] doesn't exist after update", 1, true), err)

	-- a reader that holds an old object while it is replaced several times
	for v = 5, 9 do sharedata.update("cfg", { a = v, b = { v } }) end
	T.ok("a held object goes through several versions", all_see(9))
	local _, hb = eval(rs[2], "return H.c.b[1]")
	T.eq("its children too", hb, 9)

	-- delete: readers keep the last data; a new name is unrelated
	sharedata.delete "cfg"
	T.raises("query after delete", "no such name", sharedata.query, "cfg")
	skynet.sleep(2)
	T.eq("readers keep the last version", cfg.a, 9)
	sharedata.new("cfg", { a = 100 })
	skynet.sleep(2)
	T.eq("an old reader does not follow a new object", cfg.a, 9)
	T.eq("a new query does", sharedata.deepcopy("cfg", "a"), 100)
	local _, ra = eval(rs[3], "return H.c.a")
	T.eq("also in other services", ra, 9)

	-- flush
	sharedata.update("foo", { a = 42 })
	sharedata.flush()
	T.eq("flush", obj.a, 42)
	for _, r in ipairs(rs) do skynet.call(r, "lua", "exit") end
end)

-- test_snax.lua -- skynet.snax and snaxd:
-- every API function, the method ids, the PTYPE_SNAX bytes, the init /
-- exit / hotfix / profile system methods and their error paths, hot fixes
-- that keep upvalues, the interface-loading errors, snax_interface_g and
-- snax_loader.  The service file is test/lua/snax_ping.lua.
local skynet = require "skynet"
local T = require "testlib"

local events = {} -- "init"/"exit" messages the snax services send us

local function wait_event(kind, n)
	T.waitfor(function()
		local c = 0
		for _, e in ipairs(events) do
			if e[1] == kind then c = c + 1 end
		end
		return c >= n
	end, 300)
	local list = {}
	for _, e in ipairs(events) do
		if e[1] == kind then list[#list + 1] = e end
	end
	return list
end

local snax

local function config()
	T.raises("snax before the config key: please set snax", "please set snax in config file", function()
		require("skynet.snax").interface "snax_ping"
	end)
	skynet.setenv("snax", "./test/lua/nosuch/?.lua;./test/lua/?.lua")
	snax = require "skynet.snax"
	T.raises("interface of a missing file lists every pattern's error", {
		"cannot open ./test/lua/nosuch/nosuch_file.lua", "\ncannot open ./test/lua/nosuch_file.lua" },
		snax.interface, "nosuch_file")
end

local function interface()
	local t = snax.interface "snax_ping"
	T.deq("interface: system ids", t.system, { init = 1, exit = 2, hotfix = 3, profile = 4 })
	T.deq("interface: pingserver's ids in definition order across groups",
		{ t.response.ping, t.accept.sleep, t.accept.hello, t.accept.exit, t.response.error },
		{ 5, 6, 7, 8, 9 })
	T.ok("interface: same name in both groups gets two ids", t.accept.twice and t.response.twice
		and t.accept.twice ~= t.response.twice)
	T.eq("interface: name", t.name, "snax_ping")
	T.ok("interface: cached per name", snax.interface "snax_ping" == t)
	-- the rules of service files, through a loader that compiles a string
	local iface = require "snax.interface"
	local function try(src)
		return iface("x", { require = function() end }, function(_, _, G)
			return load(src, "=src", "t", G), "?"
		end)
	end
	T.raises("service file: duplicate method", "accept.a duplicate definition", try,
		"function accept.a() end function accept.a() end")
	T.raises("service file: method not a function", "response.b must be function", try, "response.b = 1")
	T.raises("service file: non-string method name", "accept method only support string", try, "accept[1] = print")
	T.raises("service file: system hook not a function", "init must be a function", try, "init = 3")
	local m = try "function accept.a() end function response.a() end x = 1 function exit() end"
	T.deq("service file: the same name in accept and response is allowed",
		{ m[5][2], m[5][3], m[6][2], m[6][3], m[2][4] ~= nil }, { "accept", "a", "response", "a", true })
	T.raises("caller side: top-level code has no globals", "attempt to call a nil value (global 'print')", try,
		"print 'hi'")
end

local function basics()
	local self = skynet.self()
	local obj = snax.newservice("snax_ping", self, "hello world")
	local init = wait_event("init", 1)
	T.eq("newservice: init gets the arguments of newservice", init[1] and init[1][2], "hello world")
	T.ok("newservice: object fields", type(obj.handle) == "number" and obj.type == "snax_ping")
	T.eq("object __tostring", tostring(obj), string.format("[snax_ping:%x]", obj.handle))
	T.eq("req.ping returns the result", obj.req.ping "foobar", "foobar")
	T.deq("req returns every value, nils included", table.pack(obj.req.multi()),
		{ n = 4, 1, nil, "three", nil })
	obj.post.hello()
	obj.post.hello()
	T.eq("post.hello reaches accept.hello (twice)", obj.req.count(), 2)
	T.eq("post returns nothing", select("#", obj.post.hello()), 0)
	T.ok("req functions are cached", obj.req.ping == obj.req.ping)
	T.raises("post of a missing accept method", "post snax_ping:nosuch no exist", function()
		return obj.post.nosuch
	end)
	T.raises("req of an accept-only method", "request snax_ping:hello no exist", function()
		return obj.req.hello
	end)
	T.raises("a response that raises fails the call with its error", "throw an error", obj.req.error)
	T.eq("the service keeps serving after an error", obj.req.ping "again", "again")
	local name, path, ppath, gvar = obj.req.where()
	T.eq("SERVICE_NAME in snaxd", name, "snax_ping")
	T.eq("SERVICE_PATH is the pattern's prefix plus name/", path, "./test/lua/snax_ping/")
	T.eq("package.path starts with SERVICE_PATH?.lua;", ppath:sub(1, #"./test/lua/snax_ping/?.lua;"),
		"./test/lua/snax_ping/?.lua;")
	T.eq("a file-level global is a global of the service", gvar, "file-level global")
	-- each message runs in its own coroutine
	local got
	skynet.fork(function() got = obj.req.block "t1" end)
	skynet.sleep(5)
	T.eq("a blocked method lets later messages run", obj.req.ping "meanwhile", "meanwhile")
	obj.post.unblock "t1"
	T.ok("the blocked method answers after its wakeup", T.waitfor(function() return got ~= nil end) and
		got == "unblocked t1")
	-- the bytes on the wire
	local msg, sz = skynet.rawcall(obj.handle, "snax", skynet.pack(5, "foobar"))
	T.eq("PTYPE_SNAX reply to ping('foobar') is 34 666f6f626172",
		skynet.tostring(msg, sz), "\x34foobar")
	T.eq("PTYPE_SNAX request bytes of ping('foobar')", skynet.tostring(skynet.pack(5, "foobar")), "\x0a\x05\x34foobar")
	T.eq("skynet.PTYPE_SNAX", skynet.PTYPE_SNAX, 11)
	-- bind
	T.ok("bind of a known handle returns the same object", snax.bind(obj.handle, "snax_ping") == obj)
	T.raises("bind of a known handle to another type raises", "already bound", snax.bind, obj.handle, "other")
	-- profile and debug INFO
	obj.post.twice()
	T.eq("response of the same name", obj.req.twice(), "twice")
	local p = snax.profile_info(obj)
	T.ok("profile_info: count and time per method name", p.ping and p.ping.count == 4 and
		math.type(p.ping.time) == "float" and p.hello.count == 3)
	T.eq("profile: an accept and a response of one name share the entry", p.twice and p.twice.count, 2)
	T.eq("profile counts failed calls too", p.error and p.error.count, 1)
	obj.post.sleep(30)
	T.waitfor(function() local q = snax.profile_info(obj).sleep return q and q.count == 1 end)
	local slept = snax.profile_info(obj).sleep
	T.ok("profile time leaves out the time a method is suspended (sleep 300 ms)",
		slept and slept.time < 0.15, slept and tostring(slept.time) or "no entry")
	local info = skynet.call(obj.handle, "debug", "INFO")
	T.eq("debug INFO returns the profile table", info and info.ping and info.ping.count, 4)
	-- system method errors
	T.raises("init twice: Already init", "Already init", skynet.call, obj.handle, "snax", 1)
	snax.printf("snax.printf %d %s", 42, "x")
	-- kill
	local r = table.pack(snax.kill(obj, "bye", 1))
	T.eq("kill returns nothing", r.n, 0)
	local ex = wait_event("exit", 1)
	T.deq("kill runs exit with its arguments", ex[1] and { ex[1][2], ex[1][3] }, { "bye", 1 })
	T.raises("calls after kill fail", "", obj.req.ping, "x")
	-- snax.exit from inside (accept.exit calls snax.exit)
	local obj2 = snax.newservice("snax_ping", self)
	obj2.post.exit("from inside")
	ex = wait_event("exit", 2)
	T.eq("snax.exit inside the service runs its exit", ex[2] and ex[2][2], "from inside")
	T.ok("the service is gone after snax.exit", T.waitfor(function()
		return not pcall(obj2.req.ping, "x")
	end))
	T.eq("rawnewservice returns a handle", math.type(snax.rawnewservice("snax_ping")), "integer")
end

local function before_init()
	local h = skynet.newservice("snaxd", "snax_ping")
	T.raises("a method before init: Init first", "Init first", skynet.call, h, "snax", 5, "x")
	T.raises("exit before init: Never init", "Never init", skynet.call, h, "snax", 2)
	T.deq("profile before init works", skynet.call(h, "snax", 4), {})
	T.deq("hotfix before init works", table.pack(skynet.call(h, "snax", 3, "function hotfix() return 7 end")),
		{ n = 2, true, 7 })
	T.raises("an unknown method id is refused", "no method with id 99", skynet.call, h, "snax", 99)
	-- init that raises: the caller gets the error, the service is retired
	local before = skynet.call(".launcher", "lua", "LIST")
	local n0 = 0
	for _ in pairs(before) do n0 = n0 + 1 end
	T.raises("newservice whose init raises", "init refused", snax.newservice, "snax_ping", "fail")
	local n1 = 0
	for _ in pairs(skynet.call(".launcher", "lua", "LIST")) do n1 = n1 + 1 end
	T.eq("the service whose init failed is not left running", n1, n0)
end

local function unique()
	local self = skynet.self()
	local nevents = #wait_event("init", 0)
	local u1 = snax.uniqueservice("snax_ping", self, "unique")
	local u2 = snax.uniqueservice("snax_ping", self, "second")
	T.ok("uniqueservice: one instance per node", u1.handle == u2.handle and u1 == u2)
	local q = snax.queryservice "snax_ping"
	T.eq("queryservice finds it", q.handle, u1.handle)
	local inits = wait_event("init", nevents + 1)
	T.eq("uniqueservice: the first caller's args go to init", inits[nevents + 1][2], "unique")
	skynet.sleep(5)
	T.eq("uniqueservice: init ran once", #wait_event("init", 0), nevents + 1)
	local g = snax.globalservice("snax_ping", self, "global")
	T.ok("globalservice is distinct from the node-unique one", g.handle ~= u1.handle)
	T.eq("queryglobal finds it", snax.queryglobal("snax_ping").handle, g.handle)
end

local function hotfix()
	local obj = snax.newservice "snax_ping"
	obj.post.hello()
	T.eq("before the patch", obj.req.count(), 1)
	local r = table.pack(snax.hotfix(obj, [[
		local i
		function accept.hello()
			i = i + 10
		end
		function hotfix(...)
			return "hotfix ret", i, ...
		end
	]], "x", "y"))
	T.deq("hotfix returns the patch's hotfix(...) results", r, { n = 4, "hotfix ret", 1, "x", "y" })
	obj.post.hello()
	T.eq("patched method changes the old upvalue (count 1 + 10)", obj.req.count(), 11)
	T.deq("a patch without hotfix() returns nothing", table.pack(snax.hotfix(obj, [[
		local unknown
		gvar2 = 1
		function response.global(name)
			return name, unknown, _ENV[name]
		end
	]])), { n = 0 })
	T.eq("a global assigned by a patch does not reach the service", select(3, obj.req.global "gvar2"), nil)
	T.eq("a patch local with no old counterpart stays nil", select(2, obj.req.global "x"), nil)
	T.raises("a patch may not add a method", "Patch mismatch response.zzz", snax.hotfix, obj,
		"function response.zzz() end")
	local err = T.raises("a patch that does not compile is refused with the compiler's message",
		{ "patch does not compile", "patch:1:" }, function()
			snax.hotfix(obj, "function response.ping(") -- the line named in the error
		end)
	T.eq("after refused patches the old code still runs", obj.req.ping "still", "still")
	T.ok("the refusal names the caller's line", err and err:find("test_snax.lua:", 1, true) ~= nil, err)
	-- _ENV of the patch is the service's real globals, not the snapshot
	snax.hotfix(obj, [[
		function response.where()
			late_global = "set by the patched method"
			return SERVICE_NAME
		end
		function response.count()
			return late_global
		end
	]])
	obj.req.where()
	T.eq("patched code reads and writes the service's real globals", obj.req.count(), "set by the patched method")
	T.eq("the service sees the global the patched method set", select(3, obj.req.global "late_global"),
		"set by the patched method")
	-- an initialised patch local is a separate variable; afterwards the
	-- name is ambiguous for every later patch (as upstream)
	local o2 = snax.newservice "snax_ping"
	o2.post.hello()
	snax.hotfix(o2, [[
		local i = 1000
		function response.multi()
			return i
		end
	]])
	T.eq("an initialised patch local is a new variable", o2.req.multi(), 1000)
	T.eq("the old variable is unchanged", o2.req.count(), 1)
	T.raises("later patches see an ambiguous local", "ambiguity local value i", snax.hotfix, o2,
		"function hotfix() end")
	snax.kill(obj)
	snax.kill(o2)
end

-- snax_interface_g: the caller evaluates files with that module's table
local function interface_g()
	T.raises("without snax_interface_g, top-level print fails in the caller",
		"attempt to call a nil value (global 'print')", snax.interface, "snax_toplevel")
	skynet.setenv("snax_interface_g", "snax_env")
	local t = snax.interface "snax_toplevel"
	T.eq("with snax_interface_g, top-level code runs in that table", t.response.hi, 5)
	skynet.setenv("snax_loader", "./test/lua/snax_loader.lua")
	local obj = snax.newservice "snax_toplevel"
	T.eq("snax_loader finds files for snaxd", obj.req.hi(), "from the loader")
end

T.run("test_snax", function()
	skynet.dispatch("lua", function(_, _, kind, ...)
		events[#events + 1] = { kind, ... }
	end)
	config()
	interface()
	basics()
	before_init()
	unique()
	hotfix()
	interface_g()
end)

-- test_service.lua -- newservice/uniqueservice/queryservice, their error
-- paths, kill, exit, env, names.
local skynet = require "skynet"
require "skynet.manager"
local T = require "testlib"

T.run("test_service", function()
	-- missing script: the error names the service and every path searched
	local err = T.raises("newservice missing script", { "newservice svc_does_not_exist failed",
		"./service/svc_does_not_exist.lua", "./test/lua/svc_does_not_exist.lua", "./examples/svc_does_not_exist.lua" },
		skynet.newservice, "svc_does_not_exist")
	T.ok("missing script error lists one path per line", err and select(2, err:gsub("\n", "")) >= 2, err)

	T.raises("newservice main chunk raises", { "newservice svc_mainfail failed", "svc_mainfail.lua:3: main chunk boom" },
		skynet.newservice, "svc_mainfail")
	err = T.raises("newservice start raises", { "newservice svc_initfail failed", "svc_initfail.lua", "init boom" },
		skynet.newservice, "svc_initfail")
	T.ok("start error has no traceback", err and not err:find("traceback", 1, true), err)
	local _, perr = pcall(function() local r = skynet.newservice("svc_initfail") return r end)
	T.ok("newservice error has caller position", perr and perr:find("^%./test/lua/test_service%.lua:%d+: newservice"), perr)
	T.eq("newservice exit in start returns nil", skynet.newservice "svc_initexit", nil)

	-- launcher LIST contains services started by newservice
	local s1 = skynet.newservice("svc_echo", "x")
	local list = skynet.call(".launcher", "lua", "LIST")
	T.eq("launcher LIST entry", list[skynet.address(s1)], "snlua svc_echo x")
	T.deq("launcher unknown command", skynet.call(".launcher", "lua", "NOSUCH"), { "Unknown command" })

	-- kill before init finishes: newservice fails
	local killer_done
	skynet.fork(function()
		-- the service being launched will be :(s1 + 1)
		skynet.sleep(10)
		local addr = s1 + 1
		skynet.kill(addr)
		killer_done = addr
	end)
	err = T.raises("newservice of a service killed during init", "failed", skynet.newservice, "svc_slowinit", 100)
	T.ok("kill during init message", err and err:find("killed", 1, true), err)

	-- uniqueservice: concurrent callers get the same address, launched once
	local got = {}
	for i = 1, 3 do
		skynet.fork(function()
			got[i] = skynet.uniqueservice("svc_slowinit", 20, "uniqA")
		end)
	end
	T.waitfor(function() return got[1] and got[2] and got[3] end)
	T.ok("uniqueservice same address", got[1] and got[1] == got[2] and got[2] == got[3])
	T.eq("uniqueservice later call", skynet.uniqueservice("svc_slowinit", 20, "uniqA"), got[1])
	T.eq("unique launched once", skynet.getenv "uniqA_2", nil)
	T.eq("queryservice", skynet.queryservice "svc_slowinit", got[1])
	T.deq("unique service args", { skynet.call(got[1], "lua", "who") }, { "20", "uniqA" })

	-- queryservice blocks until someone launches it
	local q
	skynet.fork(function() q = skynet.queryservice "svc_echo" end)
	skynet.sleep(5)
	T.eq("queryservice still waiting", q, nil)
	local u = skynet.uniqueservice "svc_echo"
	T.waitfor(function() return q end)
	T.eq("queryservice woken", q, u)

	-- a failing unique launch raises for every caller, now and later
	local errs = {}
	for i = 1, 3 do
		skynet.fork(function()
			errs[i] = select(2, pcall(skynet.uniqueservice, "svc_initfail", 10))
		end)
	end
	T.waitfor(function() return errs[1] and errs[2] and errs[3] end)
	for i = 1, 3 do
		T.ok("failing uniqueservice caller " .. i, errs[i] and errs[i]:find("init boom", 1, true), errs[i])
	end
	T.raises("failing uniqueservice later", "init boom", skynet.uniqueservice, "svc_initfail")
	T.raises("queryservice of failed unique", "init boom", skynet.queryservice, "svc_initfail")
	T.raises("uniqueservice missing", "svc_nope_unique", skynet.uniqueservice, "svc_nope_unique")

	-- global unique service
	local g = skynet.uniqueservice(true, "svc_echo")
	T.ok("global uniqueservice", math.type(g) == "integer" and g ~= u)
	T.eq("global queryservice", skynet.queryservice(true, "svc_echo"), g)

	-- env
	T.eq("getenv harbor", skynet.getenv "harbor", "0")
	T.eq("getenv standalone", skynet.getenv "standalone", "true")
	T.eq("getenv missing", skynet.getenv "no_such_key_xyz", nil)
	skynet.setenv("test_key_1", "v1")
	T.eq("setenv then getenv", skynet.getenv "test_key_1", "v1")
	T.raises("setenv existing key", "Can't setenv exist key : test_key_1", skynet.setenv, "test_key_1", "v2")
	T.eq("setenv did not change", skynet.getenv "test_key_1", "v1")

	-- names
	local e = skynet.newservice "svc_echo"
	skynet.name(".echo_named", e)
	T.eq("name another service", skynet.localname ".echo_named", e)
	T.eq("call by given name", skynet.call(".echo_named", "lua", "add", 2, 2), 4)
	skynet.register ".test_service"
	T.eq("register self", skynet.localname ".test_service", skynet.self())
	skynet.name(".echo_named", skynet.self()) -- already taken: ignored
	T.eq("duplicate name ignored", skynet.localname ".echo_named", e)
	skynet.kill ".echo_named"
	T.waitfor(function() return skynet.localname ".echo_named" == nil end, 50)
	T.eq("kill by name drops the name", skynet.localname ".echo_named", nil)
	T.raises("register a number-like global name", "number", skynet.register, "1234")
	T.raises("register a long global name", "16", skynet.register, "a_very_long_global_name")

	-- harbor
	local h, remote = skynet.harbor(skynet.self())
	T.ok("harbor of self", h == 0 and remote == false)

	-- skynet.launch (C service) and kill by :hex string
	local l = skynet.launch("snlua", "svc_echo")
	T.ok("skynet.launch returns address", math.type(l) == "integer")
	T.waitfor(function() return pcall(skynet.call, l, "lua", "add", 1, 1) end, 100)
	T.eq("launched service works", skynet.call(l, "lua", "add", 1, 1), 2)
	skynet.kill(skynet.address(l))
	T.raises("kill by :hex", "invalid address", skynet.call, l, "lua", "add", 1, 1)
	T.eq("launch of missing C module", skynet.launch("no_such_c_module"), nil)
end)

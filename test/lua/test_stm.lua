-- test_stm.lua -- skynet.stm (a writer's buffers read in place by readers
-- in other services) and skynet.sharemap (a sproto record over stm), as
-- upstream's teststm and testsm use them.
local skynet = require "skynet"
local stm = require "skynet.stm"
local sharemap = require "skynet.sharemap"
local T = require "testlib"

T.run("test_stm", function()
	-- in one service
	local w = stm.new(skynet.pack(1, 2, 3, 4, 5))
	local r = stm.newcopy(stm.copy(w))
	T.deq("first read after newcopy is true", { r(function(msg, sz) return skynet.unpack(msg, sz) end) }, { true, 1, 2, 3, 4, 5 })
	T.deq("unchanged: false only, f not called", { r(error) }, { false })
	w "hello world"
	T.deq("a string is copied; ud is passed", { r(function(msg, sz, ud) return skynet.tostring(msg, sz), ud end, "ud") },
		{ true, "hello world", "ud" })
	T.raises("f must be a function", "function expected", r)

	-- across services (teststm): the reader sees each write once, then
	-- false for ever once the writer's object is gone
	local slave = skynet.newservice "svc_stm_reader"
	local w2 = stm.new(skynet.pack(1, 2, 3, 4, 5))
	skynet.call(slave, "lua", "init", stm.copy(w2))
	T.deq("remote first read", { skynet.call(slave, "lua", "read") }, { true, 1, 2, 3, 4, 5 })
	T.deq("remote unchanged", { skynet.call(slave, "lua", "read") }, { false })
	local seen = 0
	for i = 1, 4 do
		w2(skynet.pack("hello world", i))
		local res = { skynet.call(slave, "lua", "read") }
		if res[1] == true and res[2] == "hello world" and res[3] == i then seen = seen + 1 end
		T.deq("remote read after write " .. i .. " then false", { skynet.call(slave, "lua", "read") }, { false })
	end
	T.eq("every write seen once, in order", seen, 4)
	w2 = nil
	collectgarbage()
	T.deq("writer gone: false", { skynet.call(slave, "lua", "read") }, { false })
	T.deq("and false again", { skynet.call(slave, "lua", "read") }, { false })

	-- sharemap (testsm)
	local path = os.tmpname()
	local f = io.open(path, "w")
	f:write ".foobar { x 0 : integer  y 1 : integer  s 2 : string }\n"
	f:close()
	sharemap.register(path)
	os.remove(path)
	local sw = sharemap.writer("foobar", { x = 1, y = 0, s = "hello" })
	local sm = skynet.newservice "svc_stm_reader"
	skynet.call(sm, "lua", "map", sw:copy())
	T.deq("sharemap reader sees the first record", { skynet.call(sm, "lua", "fields") }, { false, 1, 0, "hello" })
	sw.y = 2
	T.eq("writer fields write through", sw.y, 2)
	T.deq("not visible before commit", { skynet.call(sm, "lua", "fields") }, { false, 1, 0, "hello" })
	sw:commit()
	T.deq("visible after commit and update", { skynet.call(sm, "lua", "fields") }, { true, 1, 2, "hello" })
	sw.s = "world"
	sw:commit()
	T.deq("second commit", { skynet.call(sm, "lua", "fields") }, { true, 1, 2, "world" })
	local ok, err = skynet.call(sm, "lua", "write")
	T.ok("a reader is read-only", not ok and err:find("read-only", 1, true), err)
end)

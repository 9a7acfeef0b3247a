-- test_call.lua -- send, call, ret, retpack, response, error paths of call.
local skynet = require "skynet"
require "skynet.manager"
local T = require "testlib"

local CMD = {}
local saved = {}

-- handlers of this service (it calls itself for some checks)
function CMD.retpack(...) skynet.retpack(...) end
function CMD.ret_raw(s) skynet.ret(s) end
function CMD.ret_twice()
	skynet.retpack(1)
	local ok, err = pcall(skynet.ret, skynet.pack(2))
	saved.ret_twice = err
end
function CMD.response_twice()
	local r = skynet.response()
	saved.test_before = r("TEST")
	saved.first = r(true, "once")
	saved.test_after = r("TEST")
	local ok, err = pcall(r, true, "twice")
	saved.twice_err = err
end
function CMD.response_false(why)
	local r = skynet.response()
	r(false, why)
end
function CMD.response_later(ti, v)
	local r = skynet.response()
	skynet.fork(function()
		skynet.sleep(ti)
		r(true, v)
	end)
end
function CMD.response_held() saved.held = skynet.response() end
function CMD.raise(msg) saved.raised_co = coroutine.running() error(msg) end
function CMD.response_unpackable()
	local r = skynet.response()
	saved.unpackable = select(2, pcall(r, true, print))
end
function CMD.retpack_unpackable() skynet.retpack(print) end
function CMD.context()
	local s, a = skynet.context()
	skynet.retpack(s, a)
end
function CMD.send_note(v)
	local s, a = skynet.context()
	saved.note = { v, s, a }
	saved.note_ret = skynet.ret() -- a send: ret returns false
end
function CMD.ignore()
	skynet.ignoreret()
	saved.ignore_ok = not pcall(skynet.ret)
end

T.run("test_call", function()
	skynet.dispatch("lua", function(session, source, cmd, ...)
		CMD[cmd](...)
	end)
	local me = skynet.self()

	T.eq("self is a number", math.type(me), "integer")
	T.eq("address format", skynet.address(me), string.format(":%08x", me))
	T.eq("address of string", skynet.address(".x"), ".x")

	-- call / ret / retpack
	local a, b, c = skynet.call(me, "lua", "retpack", 1, "two", { 3 })
	T.ok("retpack values", a == 1 and b == "two" and type(c) == "table" and c[1] == 3)
	T.eq("retpack nil in middle", select("#", skynet.call(me, "lua", "retpack", nil, 2)), 2)
	local msg, sz = skynet.rawcall(me, "lua", skynet.pack("ret_raw", "raw text"))
	T.eq("ret raw string", skynet.tostring(msg, sz), "raw text")
	T.eq("call by :hex string", skynet.call(skynet.address(me), "lua", "retpack", "hex"), "hex")
	skynet.register ".callself"
	T.eq("call by .name", skynet.call(".callself", "lua", "retpack", "named"), "named")
	T.eq("localname", skynet.localname ".callself", me)
	T.eq("localname unknown", skynet.localname ".no_such_name", nil)

	local v = skynet.call(me, "lua", "ret_twice")
	T.eq("ret first reply", v, 1)
	T.ok("ret twice raises No session", saved.ret_twice and saved.ret_twice:find("No session", 1, true), saved.ret_twice)

	-- response
	T.eq("response reply", skynet.call(me, "lua", "response_twice"), "once")
	T.eq("response TEST before", saved.test_before, true)
	T.eq("response returns true", saved.first, true)
	T.eq("response TEST after", saved.test_after, false)
	T.ok("response twice raises", saved.twice_err and saved.twice_err:find("Can't response more than once", 1, true),
		saved.twice_err)
	T.raises("response(false) fails the call", { "call to", "failed" }, skynet.call, me, "lua", "response_false")
	T.raises("response(false, why) carries why", "failed: nope", skynet.call, me, "lua", "response_false", "nope")
	T.raises("response of an unpackable value fails the call", "failed", skynet.call, me, "lua", "response_unpackable")
	T.ok("response of an unpackable value raises", saved.unpackable, saved.unpackable)
	T.raises("retpack of an unpackable value fails the call", "failed", skynet.call, me, "lua", "retpack_unpackable")
	T.eq("response later (forked)", skynet.call(me, "lua", "response_later", 5, "late"), "late")

	-- context, send, ignoreret
	local s, src = skynet.call(me, "lua", "context")
	T.ok("context in call", math.type(s) == "integer" and s > 0 and src == me)
	T.eq("send returns 0", skynet.send(me, "lua", "send_note", "hello"), 0)
	T.waitfor(function() return saved.note end)
	T.ok("send delivered with session 0", saved.note and saved.note[1] == "hello" and saved.note[2] == 0 and saved.note[3] == me)
	T.eq("ret for a send returns false", saved.note_ret, false)
	skynet.send(me, "lua", "ignore")
	T.waitfor(function() return saved.ignore_ok ~= nil end)
	T.eq("ret after ignoreret raises", saved.ignore_ok, true)
	T.eq("context outside a request", select("#", skynet.context()) == 2 and (skynet.context()), nil)

	-- invalid destinations
	T.eq("send to dead handle returns nil", skynet.send(0x00ffff00, "lua", "x"), nil)
	T.eq("send to unknown .name returns nil", skynet.send(".nobody_here", "lua", "x"), nil)
	T.raises("call invalid address", "call to invalid address :00ffff00", skynet.call, 0x00ffff00, "lua", "x")
	T.raises("call unknown .name", "call to invalid address .nobody_here", skynet.call, ".nobody_here", "lua", "x")
	T.raises("send to address 0", "Invalid service address 0", skynet.send, 0, "lua", "x")
	T.raises("send to a table", "must be a string or number", skynet.send, {}, "lua", "x")
	T.raises("rawcall invalid address", "call to invalid address", skynet.rawcall, 0x00ffff01, "lua", skynet.pack "x")
	T.raises("call unknown protocol", "unknown protocol", skynet.call, me, "nosuchproto")

	-- callee raises: the caller's error names the callee and the reason
	local err = T.raises("call to raising handler", { "call to " .. skynet.address(me) .. " failed", "my special error" },
		skynet.call, me, "lua", "raise", "my special error")
	T.ok("error text has callee position", err and err:find("test_call.lua:%d+: my special error"), err)
	T.ok("error text has no traceback", err and not err:find("stack traceback", 1, true), err)
	local _, perr = pcall(function() local r = skynet.call(me, "lua", "raise", "x") return r end)
	T.ok("error prefixed by caller position", perr and perr:find("^%./test/lua/test_call%.lua:%d+: call to"), perr)
	-- the coroutine that raised is dead; the scheduler's view of it stays valid
	local S = require "skynet.internal"
	collectgarbage "collect"
	collectgarbage "collect"
	T.eq("failed coroutine is dead", coroutine.status(saved.raised_co), "dead")
	T.eq("failed coroutine: no request address", S.session_coroutine_address[saved.raised_co], nil)
	T.eq("failed coroutine: no trace tag", S.session_coroutine_tracetag[saved.raised_co], nil)

	-- another service
	local echo = skynet.newservice("svc_echo", "a1", "b2")
	T.deq("newservice args are strings", { skynet.call(echo, "lua", "args") }, { "a1", "b2" })
	T.eq("call other service", skynet.call(echo, "lua", "add", 2, 3), 5)
	err = T.raises("remote raise", { "call to " .. skynet.address(echo) .. " failed: " .. skynet.address(echo) .. ": ", "svc_echo.lua", "kaboom" },
		skynet.call, echo, "lua", "raise", "kaboom")
	T.eq("service still alive after raise", skynet.call(echo, "lua", "add", 1, 1), 2)

	-- no dispatch for a protocol at the callee
	skynet.register_protocol { name = "p77", id = 77, pack = skynet.pack, unpack = skynet.unpack }
	T.raises("call with unhandled protocol", { "failed", "no dispatch for protocol 77" }, skynet.call, echo, "p77", "x")

	-- big payloads
	local big = string.rep("abcdefgh", 131072) -- 1 MiB
	T.eq("1 MiB argument", skynet.call(echo, "lua", "size", big), #big)
	local r = skynet.call(echo, "lua", "big", 1048576 * 2)
	T.eq("2 MiB reply", #r, 2097152)
	local nested = { a = { b = { c = { 1, 2, 3, "x" } } }, [1.5] = true, [10] = false, s = big }
	T.deq("nested table round trip", skynet.call(echo, "lua", "echo", nested), nested)
	local ok_t = { skynet.call(echo, "lua", "echo", 1, -1, 0, math.maxinteger, math.mininteger, 1.25, -0.5, true, false, "", "s\0z") }
	T.deq("scalar round trip", ok_t, { 1, -1, 0, math.maxinteger, math.mininteger, 1.25, -0.5, true, false, "", "s\0z" })

	-- pack / unpack / packstring / tostring / trash
	local m, n = skynet.pack(1, "a", { x = 1 })
	local u1, u2, u3 = skynet.unpack(m, n)
	skynet.trash(m, n)
	T.ok("pack/unpack", u1 == 1 and u2 == "a" and u3.x == 1)
	local ps = skynet.packstring("p", 2)
	T.ok("packstring/unpack string", type(ps) == "string" and select(2, skynet.unpack(ps)) == 2)
	T.eq("tostring nil", select("#", skynet.tostring(nil)), 0)

	-- redirect: forge the source; the reply goes to the forged source
	local got
	skynet.register_protocol {
		name = "p88", id = 88, pack = skynet.pack, unpack = skynet.unpack,
		dispatch = function(session, source, v) got = { session, source, v } end,
	}
	skynet.redirect(me, echo, "p88", 0, skynet.pack("redir"))
	T.waitfor(function() return got end)
	T.ok("redirect forges source", got and got[2] == echo and got[3] == "redir" and got[1] == 0)
	got = nil
	skynet.redirect(me, echo, "p88", 0, skynet.packstring("redir2"))
	T.waitfor(function() return got end)
	T.ok("redirect with string payload", got and got[3] == "redir2")

	-- rawsend
	got = nil
	T.eq("rawsend returns 0", skynet.rawsend(me, "p88", skynet.pack("raw")), 0)
	T.waitfor(function() return got end)
	T.ok("rawsend delivered", got and got[3] == "raw")

	-- callee exits with the request pending: the call fails (no hang)
	local held = skynet.newservice "svc_echo"
	local co_err
	skynet.fork(function()
		local ok, e = pcall(skynet.call, held, "lua", "sleep", 500)
		co_err = e
	end)
	skynet.sleep(10)
	skynet.send(held, "lua", "exit")
	T.waitfor(function() return co_err end)
	T.ok("callee exits with request pending", co_err and co_err:find("failed", 1, true) and co_err:find("service exited", 1, true), co_err)
	T.raises("call to exited service", "call to invalid address", skynet.call, held, "lua", "add", 1, 2)

	-- held response + exit: the held caller fails
	local h2 = skynet.newservice "svc_echo"
	local e2
	skynet.fork(function()
		e2 = select(2, pcall(skynet.call, h2, "lua", "hold"))
	end)
	skynet.sleep(5)
	skynet.send(h2, "lua", "exit")
	T.waitfor(function() return e2 end)
	T.ok("held response fails at exit", e2 and e2:find("failed", 1, true), e2)

	-- killed service: calls queued behind a busy message fail
	local k = skynet.newservice "svc_echo"
	local results = {}
	skynet.fork(function() results[1] = table.pack(pcall(skynet.call, k, "lua", "sleep", 30)) end)
	skynet.fork(function() results[2] = table.pack(pcall(skynet.call, k, "lua", "add", 1, 2)) end)
	skynet.sleep(5)
	-- k is sleeping; kill it: the sleeping request never gets an answer upstream,
	-- but we at least see the queued/later calls fail
	skynet.kill(k)
	T.raises("call after kill", "call to invalid address", skynet.call, k, "lua", "add", 1, 2)
	T.eq("send after kill", skynet.send(k, "lua", "add", 1, 2), nil)

	-- killed while our request waits in its queue: the call fails at once
	local kb = skynet.newservice "svc_echo"
	local busy_res, queued_res
	skynet.fork(function() busy_res = table.pack(pcall(skynet.call, kb, "lua", "busy", 300)) end)
	skynet.fork(function() queued_res = table.pack(pcall(skynet.call, kb, "lua", "add", 1, 2)) end)
	skynet.sleep(5)
	skynet.kill(kb)
	T.waitfor(function() return queued_res end, 200)
	T.ok("call queued in a killed service fails", queued_res and queued_res[1] == false
		and tostring(queued_res[2]):find("call to " .. skynet.address(kb) .. " failed", 1, true), queued_res and queued_res[2])

	-- mqlen seen by a busy service
	local mq = skynet.newservice "svc_echo"
	local mql
	skynet.fork(function() mql = skynet.call(mq, "lua", "busy", 300) end)
	skynet.sleep(2)
	for i = 1, 5 do skynet.send(mq, "lua", "add", i, i) end
	T.waitfor(function() return mql end, 200)
	T.eq("mqlen counts queued messages", mql, 5)

	-- response to a caller that died: returns false (and raises nothing)
	local dead_caller = skynet.newservice "svc_echo"
	skynet.send(dead_caller, "lua", "call", me, "response_held")
	T.waitfor(function() return saved.held end)
	skynet.kill(dead_caller)
	local ok, ret = pcall(saved.held or error, true, "x")
	T.ok("response to a dead caller returns false", ok and ret == false, tostring(ok) .. ", " .. tostring(ret))

	-- genid
	local g1, g2 = skynet.genid(), skynet.genid()
	T.ok("genid increases", math.type(g1) == "integer" and g2 > g1)
end)

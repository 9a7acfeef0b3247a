-- redis_main.lua -- skynet.db.redis against real redis-servers started by
-- test/e2e/test_redis.sh (config keys redis_port, redis_dir, redis_pw_port,
-- redis_pw_dir, redis_script, closed_port) and against a scripted server
-- inside this service (exact request bytes, odd and malformed replies).
-- Covers upstream's skynet.db.redis API and the checks of upstream's
-- test/testredis.lua, testredis2.lua and testpipeline.lua.
local skynet = require "skynet"
local socket = require "skynet.socket"
local redis = require "skynet.db.redis"
local T = require "testlib"

local HOST = "127.0.0.1"
local PORT = tonumber(skynet.getenv "redis_port")
local DIR = skynet.getenv "redis_dir"
local PW_PORT = tonumber(skynet.getenv "redis_pw_port")
local SCRIPT = skynet.getenv "redis_script"
local CLOSED = tonumber(skynet.getenv "closed_port")
local BLACKHOLE = tonumber(skynet.getenv "blackhole_port") -- a listener whose accept queue is full

local function sh(cmd)
	return os.execute(cmd .. " >/dev/null 2>&1")
end

local function hex(s)
	return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function connect(extra)
	local conf = { host = HOST, port = PORT }
	for k, v in pairs(extra or {}) do conf[k] = v end
	return redis.connect(conf)
end

-- the scripted server ---------------------------------------------------------------------------
-- Accepts connections; reads each RESP request whole, appends its bytes to
-- fake.received and answers with the next entry of fake.replies: a string
-- (written as is) or a function(fd) that writes what it wants.  With no
-- entry left it answers +OK.

local fake = { received = {}, replies = {}, conns = 0 }

local function fake_serve(fd)
	fake.conns = fake.conns + 1
	socket.start(fd)
	while true do
		local head = socket.readline(fd, "\r\n")
		if not head then break end
		local parts = { head, "\r\n" }
		local argc = tonumber(head:match("^%*(%d+)$"))
		if not argc then break end
		local okreq = true
		for _ = 1, argc do
			local l = socket.readline(fd, "\r\n")
			if not l then okreq = false break end
			local n = tonumber(l:match("^%$(%-?%d+)$"))
			parts[#parts + 1] = l .. "\r\n"
			if n and n >= 0 then
				local data = socket.read(fd, n + 2)
				if not data then okreq = false break end
				parts[#parts + 1] = data
			end
		end
		if not okreq then break end
		fake.received[#fake.received + 1] = table.concat(parts)
		local r = table.remove(fake.replies, 1) or "+OK\r\n"
		if type(r) == "function" then
			if r(fd) == "close" then break end
		else
			socket.write(fd, r)
		end
	end
	socket.close(fd)
end

local function fake_start()
	local id, _, port = socket.listen(HOST, 0)
	socket.start(id, function(fd) skynet.fork(fake_serve, fd) end)
	fake.port = port
end

local function fake_reset(replies)
	fake.received = {}
	fake.replies = replies or {}
end

local function fake_connect(extra)
	local conf = { host = HOST, port = fake.port }
	for k, v in pairs(extra or {}) do conf[k] = v end
	return redis.connect(conf)
end

-- request bytes ------------------------------------------------------------------------------

local function test_bytes()
	fake_reset()
	local db = fake_connect()
	local function sent(name, f, want)
		fake_reset()
		f()
		T.eq("bytes: " .. name, fake.received[1], want)
	end
	sent("ping", function() db:ping() end, "*1\r\n$4\r\nPING\r\n")
	sent("get A (hex)", function() db:get("A") end, "*2\r\n$3\r\nGET\r\n$1\r\nA\r\n")
	T.eq("bytes: get A as hex", hex(fake.received[1]), "2a320d0a24330d0a4745540d0a24310d0a410d0a")
	sent("set k 123", function() db:set("k", 123) end, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n123\r\n")
	sent("set f2 2.0", function() db:set("f2", 2.0) end, "*3\r\n$3\r\nSET\r\n$2\r\nf2\r\n$3\r\n2.0\r\n")
	sent("set f 1.5", function() db:set("f", 1.5) end, "*3\r\n$3\r\nSET\r\n$1\r\nf\r\n$3\r\n1.5\r\n")
	sent("set empty ''", function() db:set("empty", "") end, "*3\r\n$3\r\nSET\r\n$5\r\nempty\r\n$0\r\n\r\n")
	sent("binary safe", function() db:set("bin", "a\r\nb\0c") end, "*3\r\n$3\r\nSET\r\n$3\r\nbin\r\n$6\r\na\r\nb\0c\r\n")
	sent("booleans via tostring", function() db:set("b", true) end, "*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$4\r\ntrue\r\n")
	sent("method name upper-cased", function() db:foobarcmd("x") end, "*2\r\n$9\r\nFOOBARCMD\r\n$1\r\nx\r\n")
	sent("table first argument is the list", function() db:hmset({ "h", "f1", 1, "f2", 2 }, "ignored") end,
		"*6\r\n$5\r\nHMSET\r\n$1\r\nh\r\n$2\r\nf1\r\n$1\r\n1\r\n$2\r\nf2\r\n$1\r\n2\r\n")
	sent("table n is honoured", function() db:mset { n = 2, "x", "y", "z" } end,
		"*3\r\n$4\r\nMSET\r\n$1\r\nx\r\n$1\r\ny\r\n")
	fake_reset()
	db:hmset("h", {})
	T.ok("bytes: a table in a later position is 'table: 0x...'",
		(fake.received[1] or ""):find("\r\n%$%d+\r\ntable: 0x%x+\r\n$") ~= nil, fake.received[1])
	sent("pipeline: names as given, one write", function()
		db:pipeline { { "set", "p1", 1 }, { "incr", "s" }, { "get", "p1" } }
	end, "*3\r\n$3\r\nset\r\n$2\r\np1\r\n$1\r\n1\r\n")
	T.eq("bytes: pipeline sent three requests", #fake.received, 3)
	T.eq("bytes: pipeline 2nd", fake.received[2], "*2\r\n$4\r\nincr\r\n$1\r\ns\r\n")

	-- a nil argument: refused here, nothing sent, the connection stays
	fake_reset()
	T.raises("args: a nil argument raises a clear error", { "redis: SET: argument #2 is nil" }, db.set, db, "k", nil)
	T.raises("args: a nil inside the table list raises too", "argument #3 is nil", db.mset, db, { n = 3, "a", "b" })
	T.eq("args: nothing was sent for them", #fake.received, 0)
	T.eq("args: the connection still works", db:ping(), "OK")
	db:disconnect()

	-- login bytes: AUTH user pw, then SELECT db
	fake_reset()
	local before = fake.conns
	db = fake_connect { auth = "bobpw", username = "bob", db = 1 }
	T.eq("login: AUTH username password", fake.received[1], "*3\r\n$4\r\nAUTH\r\n$3\r\nbob\r\n$5\r\nbobpw\r\n")
	T.eq("login: then SELECT db", fake.received[2], "*2\r\n$6\r\nSELECT\r\n$1\r\n1\r\n")
	T.eq("login: one connection", fake.conns, before + 1)
	db:disconnect()
	fake_reset()
	db = fake_connect { db = 0 }
	T.eq("login: db = 0 still sends SELECT 0", fake.received[1], "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n")
	db:disconnect()
end

-- reply conversion (scripted) ------------------------------------------------------------------

local function test_replies()
	fake_reset()
	local db = fake_connect()
	local function reply(name, bytes, check)
		fake_reset { bytes }
		local ok, r = pcall(db.get, db, "x")
		check(ok, r)
	end
	reply("status is the string", "+PONG\r\n", function(ok, r) T.eq("reply: +PONG -> 'PONG'", r, "PONG") end)
	reply("integer", ":-42\r\n", function(ok, r)
		T.ok("reply: :-42 -> integer -42", r == -42 and math.type(r) == "integer", tostring(r))
	end)
	reply("big integer", ":9223372036854775807\r\n", function(ok, r) T.eq("reply: max int64", r, math.maxinteger) end)
	reply("null bulk", "$-1\r\n", function(ok, r) T.ok("reply: $-1 -> nil", ok and r == nil) end)
	reply("empty bulk", "$0\r\n\r\n", function(ok, r) T.eq("reply: $0 -> ''", r, "") end)
	reply("empty array", "*0\r\n", function(ok, r) T.deq("reply: *0 -> {}", r, {}) end)
	reply("null array", "*-1\r\n", function(ok, r) T.ok("reply: *-1 -> nil", ok and r == nil) end)
	reply("holes", "*3\r\n$1\r\na\r\n$-1\r\n:3\r\n", function(ok, r)
		T.ok("reply: nil elements leave holes", ok and r[1] == "a" and r[2] == nil and r[3] == 3)
	end)
	reply("nested", "*2\r\n*2\r\n:1\r\n:2\r\n*1\r\n+x\r\n", function(ok, r)
		T.deq("reply: nested arrays", r, { { 1, 2 }, { "x" } })
	end)
	reply("error", "-WRONGTYPE Operation against a key\r\n", function(ok, r)
		T.ok("reply: -ERR raises the text", not ok and type(r) == "string"
			and r:match("WRONGTYPE Operation against a key$") and (r == "WRONGTYPE Operation against a key" or r:match("^.+:%d+: WRONGTYPE")), tostring(r))
	end)
	reply("array with error", "*2\r\n+OK\r\n-ERR bad\r\n", function(ok, r)
		T.ok("reply: an array holding an error raises the array", not ok and type(r) == "table"
			and r[1] == "OK" and r[2] == "ERR bad", tostring(r))
	end)

	-- replies arriving in pieces (the streaming path)
	local big = string.rep("0123456789", 100000) -- 1,000,000 bytes
	fake_reset { function(fd)
		local msg = "$" .. #big .. "\r\n" .. big .. "\r\n"
		for i = 1, #msg, 65536 do
			socket.write(fd, msg:sub(i, i + 65535))
			skynet.sleep(0)
		end
	end }
	T.eq("reply: a 1 MB bulk in 64 KiB pieces", db:get("x"), big)
	fake_reset { function(fd)
		socket.write(fd, "*3\r\n$3\r\nab")
		skynet.sleep(5)
		socket.write(fd, "c\r\n:")
		skynet.sleep(5)
		socket.write(fd, "7\r")
		skynet.sleep(5)
		socket.write(fd, "\n*1\r\n+y\r\n")
	end }
	T.deq("reply: split at every awkward place", db:get("x"), { "abc", 7, { "y" } })
	local parts, want = { "*100000\r\n" }, {}
	for i = 1, 100000 do
		parts[#parts + 1] = "$" .. #tostring(i) .. "\r\n" .. i .. "\r\n"
		want[i] = tostring(i)
	end
	local arr = table.concat(parts)
	fake_reset { function(fd)
		for i = 1, #arr, 40000 do
			socket.write(fd, arr:sub(i, i + 39999))
			skynet.sleep(0)
		end
	end }
	T.deq("reply: a 100,000-element array in pieces", db:get("x"), want)

	-- two replies in one packet go to the right callers
	fake_reset { function(fd) end, function(fd) socket.write(fd, "+first\r\n+second\r\n") end }
	local r1
	skynet.fork(function() r1 = db:get("a") end)
	skynet.yield()
	local r2 = db:get("b")
	T.waitfor(function() return r1 end, 100)
	T.ok("reply: two replies in one packet reach their callers", r1 == "first" and r2 == "second",
		tostring(r1) .. " " .. tostring(r2))

	-- malformed replies: a clear error, the connection is dropped, the next command reconnects
	local function bad(name, bytes, text)
		fake_reset { bytes }
		local conns = fake.conns
		T.raises("malformed: " .. name, text, db.get, db, "x")
		fake_reset { "+back\r\n" }
		T.eq("malformed: " .. name .. ": the next command reconnects", db:get("x"), "back")
		T.eq("malformed: " .. name .. ": on a new connection", fake.conns, conns + 1)
	end
	bad("RESP3 null", "_\r\n", "RESP3")
	bad("unknown type byte", "?what\r\n", "unsupported reply type")
	bad("bad bulk length", "$abc\r\n", "bad bulk length")
	bad("bulk without CRLF", "$1\r\nab\r\n", "bulk not followed by CRLF")
	bad("negative array length", "*-5\r\n", "bad array length")
	bad("integer overflow", ":99999999999999999999\r\n", "bad integer")
	local deep = string.rep("*1\r\n", 100) .. ":1\r\n"
	bad("arrays nested 100 deep", deep, "nested too deep")
	-- a huge announced length allocates nothing and waits for the bytes
	fake_reset { function(fd) socket.write(fd, "*2000000000\r\n:1\r\n") skynet.sleep(20) return "close" end }
	T.raises("malformed: *2000000000 then close: connection lost, no allocation", "connection lost", db.get, db, "x")
	fake_reset { function(fd) socket.write(fd, "$1099511627775\r\nabc") skynet.sleep(20) return "close" end }
	T.raises("malformed: a 1 TiB bulk announced then close", "connection lost", db.get, db, "x")
	fake_reset { function(fd) socket.write(fd, string.rep("x", 70000)) skynet.sleep(50) return "close" end }
	T.raises("malformed: a line over 64 KiB", "longer than 64 KiB", db.get, db, "x")
	fake_reset()
	T.eq("malformed: still usable afterwards", db:ping(), "OK")
	db:disconnect()
end

-- testredis.lua equivalent (real server) ------------------------------------------------------------

local function test_basic()
	local db = connect { db = 0 }
	db:flushdb()
	T.eq("basic: set returns the status string", db:set("A", "hello"), "OK")
	db:set("B", "world")
	T.eq("basic: get A", db:get("A"), "hello")
	T.eq("basic: get B", db:get("B"), "world")
	local okloop = true
	for i = 1, 10 do
		db:hset("hash", i, i)
	end
	for i = 1, 10 do
		if db:hget("hash", i) ~= tostring(i) then okloop = false end
	end
	T.ok("basic: hset/hget 1..10 (testredis '1\t1' .. '10\t10')", okloop)
	db:multi()
	T.eq("basic: queued commands answer QUEUED", db:get("A"), "QUEUED")
	db:get("B")
	T.deq("basic: exec returns every reply (testredis 'Exec hello' 'Exec world')", db:exec(), { "hello", "world" })
	T.eq("basic: exists is a boolean", db:exists("A"), true)
	T.eq("basic: exists of a missing key is false", db:exists("nokey"), false)
	T.eq("basic: exists with a table sends every key", db:exists { "A", "B" }, true)
	T.eq("basic: get A again", db:get("A"), "hello")
	T.eq("basic: set C", db:set("C", "hello world"), "OK")
	T.eq("basic: get C", db:get("C"), "hello world")
	db:sadd("set", "a")
	T.eq("basic: sismember true", db:sismember("set", "a"), true)
	T.eq("basic: sismember false", db:sismember("set", "z"), false)
	T.eq("basic: incr is an integer", db:incr("counter"), 1)
	T.eq("basic: scard stays an integer", db:scard("set"), 1)
	db:set("k", 123)
	db:set("f", 1.5)
	local m = db:mget("k", "nokey", "f")
	T.ok("basic: mget leaves a hole for a missing key", m[1] == "124" or m[1] == "123" and m[2] == nil and m[3] == "1.5")
	T.deq("basic: mget with a table", db:mget { "A", "B" }, { "hello", "world" })
	T.eq("basic: hmset with a table list", db:hmset { "h", "f1", 1, "f2", 2 }, "OK")
	T.deq("basic: hgetall", db:hmget("h", "f1", "f2"), { "1", "2" })
	local g = db.get
	T.ok("basic: db.get is a plain function value", type(g) == "function")
	local ok, v = pcall(db.get, db, "A")
	T.ok("basic: pcall(db.get, db, key) works", ok and v == "hello")
	T.raises("errors: WRONGTYPE carries Redis' text", "WRONGTYPE Operation against a key holding the wrong kind of value",
		db.incr, db, "set")
	T.raises("errors: unknown command carries Redis' text",
		"ERR unknown command 'FOOBARCMD', with args beginning with: 'x' ", db.foobarcmd, db, "x")
	local err = select(2, pcall(db.hmset, db, "h", { "a", "b" }))
	T.ok("errors: a table in 2nd position makes a wrong-arity error",
		tostring(err):find("ERR wrong number of arguments for 'hmset' command", 1, true), tostring(err))
	db:multi()
	db:set("x", "1")
	db:incr("set")
	local eok, e = pcall(db.exec, db)
	T.ok("errors: EXEC with a failed command raises the reply table",
		not eok and type(e) == "table" and e[1] == "OK" and tostring(e[2]):find("^WRONGTYPE"), tostring(e))
	local t0 = skynet.now()
	T.ok("blocking: BLPOP timeout returns nil", db:blpop("emptylist", 1) == nil)
	T.ok("blocking: ... after about a second", skynet.now() - t0 >= 90)
	T.eq("after all that, the connection still works", db:ping(), "PONG")

	-- concurrency: 32 coroutines on one connection
	local done, good = 0, 0
	for co = 1, 32 do
		skynet.fork(function()
			for i = 1, 50 do
				local key = "co:" .. co .. ":" .. i
				db:set(key, key .. "v")
				if db:get(key) == key .. "v" then good = good + 1 end
			end
			done = done + 1
		end)
	end
	T.waitfor(function() return done == 32 end, 1000)
	T.eq("concurrency: 32 coroutines x 50 set/get on one connection", good, 1600)

	-- big replies from a real server (streaming path)
	local big = string.rep("x", 3 * 1024 * 1024 + 7)
	db:set("big", big)
	T.ok("big: a 3 MiB value round trip", db:get("big") == big)
	local items = {}
	for i = 1, 20000 do items[i] = "item" .. i end
	db:rpush("biglist", table.unpack(items))
	local l = db:lrange("biglist", 0, -1)
	T.ok("big: lrange of 20,000 elements", #l == 20000 and l[1] == "item1" and l[20000] == "item20000")

	db:disconnect()
	T.raises("disconnect: later calls fail like upstream", "attempt to call a nil value (method 'get')", function() return db:get("A") end)
end

-- testpipeline.lua equivalent ----------------------------------------------------------------------

local function test_pipeline()
	local db = connect()
	db:del("p1", "s", "hp")
	T.eq("pipeline: without resp, the last reply", db:pipeline { { "set", "p1", 1 }, { "sadd", "s", "m" }, { "get", "p1" } }, "1")
	T.eq("pipeline: earlier errors are ignored", db:pipeline { { "incr", "s" }, { "get", "p1" } }, "1")
	T.raises("pipeline: the last reply's error is raised", "WRONGTYPE", db.pipeline, db, { { "get", "p1" }, { "incr", "s" } })
	local resp = { "kept" }
	local r = db:pipeline({ { "set", "p1", 1 }, { "incr", "s" }, { "get", "nokey" } }, resp)
	T.ok("pipeline: resp is returned and earlier entries kept", r == resp and resp[1] == "kept" and #resp == 4)
	T.ok("pipeline: resp entry ok", resp[2].ok == true and resp[2].out == "OK")
	T.ok("pipeline: resp entry error", resp[3].ok == false and tostring(resp[3].out):find("^WRONGTYPE"))
	T.ok("pipeline: resp entry nil", resp[4].ok == true and resp[4].out == nil)
	-- testpipeline: hset 3 fields, then hincrby, del, hmset
	db:pipeline { { "hset", "hp", 1, 1 }, { "hset", "hp", 2, 2 }, { "hset", "hp", 3, 3 } }
	local out = db:pipeline({ { "hincrby", "hp", 1, 1 }, { "del", "hp" }, { "hmset", "hp", 1, 1, 2, 2, 3, 3 } }, {})
	T.ok("pipeline: testpipeline's 2, 1, OK", out[1].out == 2 and out[2].out == 1 and out[3].out == "OK")
	local all = db:hgetall("hp")
	T.eq("pipeline: the hash afterwards has 3 fields", #all, 6)
	local mx = db:pipeline({ { "multi" }, { "set", "p1", 5 }, { "incr", "p1" }, { "exec" } }, {})
	T.deq("pipeline: multi/exec inside, exec's array is one result", mx[4].out, { "OK", 6 })
	T.raises("pipeline: empty raises 'pipeline is null'", "pipeline is null", db.pipeline, db, {})
	T.raises("pipeline: nil raises 'pipeline is null'", "pipeline is null", db.pipeline, db)
	local ops = {}
	for i = 1, 1000 do ops[i] = { "set", "pk" .. i, i } end
	ops[1001] = { "get", "pk1000" }
	T.eq("pipeline: 1,001 commands", db:pipeline(ops), "1000")
	db:disconnect()
end

-- testredis2.lua equivalent: password, 500,001 arguments -------------------------------------------

local function test_auth_and_args()
	local db = redis.connect { host = HOST, port = PW_PORT, auth = "foobared", db = 0 }
	db:flushdb()
	T.eq("redis2: dbsize 0", db:dbsize(), 0)
	local t = {}
	for i = 1, 250000 do
		t[#t + 1] = "f" .. i
		t[#t + 1] = i
	end
	local ok, err = pcall(function() return db:hmset("add1", table.unpack(t)) end)
	T.ok("redis2: add1 (500,001 arguments as varargs) succeeds, no stack overflow", ok, tostring(err))
	table.insert(t, 1, "add2")
	ok, err = pcall(db.hmset, db, t)
	T.ok("redis2: add2 (one table) succeeds", ok, tostring(err))
	T.eq("redis2: dbsize 2", db:dbsize(), 2)
	T.eq("redis2: add1 has every field", db:hlen("add1"), 250000)
	db:disconnect()

	T.raises("auth: a wrong password says so", { "redis: login to 127.0.0.1:" .. PW_PORT .. " failed", "WRONGPASS" },
		redis.connect, { host = HOST, port = PW_PORT, auth = "nope" })
	T.raises("auth: no password: NOAUTH on the first command", "NOAUTH",
		function() local d = redis.connect { host = HOST, port = PW_PORT } return d:get("x") end)
	-- ACL user: AUTH username password
	db = redis.connect { host = HOST, port = PW_PORT, auth = "foobared" }
	db:acl("setuser", "bob", "on", ">bobpw", "~*", "+@all")
	db:disconnect()
	db = redis.connect { host = HOST, port = PW_PORT, username = "bob", auth = "bobpw" }
	T.eq("auth: username + auth logs in as that user", db:acl("whoami"), "bob")
	db:disconnect()
end

-- failures: down, restarted, slow ------------------------------------------------------------------

local function test_failures()
	local t0 = skynet.now()
	T.raises("down: connect to a closed port raises at once, saying why",
		{ "redis: connect 127.0.0.1:" .. CLOSED .. " failed", "refused" }, redis.connect, { host = HOST, port = CLOSED })
	T.ok("down: ... within a second", skynet.now() - t0 < 100)

	-- connect timeout: a listener whose accept queue is full never completes a handshake
	t0 = skynet.now()
	local ok, err = pcall(redis.connect, { host = HOST, port = BLACKHOLE, connect_timeout = 1 })
	local took = skynet.now() - t0
	T.ok("slow: a connect that never completes fails after connect_timeout",
		not ok and tostring(err):find("connect timed out", 1, true), tostring(err))
	T.ok("slow: ... in about a second (" .. took .. " cs)", took >= 90 and took < 400)

	-- restart: in-flight command, while down, after
	local db = connect { db = 3 }
	db:set("restart", "before")
	local inflight
	skynet.fork(function()
		local ok2, e2 = pcall(db.blpop, db, "never", 30)
		inflight = { ok = ok2, err = e2 }
	end)
	skynet.sleep(20)
	T.ok("restart: kill the server", sh(SCRIPT .. " kill " .. DIR))
	T.waitfor(function() return inflight end, 500)
	T.ok("restart: the command in flight fails with 'connection lost'",
		inflight and not inflight.ok and tostring(inflight.err):find("connection lost", 1, true), inflight and tostring(inflight.err))
	T.raises("restart: while down, a command raises 'connect ... failed'", "redis: connect 127.0.0.1:" .. PORT .. " failed",
		db.get, db, "restart")
	T.ok("restart: start the server again", sh(SCRIPT .. " start " .. DIR))
	T.eq("restart: the next command reconnects", db:set("restart", "after"), "OK")
	local d3 = connect { db = 3 }
	local d0 = connect()
	T.eq("restart: SELECT 3 was redone on the reconnect", d3:get("restart"), "after")
	T.eq("restart: ... so db 0 does not have the key", d0:get("restart"), nil)
	d3:disconnect()
	d0:disconnect()

	-- slow: a stopped server accepts connections but never answers
	db:disconnect()
	db = connect { read_timeout = 1 }
	T.eq("slow: before the pause", db:ping(), "PONG")
	T.ok("slow: pause the server (SIGSTOP)", sh(SCRIPT .. " pause " .. DIR))
	local results = {}
	for i = 1, 3 do
		skynet.fork(function()
			local ok3, e3 = pcall(db.get, db, "k" .. i)
			results[#results + 1] = { ok = ok3, err = e3 }
		end)
	end
	t0 = skynet.now()
	local pok, perr = pcall(db.pipeline, db, { { "set", "pp", 1 }, { "get", "pp" } })
	took = skynet.now() - t0
	T.ok("slow: a pipeline raises 'query timed out: no reply within 1 s' (never silently half-applied)",
		not pok and tostring(perr):find("query timed out: no reply within 1 s, connection closed", 1, true), tostring(perr))
	T.ok("slow: ... in bounded time (" .. took .. " cs)", took >= 90 and took < 300)
	T.waitfor(function() return #results == 3 end, 300)
	local all = #results == 3
	for _, r in ipairs(results) do
		if r.ok or not tostring(r.err):find("no reply within", 1, true) then all = false end
	end
	T.ok("slow: every command waiting on that connection fails the same way", all)
	t0 = skynet.now()
	T.raises("slow: a new command while still stopped fails in bounded time too", "no reply within", db.get, db, "x")
	T.ok("slow: ... (login included)", skynet.now() - t0 < 300)
	T.ok("slow: resume the server", sh(SCRIPT .. " resume " .. DIR))
	T.eq("slow: once it answers, the next command reconnects", db:ping(), "PONG")
	t0 = skynet.now()
	T.ok("slow: a blocking command may outlive read_timeout by its own time", db:blpop("emptylist", 2) == nil)
	T.ok("slow: ... (BLPOP 2 s with read_timeout 1 s took " .. (skynet.now() - t0) .. " cs)", skynet.now() - t0 >= 190)
	db:disconnect()
end

-- pub/sub ---------------------------------------------------------------------------------------

local function test_watch()
	local db = connect()
	local w = redis.watch { host = HOST, port = PORT }
	w:subscribe("foo")
	w:psubscribe("hello.*")
	skynet.sleep(10)
	local got = {}
	local stop = false
	local failures = {}
	skynet.fork(function()
		while not stop do
			local ok, msg, ch, pat = pcall(w.message, w)
			if ok then
				got[#got + 1] = { msg, ch, pat }
			else
				failures[#failures + 1] = tostring(msg)
				if stop then break end
			end
		end
	end)
	for i = 1, 10 do db:publish("foo", i) end
	for i = 11, 20 do db:publish("hello.foo", i) end
	T.waitfor(function() return #got == 20 end, 300)
	local ok = #got == 20
	for i = 1, 10 do
		if not (got[i] and got[i][1] == tostring(i) and got[i][2] == "foo" and got[i][3] == nil) then ok = false end
	end
	T.ok("watch: message -> payload, channel (testredis 'Watch i foo')", ok)
	ok = #got == 20
	for i = 11, 20 do
		if not (got[i] and got[i][1] == tostring(i) and got[i][2] == "hello.foo" and got[i][3] == "hello.*") then ok = false end
	end
	T.ok("watch: pmessage -> payload, channel, pattern (testredis 'Watch i hello.foo hello.*')", ok)
	w:subscribe({ "t1", "t2" })
	skynet.sleep(10)
	db:publish("t2", "x")
	T.waitfor(function() return #got == 21 end, 200)
	T.ok("watch: a table argument subscribes to all its names", got[21] and got[21][2] == "t2")
	w:unsubscribe("foo")
	skynet.sleep(10)
	db:publish("foo", "gone")
	db:publish("t1", "still")
	T.waitfor(function() return #got == 22 end, 200)
	T.ok("watch: unsubscribe stops that channel only", got[22] and got[22][1] == "still" and got[22][2] == "t1")

	-- server restart: message() raises, then reconnects and subscribes again
	T.ok("watch: restart the server", sh(SCRIPT .. " kill " .. DIR) and sh(SCRIPT .. " start " .. DIR))
	T.waitfor(function() return #failures >= 1 end, 300)
	T.ok("watch: the waiting message() raised on the lost connection", #failures >= 1, "no failure seen")
	-- a subscription asked for while the server is restarting is kept too
	local n = #got
	local pubok = false
	for _ = 1, 200 do
		local ok2 = pcall(function()
			db:publish("hello.again", "p")
			db:publish("t1", "c")
		end)
		skynet.sleep(5)
		if #got >= n + 2 then pubok = true break end
	end
	local seen = {}
	for i = n + 1, #got do seen[got[i][2] .. "/" .. tostring(got[i][3])] = true end
	T.ok("watch: after a reconnect, patterns and channels are subscribed again",
		pubok and seen["hello.again/hello.*"] and seen["t1/nil"], pubok and "" or "no messages after restart")
	T.ok("watch: unsubscribed channels stay unsubscribed", not seen["foo/nil"])

	stop = true
	w:disconnect()
	T.waitfor(function() return failures[#failures] and failures[#failures]:find("disconnect", 1, true) end, 200)
	T.ok("watch: disconnect makes a waiting message() raise", failures[#failures]:find("closed by disconnect()", 1, true),
		failures[#failures])
	T.raises("watch: afterwards the object has no methods", "attempt to call a nil value", function() return w:message() end)
	db:disconnect()
end

T.run("redis", function()
	fake_start()
	test_bytes()
	test_replies()
	test_basic()
	test_pipeline()
	test_auth_and_args()
	test_watch()
	test_failures()
end, 12000)

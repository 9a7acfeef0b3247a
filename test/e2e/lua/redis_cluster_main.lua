-- redis_cluster_main.lua -- skynet.db.redis.cluster and crc16 against a
-- real 3-master cluster started by test/e2e/test_redis.sh (config keys
-- cluster_ports "p1 p2 p3", cluster_dir, redis_script).  The checks of
-- upstream's test/testrediscluster.lua, plus MOVED and ASK driven by a slot
-- migration, and a node that goes away and comes back.
local skynet = require "skynet"
local rc = require "skynet.db.redis.cluster"
local crc16 = require "skynet.db.redis.crc16"
local redis = require "skynet.db.redis"
local T = require "testlib"

local HOST = "127.0.0.1"
local PORTS = {}
for p in (skynet.getenv "cluster_ports"):gmatch("%d+") do PORTS[#PORTS + 1] = tonumber(p) end
local DIR = skynet.getenv "cluster_dir"
local SCRIPT = skynet.getenv "redis_script"

local function sh(cmd)
	return os.execute(cmd .. " >/dev/null 2>&1")
end

local function test_crc16()
	local vectors = {
		{ "", 0x0000, 0 }, { "123456789", 0x31C3, 12739 }, { "a", 0x7C87, 15495 }, { "foo", 0xAF96, 12182 },
		{ "hello", 0xC362, 866 }, { "A", 0x58E5, 6373 }, { "list", 0x7003, 12291 }, { "map", 0x9FB6, 8118 },
		{ "*team", 0x3315, 13077 }, { "1team", 0xDBB0, 7088 }, { "user:1000", 0x4671, 1649 },
		{ "\xff\x00\x01", 0xDF42, 8002 },
	}
	local ok = true
	for _, v in ipairs(vectors) do
		if crc16(v[1]) ~= v[2] or crc16(v[1]) % 16384 ~= v[3] then
			ok = false
			T.fail("crc16: " .. string.format("%q", v[1]), string.format("got 0x%04X", crc16(v[1])))
		end
	end
	T.ok("crc16: 12 known vectors (CRC16-XMODEM, slot = crc % 16384)", ok)
end

local function test_keyslot(db)
	local vectors = {
		{ "{foo}hello", 12182 }, { "{}foo", 9500 }, { "foo{}{bar}", 8363 }, { "foo{{bar}}zap", 4015 },
		{ "foo{bar}{zap}", 5061 }, { "{user1000}.following", 3443 }, { "a{b", 13340 }, { "}{x}", 16287 },
	}
	local conn = redis.connect { host = HOST, port = PORTS[1] }
	for _, v in ipairs(vectors) do
		T.eq("keyslot: " .. v[1], db:keyslot(v[1]), v[2])
		T.eq("keyslot: " .. v[1] .. " = CLUSTER KEYSLOT", conn:cluster("keyslot", v[1]), v[2])
	end
	conn:disconnect()
end

local function owner_port(db, key)
	return db.slots[db:keyslot(key)].port
end

local function node_id(port)
	local c = redis.connect { host = HOST, port = port }
	local id = c:cluster("myid")
	c:disconnect()
	return id
end

T.run("redis_cluster", function()
	test_crc16()
	local messages = {}
	local db = rc.new({ { host = HOST, port = PORTS[1] } }, { read_timeout = 2 },
		function(data, channel, pattern) messages[#messages + 1] = table.concat({ data, channel, tostring(pattern) }, " | ") end)
	T.ok("new: the slot map covers every slot", (function()
		for s = 0, 16383 do if not db.slots[s] then return false end end
		return true
	end)())
	T.eq("new: three master nodes", #db.nodes, 3)
	test_keyslot(db)

	-- testrediscluster: keys on every node
	for _, k in ipairs { "a", "b", "c", "key1", "key2", "list", "hello" } do db:del(k) end
	T.eq("set/get: set", db:set("key1", 1), "OK")
	db:set("key2", 2)
	T.eq("set/get: get key1", db:get("key1"), "1")
	T.eq("set/get: get key2", db:get("key2"), "2")
	T.eq("set/get: rpush list", db:rpush("list", 1, 2, 3), 3)
	for _, k in ipairs { "a", "b", "c" } do db:set(k, k) end
	local n = 0
	for name, conn in pairs(db.connections) do
		n = n + 1
		if not name:match("^127%.0%.0%.1:%d+$") or type(conn) ~= "table" then n = -100 end
	end
	T.eq("connections: one per node, keyed host:port (testrediscluster cnt: 3)", n, 3)
	db:del("{foo}hello", "{foo}world")
	T.eq("hash tag: both keys in one slot", db:keyslot("{foo}hello"), db:keyslot("{foo}world"))
	db:set("{foo}hello", "h")
	db:set("{foo}world", "w")
	T.deq("hash tag: mget across one slot", db:mget("{foo}hello", "{foo}world"), { "h", "w" })
	T.raises("dispatch: ping has no key", "No way to dispatch this command to Redis Cluster: ping", db.ping, db)
	T.raises("dispatch: info", "No way to dispatch this command to Redis Cluster: info", db.info, db)
	T.raises("dispatch: multi", "No way to dispatch this command to Redis Cluster: MULTI", db.call, db, "MULTI")
	T.eq("eval: one key", db:eval("return redis.call('get', KEYS[1])", 1, "{foo}hello"), "h")
	T.raises("eval: keys in two slots", "eval - all keys must map to the same key slot",
		db.eval, db, "return 1", 2, "a", "b")
	T.raises("errors: Redis' own error is raised", "ERR value is not an integer or out of range", db.incr, db, "a")
	T.eq("exists stays a boolean through the cluster", db:exists("a"), true)

	-- MOVED: a wrong map entry is patched by the answer
	local slot = db:keyslot("key1")
	local right = db.slots[slot]
	local wrong
	for _, nd in ipairs(db.nodes) do if nd.port ~= right.port then wrong = nd break end end
	db.slots[slot] = wrong
	T.eq("MOVED: a command sent to the wrong node still succeeds", db:get("key1"), "1")
	T.eq("MOVED: the slot now points at the owner", db.slots[slot].port, right.port)
	db:flush_slots_cache()
	T.eq("MOVED: after flush_slots_cache, a random node, MOVED, success", db:get("key2"), "2")

	-- ASK and MOVED through a real slot migration
	local key = "migrating-key"
	local mslot = db:keyslot(key)
	local src = owner_port(db, key)
	local dst
	for _, p in ipairs(PORTS) do if p ~= src then dst = p break end end
	local src_id, dst_id = node_id(src), node_id(dst)
	local csrc = redis.connect { host = HOST, port = src }
	local cdst = redis.connect { host = HOST, port = dst }
	cdst:cluster("setslot", mslot, "importing", src_id)
	csrc:cluster("setslot", mslot, "migrating", dst_id)
	T.eq("ASK: a new key of a migrating slot is written on the target", db:set(key, "moved"), "OK")
	T.eq("ASK: ... and read back through ASKING", db:get(key), "moved")
	T.eq("ASK: the source does not hold it", csrc:cluster("countkeysinslot", mslot), 0)
	for _, p in ipairs(PORTS) do
		local c = redis.connect { host = HOST, port = p }
		c:cluster("setslot", mslot, "node", dst_id)
		c:disconnect()
	end
	T.eq("MOVED: after the migration the key is found on its new owner", db:get(key), "moved")
	T.eq("MOVED: the map follows", owner_port(db, key), dst)
	-- give the slot back
	cdst:del(key)
	for _, p in ipairs(PORTS) do
		local c = redis.connect { host = HOST, port = p }
		c:cluster("setslot", mslot, "node", src_id)
		c:disconnect()
	end
	csrc:disconnect()
	cdst:disconnect()
	skynet.sleep(20)
	T.eq("MOVED: after giving the slot back, still served", db:set(key, "back"), "OK")

	-- pub/sub (testrediscluster's onmessage lines)
	db:subscribe("world")
	db:subscribe("myteam")
	db:psubscribe("{tag}*team")
	skynet.sleep(20)
	db:publish("world", "hello,world")
	db:publish("myteam", "hello,my team")
	db:publish("{tag}1team", "hello,1team")
	db:publish("{tag}2team", "hello,2team")
	T.waitfor(function() return #messages >= 4 end, 300)
	local set = {}
	for _, m in ipairs(messages) do set[m] = true end
	T.ok("pubsub: onmessage hello,world world nil", set["hello,world | world | nil"], table.concat(messages, "; "))
	T.ok("pubsub: onmessage hello,my team myteam nil", set["hello,my team | myteam | nil"])
	T.ok("pubsub: onmessage hello,1team {tag}1team {tag}*team", set["hello,1team | {tag}1team | {tag}*team"])
	T.ok("pubsub: onmessage hello,2team {tag}2team {tag}*team", set["hello,2team | {tag}2team | {tag}*team"])

	-- a node that goes away and comes back
	local victim_key = "key1"
	local vport = owner_port(db, victim_key)
	local vdir
	for i, p in ipairs(PORTS) do if p == vport then vdir = DIR .. "/" .. i end end
	T.ok("node down: kill the owner of key1", sh(SCRIPT .. " kill " .. vdir))
	local t0 = skynet.now()
	local ok, err = pcall(db.get, db, victim_key)
	local took = skynet.now() - t0
	T.ok("node down: a command for its slots raises 'Too many Cluster redirections?'",
		not ok and tostring(err):find("Too many Cluster redirections?,maybe node is disconnected", 1, true), tostring(err))
	T.ok("node down: ... in bounded time (" .. took .. " cs)", took < 500)
	local other
	for _, k in ipairs { "a", "b", "c" } do if owner_port(db, k) ~= vport then other = k break end end
	T.eq("node down: keys on the other nodes are still served", db:get(other), other)
	T.ok("node down: start it again", sh(SCRIPT .. " start " .. vdir))
	local back = T.waitfor(function()
		local ok2, v = pcall(db.set, db, victim_key, "again")
		return ok2 and v == "OK"
	end, 1500)
	T.ok("node back: commands for its slots work again", back)
	T.eq("node back: get", db:get(victim_key), "again")

	db:disconnect()
	T.ok("disconnect: connections forgotten", next(db.connections) == nil)
end, 9000)

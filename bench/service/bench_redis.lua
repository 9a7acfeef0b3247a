-- bench_redis.lua -- start service of the `redis` scenario.
--
-- Against the private redis-server bench/run.sh starts (test/redis.sh;
-- config key redis_port), over one skynet.db.redis connection shared by
-- all coroutines of this service, as the bench kit's redis scenario does:
--   * 1 and 32 coroutines, each alternating SET key v / GET key (value
--     checked) on 100 keys of its own; GETs and SETs counted separately;
--   * db:pipeline of 1,000 commands (500 x SET + GET), one after another.
-- Metrics: redis_{get,set}_c{1,32}_ops (op/s), redis_c{1,32}_node_cpu_ns_per_op,
-- redis_pipeline_ops (commands/s), redis_pipeline_node_cpu_ns_per_op.
-- CPU is the node's only; the server's is not counted.
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local benchlib = require "benchlib"

local VALUE = ("v"):rep(32)

local function kv_case(db, conc)
	local sets, gets, stop, alive = 0, 0, false, conc
	local main = {}
	for co = 1, conc do
		skynet.fork(function()
			local i = 0
			while not stop do
				i = i + 1
				local key = "bench:" .. co .. ":" .. (i % 100)
				db:set(key, VALUE)
				sets = sets + 1
				if db:get(key) ~= VALUE then
					error("bench_redis: GET returned a wrong value")
				end
				gets = gets + 1
			end
			alive = alive - 1
			if alive == 0 then
				skynet.wakeup(main)
			end
		end)
	end
	local rate, cpu_ns = benchlib.measure(function() return gets end)
	stop = true
	skynet.wait(main)
	local name = "c" .. conc
	benchlib.metric("redis_get_" .. name .. "_ops", rate, "op/s")
	benchlib.metric("redis_set_" .. name .. "_ops", rate, "op/s")
	-- measure's CPU is per GET; a GET comes with a SET
	benchlib.metric("redis_" .. name .. "_node_cpu_ns_per_op", cpu_ns / 2, "ns")
end

local function pipeline_case(db)
	local ops = {}
	for i = 1, 500 do
		local key = "bench:p:" .. i
		ops[#ops + 1] = { "set", key, VALUE }
		ops[#ops + 1] = { "get", key }
	end
	local done, stop = 0, false
	local main = {}
	skynet.fork(function()
		while not stop do
			if db:pipeline(ops) ~= VALUE then
				error("bench_redis: pipeline: wrong last reply")
			end
			done = done + #ops
		end
		skynet.wakeup(main)
	end)
	local rate, cpu_ns = benchlib.measure(function() return done end)
	stop = true
	skynet.wait(main)
	benchlib.metric("redis_pipeline_ops", rate, "op/s")
	benchlib.metric("redis_pipeline_node_cpu_ns_per_op", cpu_ns, "ns")
end

skynet.start(function()
	benchlib.guard "redis"
	local db = redis.connect { host = "127.0.0.1", port = tonumber(skynet.getenv "redis_port") }
	assert(db:ping() == "PONG")
	kv_case(db, 1)
	kv_case(db, 32)
	pipeline_case(db)
	db:disconnect()
	benchlib.finish()
end)

-- bench_send.lua -- start service of the `send` scenario.
--
-- Measures skynet.send throughput with pairs of bench_pair services that
-- bounce one message back and forth (1 message in flight per pair), first
-- with 1 pair, then with 8 pairs.  Every delivered message counts, in both
-- directions.  Metrics: send_pairsN_msgs_per_s, send_pairsN_cpu_ns_per_msg.

local skynet = require "skynet"
local benchlib = require "benchlib"

-- Starts `npairs` pairs, measures them, then stops and retires them.
local function run_case(npairs)
	local sides = {}
	for i = 1, npairs do
		local a = skynet.newservice "bench_pair"
		local b = skynet.newservice "bench_pair"
		sides[#sides + 1] = a
		sides[#sides + 1] = b
		skynet.call(a, "lua", "serve", b)
	end
	local function total()
		local sum = 0
		for _, s in ipairs(sides) do
			sum = sum + skynet.call(s, "lua", "count")
		end
		return sum
	end
	local rate, cpu_ns = benchlib.measure(total)
	for _, s in ipairs(sides) do
		skynet.call(s, "lua", "stop")
	end
	skynet.sleep(5) -- let the last balls land on stopped services
	for _, s in ipairs(sides) do
		skynet.call(s, "lua", "quit")
	end
	local name = "send_pairs" .. npairs
	benchlib.metric(name .. "_msgs_per_s", rate, "msg/s")
	benchlib.metric(name .. "_cpu_ns_per_msg", cpu_ns, "ns")
end

skynet.start(function()
	benchlib.guard "send"
	for _, n in ipairs { 1, 8 } do
		run_case(n)
	end
	benchlib.finish()
end)

-- bench_multicast.lua -- start service of the `multicast` scenario (the
-- bench kit's workload, so the figures compare with upstream's): one
-- publisher (this service) and `bench_mc_subs` (100) subscriber services on
-- one skynet.multicast channel.  Messages are published in batches of 100
-- as (batch, mark, 32-byte string); every subscriber acks the marked last
-- message of a batch; batch b is published, then the publisher waits for
-- every ack of batch b - 1 (one batch in flight bounds the queues).
-- Metrics over `bench_seconds` after `bench_warmup`:
--   multicast_subscribers, multicast_publish_per_s,
--   multicast_deliveries_per_s (publishes x subscribers),
--   multicast_cpu_ns_per_delivery (whole process)
local skynet = require "skynet"
local benchlib = require "benchlib"
local multicast = require "skynet.multicast"

local BATCH = 100
local PAYLOAD = ("m"):rep(32)

skynet.start(function()
	benchlib.guard "multicast"
	local nsub = tonumber(skynet.getenv "bench_mc_subs") or 100
	local chan = multicast.new()
	local subs = {}
	for i = 1, nsub do
		subs[i] = skynet.newservice "bench_mc_sub"
	end
	for i = 1, nsub do
		assert(skynet.call(subs[i], "lua", "sub", chan.channel, skynet.self()))
	end

	local acks = {}
	local waiting_seq, waiting_co
	skynet.dispatch("lua", function(_, _, cmd, seq)
		if cmd == "ack" then
			local n = (acks[seq] or 0) + 1
			acks[seq] = n
			if n == nsub and seq == waiting_seq then
				skynet.wakeup(waiting_co)
			end
		end
	end)
	local function wait_batch(seq)
		if (acks[seq] or 0) < nsub then
			waiting_seq, waiting_co = seq, coroutine.running()
			skynet.wait()
			waiting_seq, waiting_co = nil, nil
		end
		assert(acks[seq] == nsub)
		acks[seq] = nil
	end
	local b = 0
	local function step()
		b = b + 1
		for _ = 1, BATCH - 1 do
			chan:publish(b, false, PAYLOAD)
		end
		chan:publish(b, true, PAYLOAD)
		if b > 1 then
			wait_batch(b - 1)
		end
	end

	local tw = skynet.hpc() + benchlib.warmup * 1e9
	repeat step() until skynet.hpc() >= tw
	local a = benchlib.snapshot(function() return (b - 1) * BATCH end)
	local te = skynet.hpc() + benchlib.seconds * 1e9
	repeat step() until skynet.hpc() >= te
	local z = benchlib.snapshot(function() return (b - 1) * BATCH end)
	wait_batch(b)

	local total = 0
	for i = 1, nsub do
		total = total + skynet.call(subs[i], "lua", "count")
	end
	assert(total == b * BATCH * nsub, string.format("deliveries %d, expected %d", total, b * BATCH * nsub))
	local rate, cpu = benchlib.window(a, z)
	benchlib.metric("multicast_subscribers", nsub, "services")
	benchlib.metric("multicast_publish_per_s", rate, "msg/s")
	benchlib.metric("multicast_deliveries_per_s", rate * nsub, "deliveries/s")
	benchlib.metric("multicast_cpu_ns_per_delivery", cpu / nsub, "ns/delivery")
	for i = 1, nsub do
		skynet.send(subs[i], "lua", "exit")
	end
	skynet.sleep(20)
	benchlib.finish()
end)

-- bench_sproto.lua -- start service of the `sproto` scenario: sproto's
-- codec and RPC host in one service, no skynet messages (the same workload
-- as the bench kit's sproto scenario, so the figures compare with
-- upstream's).  A `Player` of 4 integers, a string, a boolean and an array
-- of 10 `Item`s (2 integers and a string each), from sproto.parse text.
--
-- Metrics (rates over `bench_seconds` after `bench_warmup`; CPU is the
-- process's over the same window):
--   sproto_msg_bytes, sproto_packed_bytes     size after encode, after pack
--   sproto_encode_decode_per_s                encode -> pack -> unpack -> decode cycles
--   sproto_encode_per_s, sproto_decode_per_s  encode+pack alone, unpack+decode alone
--   sproto_rpc_per_s                          client:attach request -> server:dispatch ->
--                                             response closure -> client:dispatch
--   sproto_*_cpu_ns_per_op
-- CPU-bound loops yield (skynet.sleep(0)) about every 50 ms so the node's
-- timers, the guard included, keep running.

local skynet = require "skynet"
local benchlib = require "benchlib"
local sproto = require "sproto"

local C2S = [[
.package { type 0 : integer  session 1 : integer }
.Item { id 0 : integer  count 1 : integer  name 2 : string }
.Player {
	id 0 : integer  level 1 : integer  exp 2 : integer  gold 3 : integer
	name 4 : string  online 5 : boolean  items 6 : *Item
}
save 1 { request Player  response { ok 0 : boolean  id 1 : integer } }
]]
local S2C = [[
.package { type 0 : integer  session 1 : integer }
heartbeat 1 {}
]]

local function make_player()
	local items = {}
	for i = 1, 10 do
		items[i] = { id = 1000 + i, count = i * 3, name = "item_" .. i }
	end
	return { id = 12345678, level = 60, exp = 987654321, gold = 1234567,
		name = "benchmark player", online = true, items = items }
end

local function check_player(p)
	assert(p.id == 12345678 and p.level == 60 and p.exp == 987654321 and p.gold == 1234567)
	assert(p.name == "benchmark player" and p.online == true and #p.items == 10)
	assert(p.items[10].id == 1010 and p.items[10].count == 30 and p.items[10].name == "item_10")
end

local K = 64 -- operations per step between clock reads

-- Runs step() for the warm-up, then counts it over the measured window.
local function spin(name, unit, step)
	local function run_for(secs)
		local n = 0
		local t0 = skynet.hpc()
		local last, stop = t0, t0 + secs * 1e9
		local now = t0
		while now < stop do
			step()
			n = n + K
			now = skynet.hpc()
			if now - last > 50e6 then
				skynet.sleep(0)
				last = skynet.hpc()
			end
		end
		return n
	end
	run_for(benchlib.warmup)
	local a = benchlib.snapshot(function() return 0 end)
	local n = run_for(benchlib.seconds)
	local b = benchlib.snapshot(function() return n end)
	local rate, cpu = benchlib.window(a, b)
	benchlib.metric(name .. "_per_s", rate, unit)
	benchlib.metric(name .. "_cpu_ns_per_op", cpu, "ns/op")
end

skynet.start(function()
	benchlib.guard "sproto"
	local sp, sp_s2c = sproto.parse(C2S), sproto.parse(S2C)
	local pack, unpack = sproto.pack, sproto.unpack
	local player = make_player()

	local bin = sp:encode("Player", player)
	local packed = pack(bin)
	check_player(sp:decode("Player", unpack(packed)))
	benchlib.metric("sproto_msg_bytes", #bin, "bytes")
	benchlib.metric("sproto_packed_bytes", #packed, "bytes")

	local last
	spin("sproto_encode_decode", "msg/s", function()
		for _ = 1, K do
			last = sp:decode("Player", unpack(pack(sp:encode("Player", player))))
		end
	end)
	check_player(last)
	spin("sproto_encode", "msg/s", function()
		for _ = 1, K do
			last = pack(sp:encode("Player", player))
		end
	end)
	spin("sproto_decode", "msg/s", function()
		for _ = 1, K do
			last = sp:decode("Player", unpack(packed))
		end
	end)
	check_player(last)

	local server = sp:host "package"
	local client = sp_s2c:host "package"
	local request = client:attach(sp)
	local session = 0
	spin("sproto_rpc", "rpc/s", function()
		for _ = 1, K do
			session = session + 1
			local t, name, args, respond = server:dispatch(request("save", player, session))
			assert(t == "REQUEST" and name == "save")
			local t2, s2, result = client:dispatch(respond { ok = true, id = args.id })
			assert(t2 == "RESPONSE" and s2 == session and result.ok and result.id == 12345678)
		end
	end)
	benchlib.finish()
end)

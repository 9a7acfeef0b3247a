-- harbor_node.lua -- start service of the harbor e2e test nodes
-- (test/e2e/test_harbor.sh); config key `harbor_role` says what it does.
-- Checks are logged as "PASS <name>" / "FAIL <name>: <why>" lines, which
-- the script relays; progress markers are single words the script waits for.
--   master  node 1 (runs cmaster): READY
--   server  node 2: starts harbor_echo as global name ECHO, READY
--   client  node 3: calls and sends to ECHO, then follows the failures the
--           script causes (master killed, then node 2 killed)
--   probe   a node whose master is test/e2e/harbor_peer.py (wire checks)
local skynet = require "skynet"
local harbor = require "skynet.harbor"
require "skynet.manager"

local role = skynet.getenv "harbor_role"

local function check(name, cond, why)
	if cond then
		skynet.error("PASS " .. name)
	else
		skynet.error("FAIL " .. name .. ": " .. tostring(why))
	end
end

local function raises(name, pattern, f, ...)
	local ok, err = pcall(f, ...)
	check(name, not ok and tostring(err):find(pattern, 1, true), ok and "did not raise" or err)
	return err
end

local function payload(seq, n)
	return (string.rep(string.format("%08x", seq), n // 8 + 1)):sub(1, n)
end

local ROLE = {}

function ROLE.master()
	skynet.error("READY")
end

function ROLE.server()
	local echo = skynet.newservice("harbor_echo")
	skynet.name("ECHO", echo)
	skynet.error("READY")
end

function ROLE.client()
	local h = harbor.queryname("ECHO")
	check("harbor: queryname on node 3 finds ECHO registered on node 2", h >> 24 == 2, skynet.address(h))
	local _, remote = skynet.harbor(h)
	check("harbor: skynet.harbor says the handle is remote", remote)
	local a, b = skynet.call("ECHO", "lua", "echo", "hi", 42)
	check("harbor: call by global name from node 3 to node 2", a == "hi" and b == 42, tostring(a))
	a = skynet.call(h, "lua", "echo", "by handle")
	check("harbor: call by handle", a == "by handle", tostring(a))
	local n = select("#", skynet.call(h, "lua"))
	check("harbor: a call with a 0-byte payload gets a 0-byte answer", n == 0, n)
	-- payloads from 0 bytes to 4 MiB both ways
	local sizes = { 0, 1, 7, 8, 100, 4095, 4096, 65535, 65536, 65537, 1 << 20, (1 << 20) + 3, 4 << 20 }
	local bad = {}
	for _, sz in ipairs(sizes) do
		local s = payload(sz, sz)
		local r = skynet.call(h, "lua", "echo", s)
		if r ~= s then bad[#bad + 1] = sz end
	end
	check("harbor: calls with payloads of 0 B .. 4 MiB come back intact", #bad == 0, table.concat(bad, ","))
	-- sends: empty ones, then numbered pushes of growing sizes, in order
	for _ = 1, 10 do
		skynet.send(h, "lua")
	end
	local seq = 10
	for i = 1, 2000 do
		seq = seq + 1
		local sz = (i * 37) % 3000
		if i % 250 == 0 then sz = (1 << 20) + i end
		skynet.send("ECHO", "lua", "push", seq, payload(seq, sz))
	end
	local count, ordered, intact = skynet.call(h, "lua", "result")
	check("harbor: 2,010 sends (0 B .. 1 MiB) all arrive", count == 2010, count)
	check("harbor: ... in the order they were sent", ordered)
	check("harbor: ... intact", intact)
	-- 64 coroutines calling at once
	local done, okc = 0, 0
	local co = coroutine.running()
	for i = 1, 64 do
		skynet.fork(function()
			for j = 1, 20 do
				if skynet.call(h, "lua", "echo", i * 100 + j) == i * 100 + j then okc = okc + 1 end
			end
			done = done + 1
			if done == 64 then skynet.wakeup(co) end
		end)
	end
	skynet.wait(co)
	check("harbor: 64 coroutines x 20 calls all answered correctly", okc == 1280, okc)
	raises("harbor: a call to an unknown handle on node 2 fails, not hangs", "call to :020fffff failed",
		skynet.call, 0x020fffff, "lua", "echo")
	raises("harbor: a call to a harbor id nobody has fails at once", "no such node",
		skynet.call, 0x7f000001, "lua", "echo")
	raises("harbor: queryname of a name over 15 bytes raises", "bad global name",
		harbor.queryname, "abcdefghijklmnop")
	raises("harbor: a call to a global name over 15 bytes fails", "longer than 15 bytes",
		skynet.call, "abcdefghijklmnopq", "lua", "echo")
	skynet.error("PHASE1")

	-- the script kills node 1 (the master) now
	harbor.linkmaster()
	skynet.error("MASTERDOWN")
	check("harbor: with the master gone, calls to node 2 still work",
		skynet.call(h, "lua", "echo", "still") == "still")
	raises("harbor: with the master gone, queryname of an unknown name fails", "master is down",
		harbor.queryname, "NOSUCHNAME")
	raises("harbor: with the master gone, a call to an unknown name fails", "master is down",
		skynet.call, "NOSUCH2", "lua", "echo")
	-- a call left in flight while the script kills node 2
	skynet.fork(function()
		skynet.sleep(50)
		skynet.error("INFLIGHT")
	end)
	local t0 = skynet.now()
	local err = raises("harbor: a call in flight when node 2 dies fails", "call to " .. skynet.address(h) .. " failed",
		skynet.call, h, "lua", "sleep", 3000)
	skynet.error("inflight error: " .. tostring(err))
	check("harbor: ... well before the callee would have answered", skynet.now() - t0 < 2500, skynet.now() - t0)
	raises("harbor: a later call to the dead node fails at once", "harbor 2 is down",
		skynet.call, h, "lua", "echo", 1)
	raises("harbor: a later call by name to the dead node fails at once", "harbor 2 is down",
		skynet.call, "ECHO", "lua", "echo", 1)
	skynet.error("DONE")
end

-- A node whose master and one peer harbor (id 9) are test/e2e/harbor_peer.py.
function ROLE.probe()
	local echo = skynet.newservice("harbor_echo")
	skynet.error(string.format("PROBE echo %d", echo))
	local g = harbor.queryname("GNAME")
	check("harbor peer: a name announced by the master is known", g == 0x01000009, g)
	skynet.name("PYECHO", echo)
	skynet.fork(function()
		local ok, err = pcall(harbor.queryname, "NOSUCH")
		skynet.error("PROBE noname " .. tostring(ok) .. " " .. tostring(err))
	end)
	harbor.connect(9)
	skynet.send(0x09000010, "lua", "hello", 1)
	skynet.fork(function()
		harbor.link(9)
		skynet.error("PROBE link9down")
	end)
	harbor.linkmaster()
	skynet.error("PROBE masterdown")
	skynet.sleep(20)
	check("harbor peer: the node still works after its peer and master misbehaved",
		skynet.call(echo, "lua", "echo", 5) == 5)
	skynet.error("DONE")
end

skynet.start(function()
	local f = ROLE[role]
	if not f then
		error("harbor_node: unknown harbor_role " .. tostring(role))
	end
	f()
end)

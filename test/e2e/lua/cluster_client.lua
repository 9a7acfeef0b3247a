-- cluster_client.lua -- start service of the calling node in the cluster
-- e2e tests (test/e2e/test_cluster.sh).  Config keys:
--   cluster        the node map file
--   cluster_name   if set, this node also opens itself under that name
--   cluster_test   the scenario: basic, three, fault, reload, ping, peer
--   cluster_sync   a directory shared with the shell script: the scenario
--                  writes "<dir>/<step>.ready" when it reached a step and
--                  waits for "<dir>/<step>.go" written by the script
-- Every check logs one "PASS <name>" or "FAIL <name>: <why>" line; the
-- scenario ends with "DONE" and aborts the node.

local skynet = require "skynet"
require "skynet.manager"
local cluster = require "skynet.cluster"

local format = string.format

----------------------------------------------------------------------------
-- Checks.

local function pass(name) skynet.error("PASS " .. name) end
local function fail(name, why) skynet.error("FAIL " .. name .. ": " .. tostring(why)) end

local function show(v)
	if type(v) == "string" then
		if #v > 60 then
			return format("<%d-byte string>", #v)
		end
		return format("%q", v)
	end
	return tostring(v)
end

local function same(a, b)
	if a == b then return true end
	if type(a) == "number" and type(b) == "number" and a ~= a and b ~= b then return true end -- nan
	if type(a) ~= "table" or type(b) ~= "table" then return false end
	for k, v in pairs(a) do
		if not same(v, b[k]) then return false end
	end
	for k in pairs(b) do
		if a[k] == nil then return false end
	end
	return true
end

local function ok(name, cond, why)
	if cond then pass(name) else fail(name, why or "condition is false") end
	return cond
end

local function eq(name, got, want)
	if same(got, want) and math.type(got) == math.type(want) then
		pass(name)
		return true
	end
	fail(name, "got " .. show(got) .. " (" .. tostring(math.type(got) or type(got)) .. "), want " .. show(want))
	return false
end

-- raises(name, pattern, f, ...): f must raise an error matching pattern
local function raises(name, pattern, f, ...)
	local r = table.pack(pcall(f, ...))
	if r[1] then
		fail(name, "did not raise (returned " .. show(r[2]) .. ")")
		return nil
	end
	local err = tostring(r[2])
	if not err:find(pattern) then
		fail(name, "error " .. show(err) .. " does not match " .. show(pattern))
		return err
	end
	pass(name)
	return err
end

local function now() return skynet.hpc() / 1e9 end

-- Synchronisation with the shell script.
local sync = skynet.getenv "cluster_sync"
local function ready(step)
	local f = assert(io.open(format("%s/%s.ready", sync, step), "w"))
	f:close()
	skynet.error("STEP " .. step)
end
local function wait_go(step, secs)
	local path = format("%s/%s.go", sync, step)
	for _ = 1, (secs or 30) * 20 do
		local f = io.open(path)
		if f then
			f:close()
			return true
		end
		skynet.sleep(5)
	end
	fail("sync " .. step, "the script did not answer in time")
	return false
end

-- Calls until the node answers (it may still be starting).
local function wait_node(node, secs)
	local deadline = now() + (secs or 10)
	local err
	repeat
		local okc, r = pcall(cluster.call, node, "@echo", "whoami")
		if okc then return r end
		err = r
		skynet.sleep(10)
	until now() > deadline
	fail("node " .. node .. " answers", err)
end

-- Deterministic pseudo-random binary string of n bytes.
local function blob(n, seed)
	local parts, x = {}, seed or 1
	local chunk = {}
	for i = 1, 4096 do
		x = (x * 1103515245 + 12345) % 2147483648
		chunk[i] = string.char(x % 256)
	end
	chunk = table.concat(chunk)
	for i = 1, n // 4096 do parts[i] = chunk end
	parts[#parts + 1] = chunk:sub(1, n % 4096)
	local s = table.concat(parts)
	-- vary the copies a little so a shuffled part would be noticed
	return s:sub(1, n - 8) .. string.pack("<I8", n)
end

local function digest(s)
	local sum = 0
	for i = 1, #s, 4093 do sum = (sum * 31 + s:byte(i)) % 1000000007 end
	return #s, sum, s:sub(1, 16), s:sub(-16)
end

----------------------------------------------------------------------------
-- Scenarios.

local S = {}

-- Two nodes: this one ("a", also listening) and "b".
function S.basic()
	wait_node("b")
	-- values of every kind survive the trip both ways
	local binary = {}
	for i = 0, 255 do binary[#binary + 1] = string.char(i) end
	binary = table.concat(binary) .. "\0tail\0"
	local nested = { 1, 2, { 3, { 4, { five = 5, list = { "x", "y" } } } }, name = "n", [10] = true, [-1] = false,
		[1.5] = "float key", deep = { { { { { { { { "eight" } } } } } } } } }
	local values = {
		{ "nested tables", nested },
		{ "binary string with every byte", binary },
		{ "empty string", "" },
		{ "max integer", math.maxinteger },
		{ "min integer", math.mininteger },
		{ "integer 2^53+1", (1 << 53) + 1 },
		{ "integer -2^31", -2147483648 },
		{ "integer 2^32", 4294967296 },
		{ "float 0.1", 0.1 },
		{ "float -1e300", -1e300 },
		{ "float huge", math.huge },
		{ "float pi", math.pi },
		{ "float 2.0 stays float", 2.0 },
		{ "boolean true", true },
		{ "boolean false", false },
		{ "long string 100 KiB", string.rep("abc", 34133) },
	}
	for _, v in ipairs(values) do
		eq("types: " .. v[1] .. " round-trips", cluster.call("b", "@echo", "echo", v[2]), v[2])
	end
	local r = table.pack(cluster.call("b", "@echo", "echo", 1, nil, "three", nil))
	eq("types: nil arguments keep their places (count)", r.n, 4)
	ok("types: nil arguments keep their places", r[1] == 1 and r[2] == nil and r[3] == "three" and r[4] == nil)
	r = table.pack(cluster.call("b", "@echo", "echo"))
	eq("types: no results", r.n, 0)

	-- addressing
	local handle = cluster.query("b", "echo")
	ok("query: returns the integer handle of @echo", math.type(handle) == "integer" and handle > 0, show(handle))
	local who, h = cluster.call("b", handle, "whoami")
	eq("address: numeric handle from query reaches the service", who, "b")
	eq("address: the service reports the same handle", h, handle)
	eq("address: .localname", cluster.call("b", ".echo", "echo", "dot"), "dot")
	eq("address: :hex handle string", cluster.call("b", format(":%08x", handle), "echo", "hex"), "hex")
	eq("address: @name", cluster.call("b", "@echo", "echo", "at"), "at")

	-- errors
	raises("error: remote handler raises -> caller gets its message", "boom 42", cluster.call, "b", "@echo", "fail", "boom 42")
	raises("error: unknown @name", "Invalid name", cluster.call, "b", "@nosuch", "echo")
	raises("error: unknown local name", "invalid address", cluster.call, "b", ".nosuch", "echo")
	raises("error: handle that does not exist", "invalid address", cluster.call, "b", 0x00ffff00, "echo")
	raises("error: plain string address answered with an error", "Invalid name", cluster.call, "b", "plain", "echo")
	raises("error: query of an unregistered name", "name not found", cluster.query, "b", "nosuch")
	raises("error: name longer than 255 bytes refused locally", "name length", cluster.call, "b", "@" .. string.rep("n", 300), "echo")
	local t0 = now()
	raises("error: node not in the config fails at once", "absent", cluster.call, "nowhere", "@echo", "echo")
	ok("error: ... within 1 s", now() - t0 < 1, format("%.2f s", now() - t0))
	local sok = pcall(cluster.send, "nowhere", "@echo", "push", 1)
	ok("error: cluster.send to an absent node does not raise", sok)
	eq("error: the connection still works after errors", cluster.call("b", "@echo", "echo", "still"), "still")

	-- pushes arrive, in order
	cluster.call("b", "@echo", "reset")
	for i = 1, 200 do cluster.send("b", "@echo", "push", i) end
	local pushed = cluster.call("b", "@echo", "pushed")
	local inorder = #pushed == 200
	for i = 1, 200 do inorder = inorder and pushed[i] == i end
	ok("send: 200 pushes arrive, in order, before a later call", inorder, "got " .. #pushed)
	cluster.send("b", handle, "push", "by handle")
	cluster.send("b", ".echo", "push", "by local name")
	pushed = cluster.call("b", "@echo", "pushed")
	ok("send: by handle and by .name", pushed[1] == "by handle" and pushed[2] == "by local name", show(pushed[1]))

	-- proxies
	local p1 = cluster.proxy("b", "@echo")
	eq("proxy: skynet.call through a proxy", skynet.call(p1, "lua", "echo", "via proxy", { 1, 2 }), "via proxy")
	eq("proxy: cluster.proxy(\"b@echo\") is the same cached proxy", cluster.proxy("b@echo"), p1)
	local p2 = cluster.proxy("b.echo")
	eq("proxy: cluster.proxy(\"b.echo\") reaches .echo", skynet.call(p2, "lua", "echo", "dot proxy"), "dot proxy")
	local p3 = cluster.proxy("b", tostring(handle))
	eq("proxy: numeric string name is a handle", skynet.call(p3, "lua", "echo", "num proxy"), "num proxy")
	cluster.call("b", "@echo", "reset")
	skynet.send(p1, "lua", "push", "proxied push")
	eq("proxy: skynet.send through a proxy is a push", skynet.call(p1, "lua", "pushed")[1], "proxied push")
	raises("proxy: errors come back through the proxy", "proxy boom", skynet.call, p1, "lua", "fail", "proxy boom")
	raises("proxy: malformed single-argument name", "Invalid name", cluster.proxy, "nodelimiter")

	-- register / unregister on this node, seen from b (b relays to us)
	local me = skynet.self()
	cluster.register("client")
	eq("register: b reaches @client on this node", cluster.call("b", "@echo", "relay", "a", "@client", "whoami?"), "hello from a")
	raises("register: a taken name is refused", "already registered", cluster.register, "client", me)
	cluster.register("client2")
	raises("register: a new name for the same service drops the old one", "Invalid name",
		cluster.call, "b", "@echo", "relay", "a", "@client", "whoami?")
	eq("register: ... and the new name works", cluster.call("b", "@echo", "relay", "a", "@client2", "whoami?"), "hello from a")
	cluster.unregister("client2")
	raises("unregister: the name is gone", "Invalid name", cluster.call, "b", "@echo", "relay", "a", "@client2", "whoami?")
	local okq = pcall(cluster.unregister, "never registered")
	ok("unregister: an unknown name is a no-op", okq)

	-- multi-part boundaries: payload sizes around 0x8000 and 0x10000
	local allok, bad = true, nil
	for _, base in ipairs { 0x8000, 0x10000 } do
		for n = base - 8, base + 4 do
			local s = string.rep("m", n)
			local got = cluster.call("b", "@echo", "echo", s)
			if got ~= s then allok, bad = false, n end
		end
	end
	ok("multi-part: requests and responses around 0x8000 / 0x10000 bytes", allok, "size " .. tostring(bad))

	-- 32 MiB both ways
	local big = blob(32 * 1024 * 1024, 7)
	local n, sum, head, tail = cluster.call("b", "@echo", "digest", big)
	local wn, wsum, whead, wtail = digest(big)
	ok("32 MiB: request arrives intact", n == wn and sum == wsum and head == whead and tail == wtail,
		format("got %s bytes, sum %s", show(n), show(sum)))
	local echoed = cluster.call("b", "@echo", "echo", big)
	ok("32 MiB: echoed back intact", echoed == big, "got " .. show(echoed))
	echoed = nil
	big = nil
	collectgarbage()

	-- 1,000 concurrent calls from 64 coroutines
	local total, wrong, finished = 0, 0, 0
	local main = coroutine.running()
	local per = { }
	for c = 1, 64 do per[c] = 1000 // 64 + (c <= 1000 % 64 and 1 or 0) end
	for c = 1, 64 do
		skynet.fork(function()
			for i = 1, per[c] do
				local key = c * 100000 + i
				local okc, a, b = pcall(cluster.call, "b", "@echo", "echo", key, { key = key })
				total = total + 1
				if not okc or a ~= key or type(b) ~= "table" or b.key ~= key then wrong = wrong + 1 end
			end
			finished = finished + 1
			if finished == 64 then skynet.wakeup(main) end
		end)
	end
	skynet.wait(main)
	ok("concurrency: 1,000 calls from 64 coroutines, every answer right", total == 1000 and wrong == 0,
		format("%d calls, %d wrong", total, wrong))

	-- a call to a service that sleeps does not hold up the others
	local slow_done = false
	skynet.fork(function()
		cluster.call("b", "@echo", "sleep", 100, "slow")
		slow_done = true
	end)
	skynet.sleep(1)
	eq("concurrency: a fast call overtakes a slow one on the same connection",
		cluster.call("b", "@echo", "echo", "fast"), "fast")
	ok("concurrency: ... while the slow one is still running", not slow_done)
end

-- Three nodes: this one ("a"), "b" and "c"; b and c call each other too.
function S.three()
	cluster.register("client")
	eq("three: b answers", wait_node("b"), "b")
	eq("three: c answers", wait_node("c"), "c")
	eq("three: a -> b -> c (b calls c for us)", cluster.call("b", "@echo", "relay", "c", "@echo", "whoami"), "c")
	eq("three: a -> c -> b", cluster.call("c", "@echo", "relay", "b", "@echo", "whoami"), "b")
	eq("three: a -> b -> c -> a", cluster.call("b", "@echo", "relay", "c", "@echo", "relay", "a", "@client", "whoami?"),
		"hello from a")
	local hb, hc = cluster.query("b", "echo"), cluster.query("c", "echo")
	ok("three: query on both nodes", hb > 0 and hc > 0)
	-- concurrent traffic to both
	local done, wrong = 0, 0
	local main = coroutine.running()
	for cidx = 1, 32 do
		skynet.fork(function()
			for i = 1, 20 do
				local node = (i + cidx) % 2 == 0 and "b" or "c"
				local who = cluster.call(node, "@echo", "whoami")
				if who ~= node then wrong = wrong + 1 end
			end
			done = done + 1
			if done == 32 then skynet.wakeup(main) end
		end)
	end
	skynet.wait(main)
	eq("three: 640 interleaved calls to b and c reach the right node", wrong, 0)
end

-- Faults: the script kills b (kill -9) while calls are in flight, then
-- restarts it.
function S.fault()
	wait_node("b")
	local n, failed, answered = 8, 0, 0
	local errs = {}
	local t_kill
	for i = 1, n do
		skynet.fork(function()
			local okc, r = pcall(cluster.call, "b", "@echo", "sleep", 3000, i)
			if okc then answered = answered + 1 else failed = failed + 1; errs[#errs + 1] = r end
		end)
	end
	skynet.sleep(20)
	ready("inflight") -- the script kills b now
	wait_go("killed")
	t_kill = now()
	while failed + answered < n and now() - t_kill < 10 do skynet.sleep(1) end
	eq("fault: every call in flight fails when the node dies", failed, n)
	ok("fault: ... within 3 s of the kill", now() - t_kill < 3, format("%.2f s", now() - t_kill))
	ok("fault: ... with an error saying the connection broke", errs[1] and (errs[1]:find "closed" or errs[1]:find "broken"),
		show(errs[1]))
	-- the node is down: calls fail at once, and do not hang
	local t0 = now()
	local err = raises("fault: a call to the dead node fails", "cluster node %[b%]", cluster.call, "b", "@echo", "whoami")
	ok("fault: ... at once (under 2 s)", now() - t0 < 2, format("%.2f s", now() - t0))
	ok("fault: ... saying the connect failed", err and err:find "connect", show(err))
	t0 = now()
	raises("fault: a second call fails too (one connect attempt each)", "connect", cluster.call, "b", "@echo", "whoami")
	ok("fault: ... at once", now() - t0 < 2)
	ok("fault: cluster.send to the dead node does not raise", pcall(cluster.send, "b", "@echo", "push", 1))
	ready("down") -- the script restarts b now
	wait_go("restarted")
	local who
	t0 = now()
	repeat
		local okc, r = pcall(cluster.call, "b", "@echo", "whoami")
		if okc then who = r else skynet.sleep(5) end
	until who or now() - t0 > 10
	eq("fault: the next call after the restart reconnects", who, "b")
	eq("fault: and calls keep working", cluster.call("b", "@echo", "echo", "again"), "again")
end

-- cluster.reload: "b" moves to another address (a second server, which
-- calls itself "b2"), is set to false, then comes back.
function S.reload()
	eq("reload: b answers at its first address", wait_node("b"), "b")
	local b2 = assert(skynet.getenv "cluster_b2", "cluster_b2 not set")
	cluster.reload { b = b2 }
	eq("reload: a changed address takes effect for the next call", cluster.call("b", "@echo", "whoami"), "b2")
	cluster.reload { b = false }
	local t0 = now()
	raises("reload: a node set to false fails at once", "down", cluster.call, "b", "@echo", "whoami")
	ok("reload: ... without waiting", now() - t0 < 1)
	local b1 = assert(skynet.getenv "cluster_b1")
	cluster.reload { b = b1 }
	eq("reload: back at the first address", cluster.call("b", "@echo", "whoami"), "b")
	-- with __nowaiting = false (upstream's default) a call to an unknown
	-- node waits for the reload that names it
	cluster.reload { __nowaiting = false }
	local got, waited
	skynet.fork(function()
		local t = now()
		got = cluster.call("late", "@echo", "whoami")
		waited = now() - t
	end)
	skynet.sleep(30)
	ok("reload: __nowaiting = false: a call to an unknown node waits", got == nil)
	cluster.reload { late = b1 }
	for _ = 1, 100 do
		if got then break end
		skynet.sleep(5)
	end
	eq("reload: ... and goes through once a reload names the node", got, "b")
	ok("reload: ... after waiting for it", waited and waited >= 0.25, tostring(waited))
	cluster.reload { __nowaiting = true }
	-- rewrite the cluster file so that "b" points at b2
	local path = assert(skynet.getenv "cluster")
	local f = assert(io.open(path, "w"))
	f:write(format("b = %q\n", b2))
	f:close()
	-- a new node appears with reload
	raises("reload: unknown node before", "absent", cluster.call, "later", "@echo", "whoami")
	cluster.reload { later = b2 }
	eq("reload: a node added by reload is reachable", cluster.call("later", "@echo", "whoami"), "b2")
	-- reload() re-reads the config file, which the script rewrote to point "b" at b2
	cluster.reload()
	eq("reload: reload() re-reads the cluster file", cluster.call("b", "@echo", "whoami"), "b2")
end

-- A node written in Python from the wire format (test/e2e/cluster_peer.py
-- listen) as node "py".
function S.peer()
	local t0, r = now(), nil
	repeat
		local okc, v = pcall(cluster.call, "py", "@pyecho", "hello", 1, { 2, 3 })
		if okc then r = v else skynet.sleep(10) end
	until r or now() - t0 > 10
	eq("peer: python node answers a call by name", r, "hello")
	local a, b, c = cluster.call("py", "@pyecho", "x", -5, { k = "v" })
	ok("peer: arguments come back (python echoes the payload bytes)", a == "x" and b == -5 and c.k == "v")
	eq("peer: query a python-registered name", cluster.query("py", "pyecho"), 1234)
	eq("peer: call by the queried handle", cluster.call("py", 1234, "by handle"), "by handle")
	local big = blob(200000, 3)
	eq("peer: multi-part request and response with a python node", cluster.call("py", "@pyecho", big), big)
	raises("peer: a python error response becomes an error", "no such service", cluster.call, "py", "@other", "x")
	raises("peer: python's unknown-name answer to a query", "name not found", cluster.query, "py", "nosuch")
	cluster.send("py", "@pyecho", "a push")
	eq("peer: a call after a push", cluster.call("py", "@pyecho", "after push"), "after push")
end

-- Nodes in separate network namespaces: this one ("a") and "b", each with
-- its own address; both directions.
function S.netns()
	cluster.register("client")
	eq("netns: b answers across the veth pair", wait_node("b"), "b")
	eq("netns: b calls back to a at a's own address", cluster.call("b", "@echo", "relay", "a", "@client", "whoami?"),
		"hello from a")
	local h = cluster.query("b", "echo")
	eq("netns: call by queried handle", cluster.call("b", h, "echo", "handle"), "handle")
	cluster.call("b", "@echo", "reset")
	for i = 1, 50 do cluster.send("b", "@echo", "push", i) end
	eq("netns: 50 pushes delivered", cluster.call("b", "@echo", "count"), 50)
	local big = blob(3 * 1024 * 1024, 5)
	eq("netns: 3 MiB round trip", cluster.call("b", "@echo", "echo", big), big)
end

-- Byte-for-byte checks of skynet.cluster.core against known-good frames of
-- upstream's wire format (no other node needed).
function S.wire()
	local core = require "skynet.cluster.core"
	local function hex(str)
		return (str:gsub(".", function(ch) return format("%02x", ch:byte()) end))
	end
	local function bytes(h) return (h:gsub("%s", ""):gsub("..", function(x) return string.char(tonumber(x, 16)) end)) end
	local function same_bytes(name, got, want_hex)
		local want = bytes(want_hex)
		if got == want then pass(name) else fail(name, "got " .. hex(got) .. ", want " .. hex(want)) end
	end
	local P = skynet.packstring
	local f, n, parts = core.packrequest(0x0a, 1, P("PING", 1))
	same_bytes("wire: call by handle", f, "00 10 00 0a000000 01000000 24 50494e47 0a01")
	eq("wire: the session counter moves to 2", n, 2)
	same_bytes("wire: response", core.packresponse(1, true, P("PING", 1)), "00 0c 01000000 01 24 50494e47 0a01")
	same_bytes("wire: call by name", core.packrequest("@echo", 2, P("hi")), "00 0e 80 05 4065 63686f 02000000 14 6869")
	same_bytes("wire: upstream sender's first request", core.packrequest("@svc", 1, P("hello", 1)),
		"00 12 80 04 40 73 76 63 01 00 00 00 2c 68 65 6c 6c 6f 0a 01")
	same_bytes("wire: call by local name", core.packrequest(".echo", 6, P("viaLocalName")),
		"00 18 80 05 2e 65 63 68 6f 06 00 00 00 64 76 69 61 4c 6f 63 61 6c 4e 61 6d 65")
	f, n = core.packpush(0x0a, 7, P("PUSHED", 7))
	same_bytes("wire: push by handle (session 0)", f, "00 12 00 0a 00 00 00 00 00 00 00 34 50 55 53 48 45 44 0a 07")
	eq("wire: a whole push does not consume a session", n, 7)
	same_bytes("wire: push by name", (core.packpush("@svc", 3, P("pushed"))),
		"00 11 80 04 40 73 76 63 00 00 00 00 34 70 75 73 68 65 64")
	same_bytes("wire: name query", core.packrequest(0, 3, P("echo")), "00 0e 00 00 00 00 00 03 00 00 00 24 65 63 68 6f")
	same_bytes("wire: query answer", core.packresponse(3, true, P(10)), "00 07 03 00 00 00 01 0a 0a")
	same_bytes("wire: unknown name", core.packresponse(4, false, "name not found"),
		"00 13 04 00 00 00 00 6e 61 6d 65 20 6e 6f 74 20 66 6f 75 6e 64")
	same_bytes("wire: Invalid name", core.packresponse(5, false, "Invalid name"),
		"00 11 05 00 00 00 00 49 6e 76 61 6c 69 64 20 6e 61 6d 65")
	-- 8.7: a 40003-byte response
	local payload = P(string.rep("B", 40000))
	eq("wire: payload is 40003 bytes", #payload, 40003)
	f, parts = core.packresponse(8, true, payload)
	same_bytes("wire: begin frame", f, "00 09 08 00 00 00 02 43 9c 00 00")
	eq("wire: two data frames", parts and #parts, 2)
	same_bytes("wire: middle frame header", parts[1]:sub(1, 10), "80 05 08 00 00 00 03 15 40 9c")
	eq("wire: middle frame size", #parts[1], 32775)
	same_bytes("wire: last frame header", parts[2]:sub(1, 7), "1c 48 08 00 00 00 04")
	eq("wire: last frame size", #parts[2], 7242)
	-- 8.8: a 40011-byte request
	payload = P("ECHOBIG", string.rep("Q", 40000))
	f, n, parts = core.packrequest(0x0a, 9, payload)
	same_bytes("wire: start frame", f, "00 0d 01 0a 00 00 00 09 00 00 00 4b 9c 00 00")
	eq("wire: next session", n, 10)
	same_bytes("wire: part header", parts[1]:sub(1, 7), "80 05 02 09 00 00 00")
	same_bytes("wire: last part header", parts[2]:sub(1, 7), "1c 50 03 09 00 00 00")
	eq("wire: last part size", #parts[2], 7250)
	f, n = core.packpush("@svc", 9, payload)
	same_bytes("wire: multi-part push by name", f, "00 0e c1 04 40 73 76 63 09 00 00 00 4b 9c 00 00")
	eq("wire: a multi-part push consumes its session", n, 10)
	same_bytes("wire: trace frame", core.packtrace("(test-trace)"), "00 0d 04 28 74 65 73 74 2d 74 72 61 63 65 29")
	-- boundaries
	f, n, parts = core.packrequest(1, 1, string.rep("x", 0x7fff))
	ok("wire: a 0x7fff-byte request is whole", parts == nil and #f == 0x7fff + 11)
	f, n, parts = core.packrequest(1, 1, string.rep("x", 0x8000))
	ok("wire: a 0x8000-byte request is a start frame and one last part",
		parts and #parts == 1 and parts[1]:byte(3) == 3 and #parts[1] == 0x8007)
	f, n, parts = core.packrequest(1, 1, string.rep("x", 0x10000))
	ok("wire: 0x10000 bytes -> one 0x02 part and one 0x03 part",
		parts and #parts == 2 and parts[1]:byte(3) == 2 and parts[2]:byte(3) == 3)
	f, parts = core.packresponse(1, true, string.rep("x", 0x8000))
	ok("wire: a 0x8000-byte response is still whole (length 0x8005)", parts == nil and f:sub(1, 2) == "\x80\x05")
	f, parts = core.packresponse(1, false, string.rep("e", 0x9000))
	ok("wire: error texts are truncated to 0x8000 bytes, never split", parts == nil and #f == 0x8000 + 7)
	eq("wire: session 0x7fffffff wraps to 1", select(2, core.packrequest(1, 0x7fffffff, "")), 1)
	raises("wire: names over 255 bytes are refused", "name length", core.packrequest, string.rep("n", 256), 1, "")
	-- decoding
	local tag, addr, session, pl = core.unpackrequest(bytes("80 05 40 65 63 68 6f 02 00 00 00 14 68 69"))
	ok("wire: decode a request by name", tag == 0x80 and addr == "@echo" and session == 2 and pl == P("hi"))
	local s2, t2, d2 = core.unpackresponse(bytes("04 00 00 00 00 6e 61 6d 65"))
	ok("wire: decode an error response", s2 == 4 and t2 == 0 and d2 == "name")
	raises("wire: unknown tag 0x07 is refused", "invalid tag 0x07", core.unpackrequest, bytes("07 00"))
	raises("wire: response type 9 is refused", "invalid type 9", core.unpackresponse, bytes("01 00 00 00 09"))
	-- the sender's path (packfast + batch) writes the same bytes as packrequest
	local wb = core.wbuf()
	local ptr, sz = core.packfast("@echo", skynet.pack("hi"))
	wb:request(ptr, sz, 2, false)
	skynet.trash(ptr, sz)
	ptr, sz = wb:take()
	same_bytes("wire: packfast + batch = packrequest", skynet.tostring(ptr, sz), "00 0e 80 05 4065 63686f 02000000 14 6869")
	skynet.trash(ptr, sz)
end

-- Listeners that break the protocol (cluster_peer.py badlisten): nodes
-- "garbage", "impossible", "half", "halfmulti" each answer the first
-- connection badly.  Every call waiting on that connection must fail in
-- bounded time saying why, and the next call must reconnect and work.
-- Config: cluster_read_timeout (centiseconds).
function S.protocol()
	local read_timeout = tonumber(skynet.getenv "cluster_read_timeout") / 100
	local kinds = {
		{ "garbage", "malformed response: invalid type", 0, 1 },
		{ "impossible", "malformed response: invalid type 9", 0, 1 },
		{ "half", "half a frame", read_timeout, read_timeout + 2 },
		{ "halfmulti", "multi%-part response for session %d+ unfinished", read_timeout, read_timeout + 2 },
	}
	for _, k in ipairs(kinds) do
		local node, pattern, least, most = k[1], k[2], k[3], k[4]
		-- three calls wait on the connection when the bad answer arrives
		local errs, done = {}, 0
		local t0 = now()
		for i = 1, 3 do
			skynet.fork(function()
				local okc, err = pcall(cluster.call, node, "@pyecho", "call", i)
				errs[i] = okc and "(no error)" or err
				done = done + 1
			end)
			skynet.yield()
		end
		while done < 3 and now() - t0 < most + 5 do skynet.sleep(2) end
		local took = now() - t0
		ok(format("protocol %s: every waiting call fails", node), done == 3, format("%d of 3 after %.1f s", done, took))
		ok(format("protocol %s: ... within %.1f s", node, most), took <= most, format("%.2f s", took))
		ok(format("protocol %s: ... not before %.1f s", node, least), took >= least * 0.9, format("%.2f s", took))
		local all = true
		for i = 1, 3 do
			all = all and type(errs[i]) == "string" and errs[i]:find(format("cluster node %%[%s%%] 127.0.0.1:%%d+: protocol error: ", node))
				and errs[i]:find(pattern) ~= nil
		end
		ok(format("protocol %s: each error names the node and says \"protocol error: %s\"", node, pattern), all, show(errs[1]))
		eq(format("protocol %s: the next call reconnects and is served", node), cluster.call(node, "@pyecho", "again"), "again")
	end
end

-- A real peer during a flood of idle connections to node "b": once the
-- script says the flood is on (flood.go), call b every 0.1 s until it says
-- the flood is over (flood-end.go).
function S.flood()
	wait_go("flood", 60)
	local n, failed, first = 0, 0, nil
	local t0 = now()
	repeat
		local okc, r = pcall(cluster.call, "b", "@echo", "echo", n)
		if not okc or r ~= n then
			failed = failed + 1
			first = first or tostring(r)
		end
		n = n + 1
		skynet.sleep(10)
	until io.open(sync .. "/flood-end.go") or now() - t0 > 90
	ok(format("flood: a real peer made %d calls during the flood", n), n >= 5, tostring(n))
	ok("flood: every one was served", failed == 0, format("%d failed, first: %s", failed, tostring(first)))
end

-- Deadlines and the heartbeat (cluster_heartbeat = 0.5 s in the config):
-- "b" is our server node (frozen with SIGSTOP by the script, then thawed),
-- "mute" a python listener that never answers, "py" a python listener as
-- an upstream node behaves (answers the probe's name query with an error).
function S.heartbeat()
	local SI = require "skynet.internal"
	wait_node("b")
	-- cluster.call_timeout
	eq("call_timeout: a reply in time", cluster.call_timeout(300, "b", "@echo", "sleep", 5, "in time"), "in time")
	local t0 = now()
	raises("call_timeout: shorter than the remote handler", "call to cluster node %[b%] timed out after 20 cs",
		cluster.call_timeout, 20, "b", "@echo", "sleep", 80, "late")
	ok("call_timeout: ... raised after the timeout", now() - t0 >= 0.15 and now() - t0 < 0.8, format("%.2f s", now() - t0))
	local late0 = select(3, SI.call_stats())
	local deadline = now() + 5
	while select(3, SI.call_stats()) == late0 and now() < deadline do skynet.sleep(5) end
	eq("call_timeout: the late response is dropped and counted", select(3, SI.call_stats()) - late0, 1)
	eq("call_timeout: a later call gets its own reply", cluster.call("b", "@echo", "echo", "own"), "own")

	-- a listener that accepts and never answers: not responding
	t0 = now()
	raises("mute peer: the call fails", "cluster node %[mute%] [^ ]+ is not responding", cluster.call, "mute", "@echo", "echo", 1)
	ok("mute peer: ... after the probe went unanswered (1 to 5 s)", now() - t0 >= 0.9 and now() - t0 < 5, format("%.2f s", now() - t0))

	-- an upstream-like listener answers the probe: an idle connection lives on
	eq("upstream-like peer: a call", cluster.call("py", "@pyecho", "x"), "x")
	skynet.sleep(250) -- five heartbeats without a call
	eq("upstream-like peer: the same connection still serves after idle heartbeats", cluster.call("py", "@pyecho", "y"), "y")

	-- a frozen node: every call in flight fails, saying so
	local n, errs = 8, {}
	for i = 1, n do
		skynet.fork(function()
			local okc, r = pcall(cluster.call, "b", "@echo", "sleep", 50, i)
			errs[#errs + 1] = okc and "answered" or r
		end)
	end
	ready("freeze") -- the script stops b (SIGSTOP) now
	wait_go("frozen")
	t0 = now()
	while #errs < n and now() - t0 < 10 do skynet.sleep(5) end
	eq("frozen node: every call in flight ends", #errs, n)
	local all = #errs == n
	for _, e in ipairs(errs) do
		if not tostring(e):find("cluster node %[b%] [^ ]+ is not responding") then all = false end
	end
	ok("frozen node: ... each failing with 'cluster node [b] ... is not responding'", all, show(errs[1]))
	ok("frozen node: ... within 5 s", now() - t0 < 5, format("%.2f s", now() - t0))
	ready("thaw") -- the script continues b (SIGCONT) now
	wait_go("thawed")
	eq("thawed node: the next call reconnects", cluster.call("b", "@echo", "echo", "back"), "back")
end

-- The cluster secret (test/e2e/test_cluster_secret.sh).  Nodes: "s" a
-- server with the secret, "n" a server without one, "reflect" a python
-- listener that sends our own proof back; "self" / "selfn" are this node
-- (opened under cluster_name).  This node's cluster_secret is right
-- (secret), wrong (secret_wrong) or unset (secret_none).
local function serve_self(name)
	local e = skynet.newservice("cluster_echo", name)
	cluster.register("echo", e)
end

function S.secret()
	eq("secret: a call to a node with the same secret", cluster.call("s", "@echo", "echo", "hi"), "hi")
	local big = blob(100000, 7)
	eq("secret: a multi-part call both ways", table.pack(cluster.call("s", "@echo", "digest", big)),
		table.pack(digest(big)))
	cluster.send("s", "@echo", "push", "after the handshake")
	eq("secret: a push is served", cluster.call("s", "@echo", "pushed"), { "after the handshake" })
	serve_self("self")
	eq("secret: this node calls itself through the cluster, with the secret", cluster.call("self", "@echo", "whoami"), "self")
	raises("secret: a listener without a secret is refused (no challenge)",
		"cluster node %[n%] [^ ]+ .*no cluster_secret challenge", cluster.call, "n", "@echo", "echo", 1)
	raises("secret: a listener that sends our proof back is refused",
		"cluster node %[reflect%] [^ ]+ refused the connection: it does not know our cluster_secret", cluster.call,
		"reflect", "@pyecho", "x")
end

function S.secret_wrong()
	for i = 1, 2 do
		raises("secret_wrong: the call fails, saying the peer refused the secret (" .. i .. ")",
			"cluster node %[s%] [^ ]+ refused the connection: bad cluster secret", cluster.call, "s", "@echo", "echo", 1)
	end
end

function S.secret_none()
	raises("secret_none: a call to a node with a secret fails, saying so",
		"cluster node %[s%] [^ ]+ refused the connection: it requires a cluster secret, and cluster_secret is not set on this node",
		cluster.call, "s", "@echo", "echo", 1)
	eq("secret_none: a node without a secret is called as before", cluster.call("n", "@echo", "echo", "plain"), "plain")
	serve_self("selfn")
	eq("secret_none: this node calls itself through the cluster, no secret", cluster.call("selfn", "@echo", "whoami"),
		"selfn")
end

-- One call, to check a node still serves (after the malformed-peer tests).
function S.ping()
	eq("ping: b still serves", wait_node("b", 10), "b")
end

skynet.start(function()
	local name = skynet.getenv "cluster_name"
	if name then
		cluster.open(name)
	end
	skynet.dispatch("lua", function(_, _, cmd)
		if cmd == "whoami?" then
			skynet.retpack("hello from " .. tostring(name))
		else
			error("cluster_client: unknown command " .. tostring(cmd))
		end
	end)
	local test = assert(skynet.getenv "cluster_test", "cluster_test not set")
	skynet.fork(function()
		local okr, err = xpcall(S[test], debug.traceback)
		if not okr then
			fail("scenario " .. test, err)
		end
		skynet.error("DONE")
		skynet.sleep(5)
		skynet.abort()
	end)
end)

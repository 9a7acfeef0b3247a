-- skynet.dns: an asynchronous resolver over UDP (spec/api-http-websocket-dns.md §8).
--
--   dns.server(ip, port)        nameserver (default: the first of resolv.conf, port 53)
--   dns.resolve(name, ipv6) -> ip, {ips}    an IP literal -> itself (one value)
--                           -> nil, "illegal name"
--                           raises "dns: <name>: timeout or no answer (<why>)"
--   dns.flush()                 forget every cached answer
--   dns.DEFAULT_HOSTS, dns.DEFAULT_RESOLV_CONF   files (nil: not used)
--   dns.timeout                 centiseconds a lookup may take (default 3000)
--
-- Packets are built and parsed in C (skynet.webcore: lualib-src/dns_msg.c).
-- Differences from upstream, on purpose: dns.server takes effect at once;
-- the cache is a plain table with TTLs (upstream's weak tables drop entries
-- at any GC); a reply with an error RCODE, no usable answer, a truncated
-- reply without answers, or a malformed reply fails its lookup at once
-- with the reason instead of waiting for the timeout; the query is sent
-- again every dns.retry centiseconds (default 500) while no reply came.
local skynet = require "skynet"
local socket = require "skynet.socket"
local core = require "skynet.webcore"

local format, lower = string.format, string.lower
local min = math.min

local dns = {}

dns.DEFAULT_HOSTS = "/etc/hosts"
dns.DEFAULT_RESOLV_CONF = "/etc/resolv.conf"
dns.timeout = 3000
dns.retry = 500

local TYPE_A, TYPE_AAAA = 1, 28
local type_name = {[TYPE_A] = "A", [TYPE_AAAA] = "AAAA"}
local rcode_name = {[1] = "FORMERR", [2] = "SERVFAIL", [3] = "NXDOMAIN", [4] = "NOTIMP", [5] = "REFUSED"}
local IDLE_CLOSE = 6000 -- cs without a query before the UDP socket is closed

-- nameserver ------------------------------------------------------------------

local server_ip, server_port -- configured (nil: from resolv.conf)
local udp                    -- {id, ip, port, last} while open

local function resolv_conf_server()
	local path = dns.DEFAULT_RESOLV_CONF
	local f = path and io.open(path)
	if f then
		for line in f:lines() do
			local ip = line:match "^%s*nameserver%s+([^%s#;]+)"
			if ip then
				f:close()
				return ip
			end
		end
		f:close()
	end
	error(format("dns: no nameserver set and none found in %s", tostring(path)))
end

local function close_udp()
	if udp then
		skynet.error(format("Udp server close %s:%s (%d)", udp.ip, udp.port, udp.id))
		socket.close(udp.id)
		udp = nil
	end
end

function dns.server(ip, port)
	server_ip, server_port = ip, port
	close_udp() -- the next query goes to the new server
end

-- cache and hosts -------------------------------------------------------------

-- cache[qtype][name] = {expire = cs, ips = {...}}
local cache = {[TYPE_A] = {}, [TYPE_AAAA] = {}}
local hosts -- hosts[qtype][name] = {ips}, read once

function dns.flush()
	cache[TYPE_A] = {}
	cache[TYPE_AAAA] = {}
end

local function load_hosts()
	hosts = {[TYPE_A] = {}, [TYPE_AAAA] = {}}
	local path = dns.DEFAULT_HOSTS
	local f = path and io.open(path)
	if not f then
		return
	end
	for line in f:lines() do
		line = line:gsub("[#;].*", "")
		local ip, names = line:match "^%s*(%S+)%s+(.-)%s*$"
		if ip then
			local t = hosts[ip:find(":", 1, true) and TYPE_AAAA or TYPE_A]
			for name in names:gmatch "%S+" do
				name = lower(name)
				local list = t[name]
				if not list then
					list = {}
					t[name] = list
				end
				list[#list + 1] = ip
			end
		end
	end
	f:close()
end

-- queries ---------------------------------------------------------------------

local pending = {} -- tid -> request {name, qtype, co, err, done}
local next_tid = 0

local function alloc_tid()
	for _ = 1, 65536 do
		next_tid = next_tid % 65535 + 1
		if not pending[next_tid] then
			return next_tid
		end
	end
	error "dns: 65535 queries in flight"
end

local function finish(req, err)
	if not req.done then
		req.done = true
		req.err = err
		pending[req.tid] = nil
		skynet.wakeup(req.co)
	end
end

local function on_reply(data)
	local r, why, tid = core.dns_reply(data)
	if not r then
		skynet.error("Recv an invalid package when dns query: " .. why)
		local req = tid and pending[tid]
		if req then
			finish(req, "malformed reply: " .. why)
		end
		return
	end
	local req = pending[r.id]
	if not req then
		return -- late reply to a finished lookup, or not ours
	end
	if r.qname ~= req.name or r.qtype ~= req.qtype then
		skynet.error("Recv an invalid name when dns query: " .. r.qname)
		finish(req, format("the reply is for %s, not %s", r.qname, req.name))
		return
	end
	if r.rcode ~= 0 then
		finish(req, rcode_name[r.rcode] or ("rcode " .. r.rcode))
		return
	end
	-- every A and AAAA address of the reply is cached under the question name
	local now = skynet.now()
	local found = {[TYPE_A] = {}, [TYPE_AAAA] = {}}
	local ttl = {}
	for _, a in ipairs(r.answers) do
		local list = found[a.type]
		list[#list + 1] = a.ip
		ttl[a.type] = min(ttl[a.type] or a.ttl, a.ttl)
	end
	for qtype, list in pairs(found) do
		if #list > 0 then
			cache[qtype][r.qname] = {expire = now + ttl[qtype] * 100, ips = list}
		end
	end
	if #found[req.qtype] > 0 then
		finish(req)
	elseif r.tc then
		finish(req, "truncated reply without an answer (no TCP fallback)")
	else
		finish(req, "no " .. type_name[req.qtype] .. " record")
	end
end

local function open_udp()
	if udp then
		return udp
	end
	local ip = server_ip or resolv_conf_server()
	local port = server_port or 53
	local id = socket.udp(function(data) on_reply(data) end)
	socket.udp_connect(id, ip, port)
	local u = {id = id, ip = ip, port = port, last = skynet.now()}
	udp = u
	skynet.error(format("Udp server open %s:%s (%d)", ip, port, id))
	-- close the socket once it has been idle for a while
	local function check()
		if udp ~= u then
			return
		end
		if next(pending) == nil and skynet.now() - u.last >= IDLE_CLOSE then
			close_udp()
			return
		end
		skynet.timeout(IDLE_CLOSE, check)
	end
	skynet.timeout(IDLE_CLOSE, check)
	return u
end

local function query(name, qtype)
	local u = open_udp()
	local tid = alloc_tid()
	local packet = core.dns_query(tid, name, qtype)
	local req = {tid = tid, name = name, qtype = qtype, co = coroutine.running()}
	pending[tid] = req
	u.last = skynet.now()
	socket.write(u.id, packet)
	local timeout, retry = dns.timeout, dns.retry
	local started = skynet.now()
	local function tick()
		if req.done then
			return
		end
		local waited = skynet.now() - started
		if waited >= timeout then
			skynet.error(format("DNS query %s timeout", name))
			finish(req, format("no reply from %s:%s within %.2f s", u.ip, u.port, timeout / 100))
			return
		end
		if udp == u and waited > 0 then
			socket.write(u.id, packet) -- lost on the way, maybe
		end
		skynet.timeout(min(retry, timeout - waited), tick)
	end
	skynet.timeout(min(retry, timeout), tick)
	skynet.wait(req.co)
	return req.err
end

-- resolve ----------------------------------------------------------------------

local function valid_name(name)
	if #name == 0 or #name > 253 or not name:match "^[_a-z0-9%.%-]+$" then
		return false
	end
	for label in (name .. "."):gmatch "([^%.]*)%." do
		if #label == 0 or #label > 63 then
			return false
		end
	end
	return true
end

local function answer(entry)
	return entry.ips[1], entry.ips
end

function dns.resolve(name, ipv6)
	name = lower(name)
	if name:match "^[%d%.]+$" or name:find(":", 1, true) then
		return name
	end
	if name:sub(-1) == "." then
		name = name:sub(1, -2)
	end
	if not valid_name(name) then
		return nil, "illegal name"
	end
	local qtype = ipv6 and TYPE_AAAA or TYPE_A
	if not hosts then
		load_hosts()
	end
	local h = hosts[qtype][name]
	if h then
		return h[1], h
	end
	local entry = cache[qtype][name]
	if entry and entry.expire > skynet.now() then
		return answer(entry)
	end
	local err = query(name, qtype)
	entry = cache[qtype][name]
	if not err and entry then
		return answer(entry)
	end
	if entry and err and err:find("^no reply") then
		return answer(entry) -- expired, but better than nothing
	end
	error(format("dns: %s (%s): timeout or no answer (%s)", name, type_name[qtype], err or "no record"))
end

return dns

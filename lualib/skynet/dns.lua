-- skynet.dns: an asynchronous resolver over UDP, with TCP for truncated
-- replies (spec/api-http-websocket-dns.md §8).
--
--   dns.server(ip, port)        one nameserver (port 53 by default)
--   dns.server{"ip", "ip:port", "[v6]:port", ...}   several, asked in order
--   dns.server(nil, port)       every nameserver of resolv.conf (the default;
--                               port 53 unless given)
--   dns.resolve(name, ipv6) -> ip, {ips}    an IP literal -> itself (one value)
--                           -> nil, "illegal name"
--                           raises "dns: <name> (A): timeout or no answer (<why>)"
--   dns.flush()                 forget every cached answer
--   dns.DEFAULT_HOSTS, dns.DEFAULT_RESOLV_CONF   files (nil: not used)
--   dns.timeout                 centiseconds a lookup of one name may take (3000)
--   dns.retry                   centiseconds one nameserver has to answer
--                               before the query goes to the next (500)
--
-- Packets are built and parsed in C (skynet.webcore: lualib-src/dns_msg.c).
-- Differences from upstream, on purpose: dns.server takes effect at once;
-- the cache is a plain table with TTLs (upstream's weak tables drop entries
-- at any GC); a reply with an error RCODE, no usable answer or a malformed
-- reply fails its lookup at once with the reason instead of waiting for the
-- timeout (SERVFAIL, NOTIMP and REFUSED first go on to the next
-- nameserver); a truncated reply (TC) is asked again over TCP; every
-- nameserver of resolv.conf is used, the next when one is silent for
-- dns.retry; resolv.conf's search/domain list and ndots option apply as in
-- glibc (see resolve_names).
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

-- configuration -------------------------------------------------------------

local configured -- {{ip=, port=}...} from dns.server(ip|list); nil: resolv.conf
local conf_port = 53 -- port of resolv.conf's nameservers (dns.server(nil, port))
local conf       -- what resolv.conf says: read at first use, again after
                 -- dns.server() or a change of dns.DEFAULT_RESOLV_CONF
local udp = {}   -- "ip#port" -> {id, ip, port, key, last} while open

-- resolv.conf, as glibc reads it: every `nameserver` line (glibc keeps the
-- first three; we keep them all), the last `search` or `domain` line (a
-- domain line is a one-entry search list), `options ndots:n` (default 1,
-- at most 15); other options are ignored.
local function read_conf()
	local path = dns.DEFAULT_RESOLV_CONF
	if conf and conf.path == path then
		return conf
	end
	local c = {path = path, servers = {}, search = {}, ndots = 1}
	local f = path and io.open(path)
	if f then
		for line in f:lines() do
			local key, rest = line:gsub("[#;].*", ""):match "^%s*(%a+)%s+(.-)%s*$"
			if key == "nameserver" then
				c.servers[#c.servers + 1] = rest:match "^%S+"
			elseif key == "search" or key == "domain" then
				local list = {}
				for d in rest:gmatch "%S+" do
					list[#list + 1] = lower(d):gsub("%.$", "")
				end
				c.search = key == "domain" and {list[1]} or list
			elseif key == "options" then
				for opt in rest:gmatch "%S+" do
					local n = opt:match "^ndots:(%d+)$"
					if n then
						c.ndots = min(tonumber(n), 15)
					end
				end
			end
		end
		f:close()
	end
	conf = c
	return c
end

local function server_list()
	if configured then
		return configured
	end
	local c = read_conf()
	if not c.list or c.list_port ~= conf_port then
		local list = {}
		for i, ip in ipairs(c.servers) do
			list[i] = {ip = ip, port = conf_port}
		end
		c.list, c.list_port = list, conf_port
	end
	if #c.list == 0 then
		error(format("dns: no nameserver set and none found in %s", tostring(c.path)))
	end
	return c.list
end

local function close_udp(u)
	skynet.error(format("Udp server close %s:%s (%d)", u.ip, u.port, u.id))
	socket.close(u.id)
	udp[u.key] = nil
end

local function close_all()
	for _, u in pairs(udp) do
		close_udp(u)
	end
end

-- "1.2.3.4", "1.2.3.4:53", "[::1]:53", "::1" or {ip, port} -> {ip=, port=}
local function parse_server(s)
	if type(s) == "table" then
		return {ip = s[1] or s.ip, port = tonumber(s[2] or s.port) or 53}
	end
	local ip, port = s:match "^%[(.+)%]:?(%d*)$"
	if not ip then
		ip, port = s:match "^([^:]+):?(%d*)$"
	end
	return {ip = ip or s, port = tonumber(port) or 53}
end

function dns.server(ip, port)
	if type(ip) == "table" then
		local list = {}
		for i, s in ipairs(ip) do
			list[i] = parse_server(s)
		end
		configured = #list > 0 and list or nil
	elseif ip then
		configured = {{ip = ip, port = port or 53}}
	else
		configured = nil
		conf_port = port or 53
	end
	conf = nil -- resolv.conf is read again
	close_all() -- the next query goes to the new servers
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

-- replies -----------------------------------------------------------------------

local pending = {} -- tid -> request {tid, name, qtype, co, reply, waiting}
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

-- hands a reply (or {why = ...}) to the lookup waiting for it
local function deliver(req, reply)
	if req.reply == nil then
		req.reply = reply
		if req.waiting then
			req.waiting = false
			skynet.wakeup(req.co)
		end
	end
end

local function on_reply(data)
	local r, why, tid = core.dns_reply(data)
	if not r then
		skynet.error("Recv an invalid package when dns query: " .. why)
		local req = tid and pending[tid]
		if req then
			deliver(req, {why = "malformed reply: " .. why})
		end
		return
	end
	local req = pending[r.id]
	if req then
		deliver(req, r)
	end -- else: a late reply to a finished lookup, or not ours
end

-- Waits until a reply is delivered or ti cs pass; returns the reply or nil.
local function wait_reply(req, ti)
	if req.reply == nil then
		local round = {}
		req.round = round
		skynet.timeout(ti, function()
			if req.round == round and req.waiting then
				req.waiting = false
				skynet.wakeup(req.co)
			end
		end)
		req.waiting = true
		skynet.wait(req.co)
		req.round = nil
	end
	local r = req.reply
	req.reply = nil
	return r
end

-- Caches every A and AAAA address of a reply under its question name;
-- returns nil when it holds the asked type, else why not.
local function take_answers(r, qtype)
	local now = skynet.now()
	local found = {[TYPE_A] = {}, [TYPE_AAAA] = {}}
	local ttl = {}
	for _, a in ipairs(r.answers) do
		local list = found[a.type]
		list[#list + 1] = a.ip
		ttl[a.type] = min(ttl[a.type] or a.ttl, a.ttl)
	end
	for t, list in pairs(found) do
		if #list > 0 then
			cache[t][r.qname] = {expire = now + ttl[t] * 100, ips = list}
		end
	end
	if #found[qtype] > 0 then
		return nil
	end
	return "no " .. type_name[qtype] .. " record"
end

-- transports ----------------------------------------------------------------------

local function open_udp(srv)
	local key = srv.ip .. "#" .. srv.port
	local u = udp[key]
	if u then
		return u
	end
	local id = socket.udp_dial(srv.ip, srv.port, function(data) on_reply(data) end)
	u = {id = id, ip = srv.ip, port = srv.port, key = key, last = skynet.now()}
	udp[key] = u
	skynet.error(format("Udp server open %s:%s (%d)", srv.ip, srv.port, id))
	-- close the socket once it has been idle for a while
	local function check()
		if udp[key] ~= u then
			return
		end
		if next(pending) == nil and skynet.now() - u.last >= IDLE_CLOSE then
			close_udp(u)
			return
		end
		skynet.timeout(IDLE_CLOSE, check)
	end
	skynet.timeout(IDLE_CLOSE, check)
	return u
end

local function send_udp(srv, packet)
	local ok, u = pcall(open_udp, srv)
	if ok then
		u.last = skynet.now()
		socket.write(u.id, packet)
	end
end

-- RFC 1035 §4.2.2 / RFC 7766: the query again over TCP, each message after
-- its 2-byte length.  Returns the reply's bytes, or nil, why not and
-- whether the deadline passed.
local function query_tcp(srv, packet, deadline)
	local left = deadline - skynet.now()
	if left <= 0 then
		return nil, "no time left for TCP", true
	end
	local fd, err = socket.open(srv.ip, srv.port, left)
	if not fd then
		return nil, format("TCP to %s:%s: %s", srv.ip, srv.port, tostring(err))
	end
	local done, late = false, false
	skynet.timeout(deadline - skynet.now(), function()
		if not done then
			late = true
			socket.close(fd)
		end
	end)
	socket.write(fd, string.pack(">s2", packet))
	local len, data = socket.read(fd, 2), nil
	if len then
		local n = string.unpack(">I2", len)
		data = n > 0 and socket.read(fd, n)
	end
	done = true
	socket.close(fd)
	if not data then
		return nil, format("TCP to %s:%s: %s", srv.ip, srv.port, late and "no answer in time" or "closed without an answer"), late
	end
	return data
end

-- lookup ----------------------------------------------------------------------

-- RCODEs after which glibc asks the next nameserver
local try_next = {[2] = true, [4] = true, [5] = true} -- SERVFAIL, NOTIMP, REFUSED

-- Asks for one name: returns nil when the answer is cached, else why not
-- and whether nobody answered (then glibc stops a search list).
local function lookup(name, qtype)
	local servers = server_list()
	local nserver = #servers
	local tid = alloc_tid()
	local packet = core.dns_query(tid, name, qtype)
	local req = {tid = tid, name = name, qtype = qtype, co = coroutine.running()}
	pending[tid] = req
	local deadline = skynet.now() + dns.timeout
	local idx, failed = 1, 0 -- server to ask, servers that gave an error RCODE
	local err, silent
	while true do
		local left = deadline - skynet.now()
		if left <= 0 then
			skynet.error(format("DNS query %s timeout", name))
			local names = {}
			for i, srv in ipairs(servers) do
				names[i] = srv.ip .. ":" .. srv.port
			end
			err = format("no reply from %s within %.2f s", table.concat(names, ", "), dns.timeout / 100)
			silent = true
			break
		end
		local srv = servers[idx]
		send_udp(srv, packet)
		local r = wait_reply(req, min(dns.retry, left))
		if r == nil then
			idx = idx % nserver + 1 -- silent: the next one (or this one again)
		elseif r.why then
			err = r.why
			break
		elseif r.qname ~= name or r.qtype ~= qtype then
			skynet.error("Recv an invalid name when dns query: " .. r.qname)
			err = format("the reply is for %s, not %s", r.qname, name)
			break
		elseif r.rcode ~= 0 then
			err = rcode_name[r.rcode] or ("rcode " .. r.rcode)
			failed = failed + 1
			if not try_next[r.rcode] or failed >= nserver then
				break
			end
			idx = idx % nserver + 1
		elseif r.tc then
			-- truncated: the whole answer over TCP from the same server;
			-- what the UDP reply held is kept in case TCP fails
			local udp_err = take_answers(r, qtype)
			local data, why, late = query_tcp(srv, packet, deadline)
			local t = data and core.dns_reply(data)
			if t and t.id == tid and t.qname == name and t.qtype == qtype and t.rcode == 0 then
				err = take_answers(t, qtype)
			elseif udp_err then
				err = "truncated reply without an answer, and " .. (why or "TCP gave no usable reply")
				silent = late
			end
			break
		else
			err = take_answers(r, qtype)
			break
		end
	end
	pending[tid] = nil
	return err, silent
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

-- The names to ask for `name`, in order, as glibc's res_nsearch: a name
-- with a trailing dot only as is; one with at least ndots dots as is
-- first, then under each search domain; one with fewer, under each domain
-- first, then as is.
local function resolve_names(name, absolute)
	if absolute then
		return {name}
	end
	local c = read_conf()
	local search = c.search
	if #search == 0 then
		return {name}
	end
	local names = {}
	local _, dots = name:gsub("%.", "")
	if dots >= c.ndots then
		names[1] = name
	end
	for _, d in ipairs(search) do
		local full = name .. "." .. d
		if #full <= 253 then
			names[#names + 1] = full
		end
	end
	if dots < c.ndots then
		names[#names + 1] = name
	end
	return names
end

local function answer(entry)
	return entry.ips[1], entry.ips
end

function dns.resolve(name, ipv6)
	name = lower(name)
	if name:match "^[%d%.]+$" or name:find(":", 1, true) then
		return name
	end
	local absolute = false
	if name:sub(-1) == "." then
		name = name:sub(1, -2)
		absolute = true
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
	local names = resolve_names(name, absolute)
	local errs = {}
	local now = skynet.now()
	for _, n in ipairs(names) do
		local entry = cache[qtype][n]
		if entry and entry.expire > now then
			return answer(entry)
		end
	end
	for _, n in ipairs(names) do
		local err, silent = lookup(n, qtype)
		local entry = cache[qtype][n]
		if not err and entry then
			return answer(entry)
		end
		if entry and silent then
			return answer(entry) -- expired, but better than nothing
		end
		errs[#errs + 1] = #names > 1 and (n .. ": " .. err) or err
		if silent then
			break -- nobody answered: glibc ends the search there
		end
	end
	error(format("dns: %s (%s): timeout or no answer (%s)", name, type_name[qtype], table.concat(errs, "; ")))
end

return dns

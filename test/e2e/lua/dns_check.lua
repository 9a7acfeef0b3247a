-- dns_check.lua -- started by test/e2e/test_dns.sh against the fake DNS
-- server test/e2e/dns_server.py (config key dns_port): A/AAAA, the hosts
-- file, TTL caching, CNAME, errors that fail fast, malformed replies,
-- truncated replies asked again over TCP, a server that never answers,
-- several nameservers (silent, refusing), resolv.conf's search/domain and
-- ndots, httpc.dns.
local skynet = require "skynet"
local socket = require "skynet.socket"
local dns = require "skynet.dns"
local httpc = require "http.httpc"
local httpd = require "http.httpd"
local sockethelper = require "http.sockethelper"
local T = require "testlib"

-- queries the fake server saw for name (on every address, UDP and TCP);
-- the trailing dot keeps the search list out of it
local function count(name)
	return tonumber((dns.resolve("count-" .. name .. ".")):match "%d+$")
end

T.run("dns_check", function()
	local port = tonumber(skynet.getenv "dns_port")
	local hostsfile = skynet.getenv "dns_hosts"
	local f = assert(io.open(hostsfile, "w"))
	f:write("# test hosts\n127.0.0.1\tlocalhost myhost.local # comment\n10.9.9.9 MultiName ; other comment\n::1 localhost ip6-localhost\n")
	f:close()
	dns.DEFAULT_HOSTS = hostsfile
	-- the machine's resolv.conf (its search list) stays out of the checks
	local resolvfile = hostsfile .. ".resolv"
	local function resolv_conf(text)
		local rf = assert(io.open(resolvfile, "w"))
		rf:write(text)
		rf:close()
		dns.DEFAULT_RESOLV_CONF = resolvfile
		dns.server(nil, port) -- its nameservers, on the fake server's port
		dns.flush()
	end
	resolv_conf "nameserver 127.0.0.1\n"
	dns.server("127.0.0.1", port)

	T.deq("literal IPv4 returns itself (one value)", { dns.resolve "1.2.3.4" }, { "1.2.3.4" })
	T.deq("literal IPv6 returns itself", { dns.resolve("::1", true) }, { "::1" })
	T.deq("illegal name", { dns.resolve "bad name!" }, { nil, "illegal name" })
	T.deq("64-byte label is illegal", { dns.resolve(("a"):rep(64) .. ".test") }, { nil, "illegal name" })
	T.deq("hosts: localhost", { dns.resolve "LOCALHOST" }, { "127.0.0.1", { "127.0.0.1" } })
	T.deq("hosts: mixed-case name", { dns.resolve "multiname" }, { "10.9.9.9", { "10.9.9.9" } })
	T.deq("hosts: IPv6 entry", { dns.resolve("ip6-localhost", true) }, { "::1", { "::1" } })

	T.deq("A: two records", { dns.resolve "a.test" }, { "1.2.3.4", { "1.2.3.4", "5.6.7.8" } })
	T.deq("A: trailing dot", { dns.resolve "a.test." }, { "1.2.3.4", { "1.2.3.4", "5.6.7.8" } })
	local before = count "a.test"
	dns.resolve "a.test"
	T.eq("cache: a second lookup sends no query", count "a.test", before)
	dns.flush()
	dns.resolve "a.test"
	T.eq("flush: the next lookup queries again", count "a.test", before + 1)
	dns.resolve "ttl0.test"
	dns.resolve "ttl0.test"
	T.eq("TTL 0: every lookup queries", count "ttl0.test", 2)
	dns.resolve "short.test"
	dns.resolve "short.test"
	T.eq("TTL 1: cached within the second", count "short.test", 1)
	skynet.sleep(120)
	dns.resolve "short.test"
	T.eq("TTL 1: queried again after it", count "short.test", 2)
	T.deq("AAAA", { dns.resolve("v6.test", true) }, { "2001:db8:0:0:0:0:0:1", { "2001:db8:0:0:0:0:0:1" } })
	T.eq("both families in one reply: A", dns.resolve "both.test", "10.0.0.3")
	T.eq("both families in one reply: AAAA served from the cache", dns.resolve("both.test", true), "2001:db8:0:0:0:0:0:3")
	T.eq("both families: one query", count "both.test", 1)
	T.eq("CNAME skipped, A kept", dns.resolve "cname.test", "10.0.0.4")
	T.deq("truncated reply: asked again over TCP, every answer", { dns.resolve "trunca.test" }, { "10.0.0.5", { "10.0.0.5", "10.0.0.55" } })
	T.eq("truncated reply without an answer: TCP answers", dns.resolve "trunc.test", "10.0.0.8")
	T.eq("truncated reply, TCP closes without an answer: the UDP answer is used", dns.resolve "truncnotcp.test", "10.0.0.9")
	T.eq("TCP: one query per truncated lookup", count "trunc.test", 2)

	local function fails_fast(name, want, ipv6)
		local t0 = skynet.now()
		T.raises("fails at once: " .. name, { "timeout or no answer", want }, dns.resolve, name, ipv6)
		T.ok("fails at once: " .. name .. " (in " .. (skynet.now() - t0) .. " cs)", skynet.now() - t0 < 100)
	end
	fails_fast("nx.test", "NXDOMAIN")
	fails_fast("servfail.test", "SERVFAIL")
	fails_fast("empty.test", "no A record")
	fails_fast("v6.test", "no A record")
	fails_fast("malformed.test", "malformed")
	fails_fast("loop.test", "malformed")
	fails_fast("wrongname.test", "other.test")

	dns.timeout = 150
	local t0 = skynet.now()
	T.raises("a server that never answers: timeout", { "timeout or no answer", "no reply from 127.0.0.1:" .. port, "1.50 s" }, dns.resolve, "silent.test")
	local el = skynet.now() - t0
	T.ok("timeout after dns.timeout (" .. el .. " cs)", el >= 140 and el < 400)
	T.raises("a 5-byte reply is dropped: timeout", "no reply", dns.resolve, "tiny.test")
	T.ok("the silent server got the query resent", count "silent.test" >= 1)
	T.raises("truncated reply and a silent TCP server: timeout naming TCP", { "timeout or no answer", "truncated", "TCP" }, dns.resolve, "truncsilent.test")

	-- concurrent lookups
	local results, n = {}, 0
	for i = 1, 20 do
		skynet.fork(function()
			results[i] = dns.resolve(i % 2 == 0 and "a.test" or "web.test")
			n = n + 1
		end)
	end
	T.waitfor(function() return n == 20 end, 300)
	T.ok("20 concurrent lookups", n == 20 and results[1] == "127.0.0.1" and results[2] == "1.2.3.4")

	-- dns.server change takes effect at once
	dns.server("127.0.0.1", 1)
	dns.flush()
	dns.timeout = 100
	T.raises("dns.server: a new server is used at once", "timeout or no answer", dns.resolve, "a.test")
	dns.server("127.0.0.1", port)
	T.eq("dns.server: and back", dns.resolve "a.test", "1.2.3.4")

	-- several nameservers (resolv.conf lines or a list): the next one is
	-- asked when one is silent for dns.retry, or refuses
	dns.timeout, dns.retry = 1000, 50
	local before = count "web.test"
	resolv_conf "nameserver 127.0.0.2\nnameserver 127.0.0.1\n"
	t0 = skynet.now()
	T.eq("resolv.conf: the second nameserver answers when the first is silent", dns.resolve "web.test", "127.0.0.1")
	el = skynet.now() - t0
	T.ok("resolv.conf: ... after the first one's dns.retry (" .. el .. " cs)", el >= 45, el)
	resolv_conf "nameserver 127.0.0.3\nnameserver 127.0.0.1\n"
	t0 = skynet.now()
	T.eq("resolv.conf: a nameserver that refuses: the next one answers", dns.resolve "web.test", "127.0.0.1")
	el = skynet.now() - t0
	T.ok("resolv.conf: ... at once (" .. el .. " cs)", el < 45, el)
	resolv_conf "nameserver 127.0.0.3\n"
	T.raises("resolv.conf: every nameserver refuses: REFUSED", { "timeout or no answer", "REFUSED" }, dns.resolve, "web.test")
	dns.server("127.0.0.1", port)
	T.eq("resolv.conf: the silent nameserver was asked first", count "web.test", before + 3)
	dns.server { "127.0.0.2:" .. port, "127.0.0.1:" .. port }
	dns.flush()
	t0 = skynet.now()
	T.eq("dns.server{list}: the second answers when the first is silent", dns.resolve "web.test", "127.0.0.1")
	T.ok("dns.server{list}: ... after dns.retry", skynet.now() - t0 >= 45, skynet.now() - t0)
	dns.server { "127.0.0.2:" .. port, "127.0.0.2:" .. port }
	dns.timeout = 150
	T.raises("dns.server{list}: all silent: timeout naming them", { "timeout or no answer", "127.0.0.2:" .. port }, dns.resolve, "a.test")
	dns.timeout = 1000

	-- search / domain / ndots (glibc's rules)
	resolv_conf "nameserver 127.0.0.1\nsearch test other.test\n"
	T.eq("search: a name without a dot gets the first domain", dns.resolve "srch", "10.0.0.6")
	T.eq("search: no record under the first domain: the next one", dns.resolve "ONLYOTHER", "10.0.0.10")
	local e = T.raises("search: nothing anywhere: each form named", { "dns: nosuch (A)", "nosuch.test", "nosuch.other.test", "nosuch:" }, dns.resolve, "nosuch")
	T.ok("search: ... tried in order, the name as is last", e and e:find("nosuch.test.-nosuch.other.test.-nosuch:"), e)
	local b = count "srch.test"
	dns.resolve "srch"
	T.eq("search: the answer is cached under the full name", count "srch.test", b)
	b = count "a.test.test"
	T.eq("search: a name with ndots (1) dots is tried as is first", dns.resolve "a.test", "1.2.3.4")
	T.eq("search: ... and not under a domain", count "a.test.test", b)
	e = T.raises("search: a trailing dot is absolute", "dns: srch (A)", dns.resolve, "srch.")
	T.ok("search: ... no domain tried", e and not e:find("srch.test", 1, true), e)
	T.deq("search: the hosts file is read for the name as given", { dns.resolve "myhost.local" }, { "127.0.0.1", { "127.0.0.1" } })
	resolv_conf "nameserver 127.0.0.1\nsearch test\noptions rotate ndots:2\n"
	b = count "a.test.test"
	T.eq("ndots:2: a one-dot name still resolves", dns.resolve "a.test", "1.2.3.4")
	T.eq("ndots:2: ... after its search form was asked", count "a.test.test", b + 1)
	resolv_conf "nameserver 127.0.0.1\nsearch test\ndomain other.test\n"
	T.eq("the last of search/domain wins", dns.resolve "srch", "10.0.0.7")
	resolv_conf "nameserver 127.0.0.1\n"
	T.raises("no search line: a dotless name is asked as is", { "dns: srch (A)", "no A record" }, dns.resolve, "srch")
	dns.server("127.0.0.1", port)
	dns.timeout, dns.retry = 3000, 500

	-- httpc.dns: host names through skynet.dns
	local lid, _, wport = socket.listen("127.0.0.1", 0)
	socket.start(lid, function(fd)
		skynet.fork(function()
			socket.start(fd)
			local code, url = httpd.read_request(sockethelper.readfunc(fd))
			httpd.write_response(sockethelper.writefunc(fd), code or 400, "via dns " .. tostring(url))
			socket.close(fd)
		end)
	end)
	httpc.dns("127.0.0.1", port)
	T.deq("httpc.dns: a host name resolved by skynet.dns", { httpc.get("web.test:" .. wport, "/x") }, { 200, "via dns /x" })
	T.raises("httpc.dns: an illegal name", "bad_host!x dns resolve failed msg:illegal name", httpc.get, "bad_host!x", "/")
	T.raises("httpc.dns: NXDOMAIN", "NXDOMAIN", httpc.get, "nx.test:" .. wport, "/")
end)

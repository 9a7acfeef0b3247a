-- A small web server (upstream's examples/simpleweb.lua):
--   ./skynet examples/config.simpleweb     then  curl 'http://127.0.0.1:8001/a%20b?x=1'
-- The main service listens (config keys simpleweb_address, default
-- 0.0.0.0, simpleweb_port, default 8001, simpleweb_protocol, "http" or
-- "https") and hands every connection to one of 20 agents, round robin.
-- An agent answers each request with what it understood of it: host,
-- decoded path, query fields, header fields and body.  Unlike upstream it
-- keeps a connection open for the next request (HTTP/1.1 keep-alive, or
-- "Connection: keep-alive" from an HTTP/1.0 client) until the client
-- closes it, asks for close, or stays idle for simpleweb_idle seconds
-- (default 30).  https: certfile / keyfile config keys (PEM files).
local skynet = require "skynet"
local socket = require "skynet.socket"
local httpd = require "http.httpd"
local sockethelper = require "http.sockethelper"
local urllib = require "http.url"

local mode, protocol = ...
protocol = protocol or "http"

local BODY_LIMIT = 8192
local server_ctx -- https: one SSL_CTX per agent

-- the transport of one connection: read, write, close
local function transport(id)
	if protocol == "http" then
		return {
			read = sockethelper.readfunc(id),
			write = sockethelper.writefunc(id),
			close = function() socket.close(id) end,
		}
	end
	local tls = require "http.tlshelper"
	if not server_ctx then
		local certfile = skynet.getenv "certfile" or "./server-cert.pem"
		local keyfile = skynet.getenv "keyfile" or "./server-key.pem"
		skynet.error(certfile, keyfile)
		local ctx = tls.newctx()
		ctx:set_cert(certfile, keyfile)
		server_ctx = ctx
	end
	local t = tls.newtls("server", server_ctx)
	tls.init_responsefunc(id, t)()
	return {
		read = tls.readfunc(id, t),
		write = tls.writefunc(id, t),
		close = function()
			socket.close(id)
			tls.closefunc(t)()
		end,
	}
end

local function describe(url, header, body)
	local tmp = {}
	if header.host then
		tmp[#tmp + 1] = string.format("host: %s", header.host)
	end
	local path, query = urllib.parse(url)
	tmp[#tmp + 1] = string.format("path: %s", path)
	if query then
		local q = urllib.parse_query(query)
		for k, v in pairs(q) do
			tmp[#tmp + 1] = string.format("query: %s= %s", k, v)
		end
	end
	tmp[#tmp + 1] = "-----header----"
	for k, v in pairs(header) do
		tmp[#tmp + 1] = string.format("%s = %s", k, v)
	end
	tmp[#tmp + 1] = "-----body----\n" .. body
	return table.concat(tmp, "\n")
end

-- true when the client wants the connection kept after this request
local function keep_alive(header, minor)
	local c = header.connection
	c = type(c) == "string" and c:lower() or ""
	if minor == 1 then
		return not c:find("close", 1, true)
	end
	return c:find("keep-alive", 1, true) ~= nil
end

local function serve(id)
	local ok, t = pcall(transport, id)
	if not ok then
		skynet.error(string.format("fd = %d, tls: %s", id, t))
		socket.close(id)
		return
	end
	local idle = (tonumber(skynet.getenv "simpleweb_idle") or 30) * 100
	local served, done = 0, false
	while true do
		-- an idle keep-alive connection is shut down after `idle`
		local mark = served
		if served > 0 then
			skynet.timeout(idle, function()
				if not done and served == mark then
					socket.shutdown(id)
				end
			end)
		end
		local code, url, _, header, body, minor = httpd.read_request(t.read, BODY_LIMIT)
		served = served + 1
		if not code then
			if url == sockethelper.socket_error then
				if mark == 0 then
					skynet.error("socket closed")
				end
			else
				skynet.error(url)
			end
			break
		end
		local keep = code == 200 and keep_alive(header, minor)
		local respheader = keep and minor == 0 and {connection = "keep-alive"} or nil
		local wok, err
		if code ~= 200 then
			wok, err = httpd.write_response(t.write, code)
		else
			wok, err = httpd.write_response(t.write, code, describe(url, header, body), respheader)
		end
		if not wok then
			skynet.error(string.format("fd = %d, %s", id, err))
			break
		end
		if not keep then
			break
		end
	end
	done = true
	t.close()
end

if mode == "agent" then
	skynet.start(function()
		skynet.dispatch("lua", function(_, _, id)
			socket.start(id)
			serve(id)
		end)
	end)
else
	skynet.start(function()
		protocol = skynet.getenv "simpleweb_protocol" or "http"
		local agent = {}
		for i = 1, 20 do
			agent[i] = skynet.newservice(SERVICE_NAME, "agent", protocol)
		end
		local balance = 1
		local address = skynet.getenv "simpleweb_address" or "0.0.0.0"
		local port = tonumber(skynet.getenv "simpleweb_port") or 8001
		local id = socket.listen(address, port)
		skynet.error(string.format("Listen web port %d protocol:%s", port, protocol))
		socket.start(id, function(fd, addr)
			skynet.error(string.format("%s connected, pass it to agent :%08x", addr, agent[balance]))
			skynet.send(agent[balance], "lua", fd)
			balance = balance + 1
			if balance > #agent then
				balance = 1
			end
		end)
	end)
end

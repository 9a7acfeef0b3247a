-- http.httpc: an HTTP/1.1 client (spec/api-http-websocket-dns.md §5).
--
--   request(method, host, url, recvheader, header, content) -> status, body
--   get(host, url, recvheader, header, content), post(host, url, form, recvheader)
--   head(host, url, recvheader, header, content) -> status
--   request_stream(method, host, url, recvheader, header, content) -> stream
--   dns(server, port): resolve host names with skynet.dns (IPv4)
--   timeout: module field, centiseconds, nil = none
--
-- One connection per call, closed when the call ends, whatever way it ends
-- (upstream leaks the socket when a check after connecting raises).  With
-- httpc.timeout the whole call, connect included, must end within it: the
-- connect gets what is left of the budget and the socket is shut down at
-- the deadline, so a blocked read raises
-- "[Socket Error] : read failed fd = <id>".
local skynet = require "skynet"
local socket = require "skynet.socket"
local internal = require "http.internal"
local sockethelper = require "http.sockethelper"

local error, tostring, tonumber, pcall, pairs, select = error, tostring, tonumber, pcall, pairs, select
local format, lower, concat = string.format, string.lower, table.concat

local httpc = {}

local default_port = {http = 80, https = 443}

local async_dns
local client_ctx -- one TLS client context per service, made at the first https call

function httpc.dns(server, port)
	async_dns = require "skynet.dns"
	async_dns.server(server, port)
end

-- host string -> scheme, connect host, port, Host header value
local function parse_host(host)
	local scheme = "http"
	local s, rest = host:match "^(%a+)://(.*)$"
	if s then
		scheme, host = lower(s), rest
	end
	local hostname, port
	local ncolon = select(2, host:gsub(":", ""))
	if ncolon >= 2 then
		hostname, port = host:match "^%[([^%]]+)%]:?(%d*)$"
		if not hostname then
			error(format("Invalid host: bare IPv6 address '%s', use '[%s]' instead", host, host))
		end
	elseif ncolon == 1 then
		hostname, port = host:match "^([^:]*):(%d+)$"
		if not hostname then
			error("Invalid host: " .. host)
		end
	else
		hostname = host
	end
	port = tonumber(port)
	if not port then
		port = default_port[scheme]
		if not port then
			error("Invalid protocol: " .. scheme)
		end
	end
	return scheme, hostname, port, host
end

local function is_literal(hostname)
	return hostname:match "^%d+%.%d+%.%d+%.%d+$" or hostname:find(":", 1, true)
end

-- Opens the connection and the transport (plain or TLS): returns the
-- socket id, an iface {read, write, readall}, the Host value and a close
-- function.  From the connect on, the socket is shut down at the deadline
-- unless state.done is set by then (so the TLS handshake is timed too).
local function open(host, deadline, state)
	local scheme, hostname, port, hostheader = parse_host(host)
	if scheme ~= "http" and scheme ~= "https" then
		error("Invalid protocol: " .. scheme)
	end
	local addr = hostname
	if async_dns and not is_literal(hostname) then
		local ip, msg = async_dns.resolve(hostname)
		if not ip then
			error(format("%s dns resolve failed msg:%s", hostname, msg))
		end
		addr = ip
	end
	local left
	if deadline then
		left = deadline - skynet.now()
		if left <= 0 then
			left = 1
		end
	end
	local fd = sockethelper.connect(addr, port, left)
	if deadline then
		left = deadline - skynet.now()
		skynet.timeout(left > 0 and left or 0, function()
			if not state.done then
				socket.shutdown(fd)
			end
		end)
	end
	local closed = false
	local iface
	local ok, err = pcall(function()
		if scheme == "https" then
			local tls = require "http.tlshelper"
			client_ctx = client_ctx or tls.newctx()
			local t = tls.newtls("client", client_ctx, not is_literal(hostname) and hostname or nil)
			tls.init_requestfunc(fd, t)(not is_literal(hostname) and hostname or nil)
			local closetls = tls.closefunc(t)
			iface = {
				read = tls.readfunc(fd, t),
				write = tls.writefunc(fd, t),
				readall = tls.readallfunc(fd, t),
				close = closetls,
			}
		else
			iface = {
				read = sockethelper.readfunc(fd),
				write = sockethelper.writefunc(fd),
				readall = function()
					return socket.readall(fd)
				end,
			}
		end
	end)
	local function close()
		if not closed then
			closed = true
			socket.close(fd)
			if iface and iface.close then
				iface.close()
			end
		end
	end
	if not ok then
		state.done = true -- the id may be reused before the deadline
		close()
		error(err, 0)
	end
	return fd, iface, hostheader, close
end

-- Runs f(iface, hostheader) on a fresh connection with the deadline armed;
-- the connection is closed afterwards unless f returns keep = true (then
-- the caller gets close).
local function with_connection(host, f)
	local timeout = httpc.timeout
	local deadline = timeout and skynet.now() + timeout
	local state = {done = false}
	local _, iface, hostheader, close = open(host, deadline, state)
	local disarm = function() state.done = true end
	local ok, a, b, keep = pcall(f, iface, hostheader, disarm)
	if not ok or not keep then
		state.done = true
		close()
	end
	if not ok then
		error(a, 0)
	end
	return a, b, close
end

function httpc.request(method, host, url, recvheader, header, content)
	local code, body = with_connection(host, function(iface, hostheader)
		local code, body, h = internal.request(iface, method, hostheader, url, recvheader, header, content)
		if method == "HEAD" then
			return code, ""
		end
		return code, internal.response(iface, code, body, h)
	end)
	return code, body
end

function httpc.head(host, url, recvheader, header, content)
	return (httpc.request("HEAD", host, url, recvheader, header, content))
end

function httpc.get(...)
	return httpc.request("GET", ...)
end

local function escape(s)
	return (s:gsub("[^%w_]", function(c)
		return format("%%%02X", c:byte())
	end))
end

function httpc.post(host, url, form, recvheader)
	local header = {["content-type"] = "application/x-www-form-urlencoded"}
	local body = {}
	for k, v in pairs(form) do
		body[#body + 1] = format("%s=%s", escape(tostring(k)), escape(tostring(v)))
	end
	return httpc.request("POST", host, url, recvheader, header, concat(body, "&"))
end

-- The stream owns the connection: it is closed when the stream closes.
-- The deadline covers the response head; the body has none.
function httpc.request_stream(method, host, url, recvheader, header, content)
	local stream, _, close = with_connection(host, function(iface, hostheader, disarm)
		local code, body, h = internal.request(iface, method, hostheader, url, recvheader, header, content)
		disarm()
		iface.onclose = function() end
		local s = internal.response_stream(iface, code, body, h)
		return s, nil, true
	end)
	stream._onclose = close
	return stream
end

return httpc

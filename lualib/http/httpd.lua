-- http.httpd: the server side of HTTP/1.1 (spec/api-http-websocket-dns.md §3).
--
--   read_request(readfunc [, bodylimit]) -> code, url, method, header, body, minor
--   write_response(writefunc, code [, body [, header]]) -> true | false, err
--
-- Several requests on one connection (keep-alive, pipelining) are read
-- whole, one per call: the bytes read past a request are kept for the next
-- call with the same readfunc (a weak table keyed by it), never handed out
-- as the body.  A request has a body only with content-length or chunked
-- transfer-encoding (RFC 9112 §6.3).  Errors come back as a status code
-- the caller answers and then closes the connection:
--   400 bad request line, bad field line, bad content-length, bad chunk
--   413 head over 8192 bytes, body or chunked body over bodylimit
--   501 transfer-encoding other than chunked/identity
--   505 HTTP version other than 1.0/1.1
-- and nil, err when the socket failed (err = sockethelper.socket_error).
local core = require "skynet.webcore"
local internal = require "http.internal"
local sockethelper = require "http.sockethelper"

local pcall, type, pairs, ipairs, error, setmetatable = pcall, type, pairs, ipairs, error, setmetatable
local format, lower, concat = string.format, string.lower, table.concat
local parse_request = core.request
local HEAD_MAX = internal.HEAD_MAX
local CONTINUE = "HTTP/1.1 100 Continue\r\n\r\n"

local httpd = {}

local http_status_msg = {
	[100] = "Continue",
	[101] = "Switching Protocols",
	[200] = "OK",
	[201] = "Created",
	[202] = "Accepted",
	[203] = "Non-Authoritative Information",
	[204] = "No Content",
	[205] = "Reset Content",
	[206] = "Partial Content",
	[300] = "Multiple Choices",
	[301] = "Moved Permanently",
	[302] = "Found",
	[303] = "See Other",
	[304] = "Not Modified",
	[305] = "Use Proxy",
	[307] = "Temporary Redirect",
	[400] = "Bad Request",
	[401] = "Unauthorized",
	[402] = "Payment Required",
	[403] = "Forbidden",
	[404] = "Not Found",
	[405] = "Method Not Allowed",
	[406] = "Not Acceptable",
	[407] = "Proxy Authentication Required",
	[408] = "Request Time-out",
	[409] = "Conflict",
	[410] = "Gone",
	[411] = "Length Required",
	[412] = "Precondition Failed",
	[413] = "Request Entity Too Large",
	[414] = "Request-URI Too Large",
	[415] = "Unsupported Media Type",
	[416] = "Requested range not satisfiable",
	[417] = "Expectation Failed",
	[500] = "Internal Server Error",
	[501] = "Not Implemented",
	[502] = "Bad Gateway",
	[503] = "Service Unavailable",
	[504] = "Gateway Time-out",
	[505] = "HTTP Version not supported",
}

-- bytes read past the last request, per readfunc
local leftover = setmetatable({}, {__mode = "k"})

-- RFC 9110 §10.1.1: a client that sent "Expect: 100-continue" may wait
-- for a "100 Continue" before sending the body (curl waits 1 s).  Answered
-- only when the body is going to be read and none of it has arrived yet,
-- never to an HTTP/1.0 client; a body over the limit gets its 413 instead.
local function send_continue(readfunc, header, minor, rest)
	local expect = header.expect
	if rest == "" and minor >= 1 and type(expect) == "string" and lower(expect) == "100-continue" then
		sockethelper.peer_write(readfunc, CONTINUE)
	end
end

local function read_body(readfunc, bodylimit, header, rest, minor)
	local te = header["transfer-encoding"]
	if te ~= nil then
		te = type(te) == "string" and lower(te)
		if te == "chunked" then
			send_continue(readfunc, header, minor, rest)
			local body, err, after = internal.recvchunkedbody(readfunc, bodylimit, header, rest)
			if not body then
				return err == "large" and 413 or 400
			end
			return nil, body, after
		elseif te ~= "identity" then
			return 501
		end
	end
	local cl = header["content-length"]
	if cl == nil then
		return nil, "", rest
	end
	local n = type(cl) == "string" and cl:match "^%s*(%d+)%s*$"
	n = n and #n <= 15 and tonumber(n)
	if not n then
		return 400 -- not a number, negative, repeated: ambiguous framing
	end
	if bodylimit and n > bodylimit then
		return 413
	end
	local have = #rest
	if have < n then
		send_continue(readfunc, header, minor, rest)
	end
	if have == n then
		return nil, rest, ""
	elseif have > n then
		return nil, rest:sub(1, n), rest:sub(n + 1)
	end
	return nil, rest .. readfunc(n - have), ""
end

local function readall(readfunc, bodylimit)
	local buf = leftover[readfunc]
	if buf then
		leftover[readfunc] = nil
	else
		buf = readfunc()
	end
	local code, hlen, method, url, minor, header
	while true do
		code, hlen, method, url, minor, header = parse_request(buf, HEAD_MAX)
		if code then
			break
		end
		buf = buf .. readfunc()
	end
	if code ~= 200 then
		return code
	end
	local rest = hlen == #buf and "" or buf:sub(hlen + 1)
	local err, body, after = read_body(readfunc, bodylimit, header, rest, minor)
	if err then
		return err
	end
	if after ~= "" then
		leftover[readfunc] = after
	end
	return 200, url, method, header, body, minor
end

function httpd.read_request(readfunc, bodylimit)
	local ok, code, url, method, header, body, minor = pcall(readall, readfunc, bodylimit)
	if ok then
		return code, url, method, header, body, minor
	end
	return nil, code
end

-- pending(readfunc) -> the bytes read past the last request (and forgets
-- them): what a protocol taking over the connection (a WebSocket upgrade)
-- must start from.
function httpd.pending(readfunc)
	local buf = leftover[readfunc]
	leftover[readfunc] = nil
	return buf or ""
end

-- status lines already made, by code (string.format is the dearest step
-- of a small response)
local status_lines = setmetatable({}, {__index = function(t, code)
	local line = format("HTTP/1.1 %03d %s\r\n", code, http_status_msg[code] or "")
	if math.type(code) == "integer" and code >= 0 and code < 1000 then
		t[code] = line
	end
	return line
end})

local function field(k, v)
	local tk, tv = type(k), type(v)
	if tk == "string" and (tv == "string" or tv == "number") then
		return k .. ": " .. v .. "\r\n"
	end
	return format("%s: %s\r\n", k, v)
end

-- the response head without its final CRLF, as a list of strings
local function head(statuscode, header)
	local parts = {status_lines[statuscode]}
	local n = 1
	if header then
		for k, v in pairs(header) do
			if type(v) == "table" then
				for _, e in ipairs(v) do
					n = n + 1
					parts[n] = field(k, e)
				end
			else
				n = n + 1
				parts[n] = field(k, v)
			end
		end
	end
	return parts, n
end

-- One write for a string body or none; a function body (chunked) writes
-- the head with its first chunk, then one write per chunk.
local function writeall(writefunc, statuscode, body, header)
	local kind = type(body)
	if kind ~= "string" and kind ~= "function" and kind ~= "nil" then
		error("write_response: body must be a string, a function or nil, got " .. kind)
	end
	local parts, n = head(statuscode, header)
	if kind == "string" then
		parts[n + 1] = "content-length: " .. #body .. "\r\n\r\n"
		parts[n + 2] = body
		writefunc(concat(parts))
	elseif kind == "nil" then
		parts[n + 1] = "\r\n"
		writefunc(concat(parts))
	else
		parts[n + 1] = "transfer-encoding: chunked\r\n"
		local pending = concat(parts)
		while true do
			local s = body()
			if s == nil then
				writefunc(pending .. "\r\n0\r\n\r\n")
				break
			end
			if s ~= "" then
				writefunc(pending .. format("\r\n%x\r\n", #s) .. s)
				pending = ""
			end
		end
	end
end

function httpd.write_response(writefunc, statuscode, body, header)
	local ok, err = pcall(writeall, writefunc, statuscode, body, header)
	if not ok then
		return ok, err
	end
	return true
end

return httpd

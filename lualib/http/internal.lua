-- http.internal: the HTTP/1.1 machinery shared by httpd, httpc and
-- websocket (spec/api-http-websocket-dns.md §2).  The byte-level parsing is
-- C (skynet.webcore: lualib-src/http_parse.c), bounded and fuzzed; this file
-- moves bytes between a readfunc and those parsers.
--
-- iface = {read = readfunc, write = writefunc, readall = function}.
local core = require "skynet.webcore"

local type, tonumber, error, pairs, ipairs = type, tonumber, error, pairs, ipairs
local concat = table.concat
local format, lower = string.format, string.lower
local head_end, chunked_new, chunked, parse_fields, status_code =
	core.head_end, core.chunked_new, core.chunked, core.headers, core.status

local M = {}

-- Longest header block (or trailer block) accepted, blank line included.
local LIMIT = core.HEAD_MAX
M.HEAD_MAX = LIMIT

-- recvheader(readfunc, lines, buf) -> rest | nil
-- Reads until the header block ends ("\r\n\r\n"), puts its lines in
-- `lines` and returns the bytes after it.  A block that starts with "\r\n"
-- is empty (a trailer section without fields).  nil when the block grows
-- over LIMIT bytes.
function M.recvheader(readfunc, lines, buf)
	local e
	while true do
		if buf:byte(1) == 13 and buf:byte(2) == 10 then
			return buf:sub(3)
		end
		e = head_end(buf)
		if e then
			break
		end
		if #buf > LIMIT then
			return nil
		end
		buf = buf .. readfunc()
	end
	if e - 1 > LIMIT then
		return nil
	end
	local n = #lines
	local pos = 1
	while true do
		local s = buf:find("\r\n", pos, true)
		if s == pos then
			break
		end
		n = n + 1
		lines[n] = buf:sub(pos, s - 1)
		pos = s + 2
	end
	return buf:sub(e)
end

-- parseheader(lines, from, header) -> header | nil
-- Field lines lines[from..] into header: names lower-cased, values with
-- leading blanks skipped, a repeated name turned into a list, a line
-- starting with TAB appended to the previous value.  nil if a line is not
-- "name:value" (or holds a NUL or a bare CR or LF).
function M.parseheader(lines, from, header)
	if from > #lines then
		return header
	end
	return parse_fields(concat(lines, "\r\n", from), header)
end

-- recvchunkedbody(readfunc, bodylimit, header, buf) -> body, header, rest
--                                                   | nil, "bad" | "large"
-- Decodes a chunked body (chunk extensions ignored), then reads the
-- trailer fields into header.  `rest` = the bytes after the message.
function M.recvchunkedbody(readfunc, bodylimit, header, buf)
	local dec = chunked_new(bodylimit)
	local parts, n, pos = {}, 0, 1
	while true do
		local state, nextpos, data = chunked(dec, buf, pos, false)
		if data ~= "" then
			n = n + 1
			parts[n] = data
		end
		if state == "done" then
			pos = nextpos
			break
		elseif state == "more" then
			buf = readfunc()
			pos = 1
		else
			return nil, state
		end
	end
	local lines = {}
	local rest = M.recvheader(readfunc, lines, buf:sub(pos))
	if not rest then
		return nil, "large"
	end
	if not M.parseheader(lines, 1, header) then
		return nil, "bad"
	end
	return concat(parts), header, rest
end

-- request ---------------------------------------------------------------------

local function has_host(header)
	for k in pairs(header) do
		if type(k) == "string" and lower(k) == "host" then
			return true
		end
	end
	return false
end

-- One write for the whole request: method line, fields "k:v", length.
function M.request(iface, method, host, url, recvheader, header, content)
	local read, write = iface.read, iface.write
	local parts = {method, " ", url, " HTTP/1.1\r\n"}
	local n = 4
	if header then
		if not has_host(header) then
			header.Host = host
		end
		for k, v in pairs(header) do
			if type(v) == "table" then
				for _, e in ipairs(v) do
					n = n + 1
					parts[n] = format("%s:%s\r\n", k, e)
				end
			else
				n = n + 1
				parts[n] = format("%s:%s\r\n", k, v)
			end
		end
	else
		n = n + 1
		parts[n] = format("host:%s\r\n", host)
	end
	if content then
		if header and header["transfer-encoding"] == "chunked" then
			-- the caller encoded the chunks
			parts[n + 1] = "\r\n"
		else
			parts[n + 1] = format("Content-length:%d\r\n\r\n", #content)
		end
		parts[n + 2] = content
	else
		parts[n + 1] = "Content-length:0\r\n\r\n"
	end
	write(concat(parts))

	-- RFC 9110 §15.2: interim answers (100 Continue, 103 Early Hints...)
	-- may come before the final one, asked for or not; they are skipped.
	-- 101 is final: it ends HTTP on the connection (a WebSocket upgrade).
	local lines, body, code = {}, "", nil
	repeat
		lines = {}
		body = M.recvheader(read, lines, body)
		if not body then
			error "Recv header failed"
		end
		code = lines[1] and status_code(lines[1])
		if not code then
			error(format("Invalid HTTP response status line: %q", lines[1] or ""))
		end
	until code >= 200 or code == 101 or code < 100
	local h = M.parseheader(lines, 2, recvheader or {})
	if not h then
		error "Invalid HTTP response header"
	end
	return code, body, h
end

-- What the response's transfer-encoding asks for: "chunked", "identity",
-- or an error for anything else.
local function transfer_encoding(header)
	local te = header["transfer-encoding"]
	if te == nil then
		return "identity"
	end
	te = type(te) == "string" and lower(te)
	if te == "chunked" or te == "identity" then
		return te
	end
	error "Unsupport transfer-encoding"
end

local function no_body(code)
	return code == 204 or code == 304 or code < 200
end

-- response(iface, code, bodybuf, header) -> body
function M.response(iface, code, bodybuf, header)
	local read = iface.read
	if transfer_encoding(header) == "chunked" then
		local body = M.recvchunkedbody(read, nil, header, bodybuf)
		if not body then
			error "Invalid response body"
		end
		return body
	end
	local length = tonumber(header["content-length"])
	if length then
		local have = #bodybuf
		if have >= length then
			return bodybuf:sub(1, length)
		end
		return bodybuf .. read(length - have)
	elseif no_body(code) then
		return ""
	end
	-- HTTP/1.0 style: the body ends with the connection
	return bodybuf .. (iface.readall() or "")
end

-- response_stream ------------------------------------------------------------------
-- A stream object: status, header, connected (true while more may come,
-- nil after a clean end, false after an error); stream:padding() (also
-- stream()) returns the next piece and the stream, or nil once closed;
-- stream:close() runs iface.onclose once.

local stream = {}
stream.__index = stream

function stream:close()
	if self._onclose then
		local f = self._onclose
		self._onclose = nil
		f(self)
	end
	self._reading = nil
end
stream.__close = stream.close

function stream:padding()
	local f = self._reading
	if not f then
		if self._closed then
			error "http stream: read after the stream was closed"
		end
		self._closed = true
		self:close()
		return nil
	end
	return f(self), self
end
stream.__call = stream.padding

local function finish(s, ok)
	if ok then
		s.connected = nil
	else
		s.connected = false
	end
	s._reading = nil
end

local function stream_chunked(s, read, buf)
	local dec = chunked_new(nil)
	local pos = 1
	return function()
		local parts = {}
		while true do
			local state, nextpos, data = chunked(dec, buf, pos, true)
			if data ~= "" then
				parts[#parts + 1] = data
			end
			if state == "chunk" then
				pos = nextpos
				return concat(parts)
			elseif state == "done" then
				local lines = {}
				local ok, rest = pcall(M.recvheader, read, lines, buf:sub(nextpos))
				if ok and rest and M.parseheader(lines, 1, s.header) then
					finish(s, true)
				else
					finish(s, false)
				end
				if #parts > 0 then
					return concat(parts)
				end
				return ""
			elseif state == "more" then
				local ok, more = pcall(read)
				if not ok then
					finish(s, false)
					return nil
				end
				buf, pos = more, 1
			else
				finish(s, false)
				return nil
			end
		end
	end
end

local function stream_length(s, read, buf, length)
	local got = 0
	return function()
		if got >= length then
			finish(s, true)
			return nil
		end
		local piece
		if buf ~= "" then
			piece, buf = buf, ""
		else
			piece = read()
		end
		if got + #piece > length then
			piece = piece:sub(1, length - got)
		end
		got = got + #piece
		if got >= length then
			finish(s, true)
		end
		return piece
	end
end

function M.response_stream(iface, code, bodybuf, header)
	local s = setmetatable({
		status = code,
		header = header,
		connected = true,
		_onclose = iface.onclose,
	}, stream)
	local read = iface.read
	if transfer_encoding(header) == "chunked" then
		s._reading = stream_chunked(s, read, bodybuf)
		return s
	end
	local length = tonumber(header["content-length"])
	if length then
		s._reading = stream_length(s, read, bodybuf, length)
	elseif no_body(code) then
		s._reading = function()
			finish(s, true)
			return ""
		end
	else
		-- close-delimited: buffered bytes, then one read per call; the end
		-- of the connection ends the stream (nil) instead of raising
		s._reading = function()
			if bodybuf ~= "" then
				local r = bodybuf
				bodybuf = ""
				return r
			end
			local ok, r = pcall(read)
			if ok then
				return r
			end
			finish(s, true)
			return nil
		end
	end
	return s
end

return M

-- skynet.db.mysql: a MySQL / MariaDB client for skynet services
-- (upstream's API; protocol: MySQL client/server
-- protocol 4.1, handshake v10, text and binary result sets).
--
--   local mysql = require "skynet.db.mysql"
--   local db = mysql.connect { host = "127.0.0.1", port = 3306, user = "u",
--       password = "p", database = "d", charset = "utf8mb4" }
--   local rows = db:query "select id, text from msgs"    -- { {id=1, text="..."}, ... }
--
-- One connection per db object, over a socketchannel in order mode: every
-- command writes its packet and queues a reader, and the replies are read
-- back in the order the commands were sent, so any number of coroutines
-- can share one db and each gets its own result.  When the connection is
-- lost, the commands waiting on it fail, and the next command connects and
-- logs in again (and runs on_connect).
--
-- Failures:
--   * SQL errors are results, not exceptions: {badresult = true, errno,
--     err, sqlstate}.
--   * A malformed or oversized packet from the server is also returned as
--     {badresult = true, err = "mysql: ..."} (no errno); the connection is
--     closed because its byte stream can no longer be trusted, and the next
--     command reconnects.
--   * A command with no answer within opts.query_timeout seconds (default:
--     the config's call_timeout, else none, as upstream) raises "mysql:
--     query on host:port: query timed out after N s, connection closed":
--     the connection is dropped (every command waiting on it fails the
--     same way) and the next command reconnects.
--   * A lost connection, a failed (re)connect, a failed login and misuse
--     (too many arguments, a query longer than max_packet_size) raise an
--     error whose text starts with "mysql: " and says what failed.
--
-- Authentication: mysql_native_password; caching_sha2_password (fast path,
-- and the full path over a plain connection: the password XOR the nonce,
-- RSA-OAEP encrypted with the server's public key, which is requested from
-- the server unless opts.server_public_key gives it); sha256_password the
-- same way; the server may switch plugins (auth switch request).  No TLS.
--
-- Packets: 3-byte length + sequence number; payloads of 16 MiB - 1 or more
-- are split into several packets and joined again on reading.  Every
-- logical packet, in both directions, is limited to max_packet_size, and
-- every length inside a packet is checked against the bytes that are there
-- before it is used.
local skynet = require "skynet"
local socketchannel = require "skynet.socketchannel"
local aux = require "skynet.mysqlaux"
local text_row, binary_row = aux.text_row, aux.binary_row

local strbyte, strsub, strchar, strrep = string.byte, string.sub, string.char, string.rep
local strpack, strunpack, strformat, strfind = string.pack, string.unpack, string.format, string.find
local concat = table.concat
local tonumber, tostring, type, error, pcall, select = tonumber, tostring, type, error, pcall, select
local setmetatable, math_type = setmetatable, math.type

local mysql = {}

local db_methods = {}
local db_meta = { __index = db_methods, __name = "mysql" }

-- protocol constants ------------------------------------------------------------

local COM_QUIT = 0x01
local COM_QUERY = 0x03
local COM_PING = 0x0e
local COM_STMT_PREPARE = 0x16
local COM_STMT_EXECUTE = 0x17
local COM_STMT_CLOSE = 0x19
local COM_STMT_RESET = 0x1a

local CLIENT_LONG_PASSWORD = 0x00000001
local CLIENT_FOUND_ROWS = 0x00000002
local CLIENT_LONG_FLAG = 0x00000004
local CLIENT_CONNECT_WITH_DB = 0x00000008
local CLIENT_ODBC = 0x00000040
local CLIENT_IGNORE_SPACE = 0x00000100
local CLIENT_PROTOCOL_41 = 0x00000200
local CLIENT_INTERACTIVE = 0x00000400
local CLIENT_IGNORE_SIGPIPE = 0x00001000
local CLIENT_TRANSACTIONS = 0x00002000
local CLIENT_RESERVED = 0x00004000
local CLIENT_SECURE_CONNECTION = 0x00008000
local CLIENT_MULTI_STATEMENTS = 0x00010000
local CLIENT_MULTI_RESULTS = 0x00020000
local CLIENT_PS_MULTI_RESULTS = 0x00040000
local CLIENT_PLUGIN_AUTH = 0x00080000

-- What we ask for (masked with what the server offers).  Upstream's set,
-- less LOCAL_FILES (LOAD DATA LOCAL is not supported), plus the flags that
-- pluggable authentication and CALL results from statements need.
local CLIENT_FLAGS = CLIENT_LONG_PASSWORD | CLIENT_FOUND_ROWS | CLIENT_LONG_FLAG
	| CLIENT_ODBC | CLIENT_IGNORE_SPACE | CLIENT_PROTOCOL_41 | CLIENT_INTERACTIVE
	| CLIENT_IGNORE_SIGPIPE | CLIENT_TRANSACTIONS | CLIENT_RESERVED
	| CLIENT_SECURE_CONNECTION | CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS
	| CLIENT_PS_MULTI_RESULTS | CLIENT_PLUGIN_AUTH

local SERVER_MORE_RESULTS_EXISTS = 0x0008

local MAX_PAYLOAD = 0xffffff -- a physical packet of this size is continued
local MAX_COLUMNS = 65535    -- sanity bound for a column count from the server
local UNSIGNED_FLAG = 0x20

local DEFAULT_MAX_PACKET = 1024 * 1024

local charsets = {
	big5 = 1, dec8 = 3, cp850 = 4, hp8 = 6, koi8r = 7, latin1 = 8, latin2 = 9,
	swe7 = 10, ascii = 11, ujis = 12, sjis = 13, hebrew = 16, tis620 = 18,
	euckr = 19, koi8u = 22, gb2312 = 24, greek = 25, cp1250 = 26, gbk = 28,
	latin5 = 30, armscii8 = 32, utf8 = 33, ucs2 = 35, cp866 = 36, keybcs2 = 37,
	macce = 38, macroman = 39, cp852 = 40, latin7 = 41, utf8mb4 = 45,
	cp1251 = 51, utf16 = 54, utf16le = 56, cp1256 = 57, cp1257 = 59,
	utf32 = 60, binary = 63, geostd8 = 92, cp932 = 95, eucjpms = 97,
	gb18030 = 248,
}

-- Text protocol: columns of these types (enum_field_types: DECIMAL, TINY,
-- SHORT, LONG, FLOAT, DOUBLE, LONGLONG, INT24, YEAR, NEWDECIMAL) become Lua
-- numbers, everything else stays a string.  The binary protocol decodes by
-- type in lua-mysqlaux.c (binary_row): integers signed or unsigned, floats,
-- DATE "YYYY-MM-DD", DATETIME/TIMESTAMP "YYYY-MM-DD HH:MM:SS[.ffffff]",
-- TIME "[-]HH:MM:SS[.ffffff]", DECIMAL as a number, the rest as strings.
local text_number = {
	[0] = true, [1] = true, [2] = true, [3] = true, [4] = true, [5] = true,
	[8] = true, [9] = true, [13] = true, [246] = true,
}

-- errors ------------------------------------------------------------------------------

-- A malformed packet: raised inside readers, turned into a badresult.
local function bad(fmt, ...)
	error("mysql: malformed packet from the server: " .. strformat(fmt, ...), 0)
end

local function err_table(errno, msg, sqlstate)
	return { badresult = true, errno = errno, err = msg, sqlstate = sqlstate }
end

-- packet fields -------------------------------------------------------------------------

-- Length-encoded integer at pos -> value (nil for 0xfb, the NULL marker), next pos.
local function get_lenenc(data, pos)
	local b = strbyte(data, pos)
	if b == nil then
		bad("length at byte %d past the end (%d bytes)", pos, #data)
	end
	if b < 0xfb then
		return b, pos + 1
	elseif b == 0xfb then
		return nil, pos + 1
	elseif b == 0xfc then
		if pos + 2 > #data then bad("2-byte length truncated") end
		return strunpack("<I2", data, pos + 1)
	elseif b == 0xfd then
		if pos + 3 > #data then bad("3-byte length truncated") end
		return strunpack("<I3", data, pos + 1)
	elseif b == 0xfe then
		if pos + 8 > #data then bad("8-byte length truncated") end
		local v, npos = strunpack("<i8", data, pos + 1)
		if v < 0 then bad("length over 2^63") end
		return v, npos
	end
	bad("invalid length byte 0xff at byte %d", pos)
end

local function get_lenenc_int(data, pos)
	local v, npos = get_lenenc(data, pos)
	if v == nil then bad("NULL where a number was expected at byte %d", pos) end
	return v, npos
end

-- Length-encoded string at pos -> string (nil for NULL), next pos.
local function get_lenenc_str(data, pos)
	local len
	len, pos = get_lenenc(data, pos)
	if len == nil then
		return nil, pos
	end
	local last = pos + len - 1
	if last > #data then
		bad("string of %d bytes at byte %d runs past the end (%d bytes)", len, pos, #data)
	end
	return strsub(data, pos, last), last + 1
end

-- NUL-terminated string at pos -> string, next pos.
local function get_cstr(data, pos)
	local z = strfind(data, "\0", pos, true)
	if not z then
		bad("string at byte %d is not terminated", pos)
	end
	return strsub(data, pos, z - 1), z + 1
end

local function lenenc(n)
	if n < 0xfb then
		return strchar(n)
	elseif n < 0x10000 then
		return strpack("<BI2", 0xfc, n)
	elseif n < 0x1000000 then
		return strpack("<BI3", 0xfd, n)
	end
	return strpack("<Bi8", 0xfe, n)
end

-- OK, ERR, EOF --------------------------------------------------------------------------

local function parse_ok(data)
	local affected, insert_id, pos
	affected, pos = get_lenenc_int(data, 2)
	insert_id, pos = get_lenenc_int(data, pos)
	local res = { affected_rows = affected, insert_id = insert_id, server_status = 0, warning_count = 0 }
	if pos + 3 <= #data then
		res.server_status, res.warning_count, pos = strunpack("<I2I2", data, pos)
		if pos <= #data then
			res.message = strsub(data, pos)
		end
	end
	return res
end

local function parse_err(data)
	if #data < 3 then
		bad("error packet of %d bytes", #data)
	end
	local errno = strunpack("<I2", data, 2)
	local sqlstate, msg
	if strbyte(data, 4) == 35 and #data >= 9 then -- '#'
		sqlstate = strsub(data, 5, 9)
		msg = strsub(data, 10)
	else
		msg = strsub(data, 4)
	end
	return errno, msg, sqlstate
end

local function is_eof(data)
	return strbyte(data, 1) == 0xfe and #data < 9
end

-- server status of an EOF packet (0 when the server sent the short form)
local function eof_status(data)
	if #data >= 5 then
		local _, status = strunpack("<I2I2", data, 2)
		return status
	end
	return 0
end

-- reading packets ---------------------------------------------------------------------------

local function too_big(self, n)
	error(strformat("mysql: a packet of %d bytes from the server exceeds max_packet_size %d",
		n, self.max_packet_size), 0)
end

-- Received bytes not parsed yet are self.rbuf from self.rpos on; they
-- belong to the connection self.rsock (a new connection starts empty).
-- Reading ahead like this (sock:read() takes whatever has arrived) means
-- one socket read per burst of packets instead of two per packet; bytes
-- of the next reply simply wait here for the next reader.
local BIG_READ = 64 * 1024

-- Makes at least `need` unparsed bytes available; returns rbuf, rpos.
local function fill(self, sock, need)
	local buf, pos = self.rbuf, self.rpos
	if self.rsock ~= sock then
		self.rsock = sock
		buf, pos = "", 1
	end
	local have = #buf - pos + 1
	if have < need then
		local parts = { strsub(buf, pos) }
		repeat
			local missing = need - have
			-- a big shortfall in one sized read, else what is there
			local data = sock:read(missing > BIG_READ and missing or nil)
			parts[#parts + 1] = data
			have = have + #data
		until have >= need
		buf, pos = concat(parts), 1
	end
	self.rbuf, self.rpos = buf, pos
	return buf, pos
end

-- Reads one logical packet (joining continuation packets) and returns its
-- payload.  self.packet_no = the sequence number of its last part.
local function read_packet(self, sock)
	local limit = self.max_packet_size
	local buf, pos = fill(self, sock, 4)
	local len, seq = strunpack("<I3B", buf, pos)
	if len > limit then
		too_big(self, len)
	end
	if #buf - pos - 3 < len then
		buf, pos = fill(self, sock, 4 + len)
	end
	local data = strsub(buf, pos + 4, pos + 3 + len)
	pos = pos + 4 + len
	self.rpos = pos
	if len == MAX_PAYLOAD then
		local parts, total = { data }, len
		repeat
			buf, pos = fill(self, sock, 4)
			len, seq = strunpack("<I3B", buf, pos)
			total = total + len
			if total > limit then
				too_big(self, total)
			end
			if #buf - pos - 3 < len then
				buf, pos = fill(self, sock, 4 + len)
			end
			parts[#parts + 1] = strsub(buf, pos + 4, pos + 3 + len)
			self.rpos = pos + 4 + len
		until len < MAX_PAYLOAD
		data = concat(parts)
	end
	if self.rpos > #self.rbuf then
		self.rbuf, self.rpos = "", 1 -- do not keep a big buffer alive
	end
	self.packet_no = seq
	return data
end

-- Frames a payload for sending, sequence numbers from `seq`; returns a
-- string or, for payloads of 16 MiB - 1 and more, an array of strings.
local function frame(payload, seq)
	local n = #payload
	if n < MAX_PAYLOAD then
		return strpack("<I3B", n, seq & 0xff) .. payload
	end
	local parts = {}
	local pos = 1
	while true do
		local chunk = n - pos + 1
		if chunk > MAX_PAYLOAD then chunk = MAX_PAYLOAD end
		parts[#parts + 1] = strpack("<I3B", chunk, seq & 0xff)
		if chunk > 0 then
			parts[#parts + 1] = strsub(payload, pos, pos + chunk - 1)
		end
		pos = pos + chunk
		seq = seq + 1
		if chunk < MAX_PAYLOAD then break end
	end
	return parts
end

-- A command packet (sequence 0): command byte + argument.
local function command(self, what, cmd, arg)
	local n = #arg + 1
	if n > self.max_packet_size then
		error(strformat("mysql: %s of %d bytes exceeds max_packet_size %d", what, n, self.max_packet_size), 3)
	end
	if n < MAX_PAYLOAD then
		return strpack("<I3BB", n, 0, cmd) .. arg
	end
	return frame(strchar(cmd) .. arg, 0)
end

-- result sets -----------------------------------------------------------------------------

-- Column definition (protocol 4.1).
local function parse_field(data)
	local pos = 1
	local name, _
	_, pos = get_lenenc_str(data, pos) -- catalog
	_, pos = get_lenenc_str(data, pos) -- schema
	_, pos = get_lenenc_str(data, pos) -- table
	_, pos = get_lenenc_str(data, pos) -- org_table
	name, pos = get_lenenc_str(data, pos)
	_, pos = get_lenenc_str(data, pos) -- org_name
	_, pos = get_lenenc_int(data, pos) -- length of the fixed fields (0x0c)
	if pos + 9 > #data then
		bad("column definition truncated (%d bytes)", #data)
	end
	local charset, length, ftype, flags, decimals = strunpack("<I2I4BI2B", data, pos)
	return {
		name = name or "",
		type = ftype,
		is_signed = (flags & UNSIGNED_FLAG) == 0,
		flags = flags,
		decimals = decimals,
		charsetnr = charset,
		length = length,
	}
end

-- Reads `n` column definitions and the EOF after them.
local function read_fields(self, sock, n)
	local fields = {}
	for i = 1, n do
		local data = read_packet(self, sock)
		if strbyte(data, 1) == 0xff then
			return nil, data
		end
		fields[i] = parse_field(data)
	end
	local data = read_packet(self, sock)
	if not is_eof(data) then
		bad("no EOF after %d column definitions", n)
	end
	return fields
end

-- Reads one result (OK, ERR or a result set).  Returns the result and
-- whether another result follows.
local function read_result(self, sock, binary)
	local data = read_packet(self, sock)
	local b = strbyte(data, 1)
	if b == 0x00 then
		local res = parse_ok(data)
		return res, (res.server_status & SERVER_MORE_RESULTS_EXISTS) ~= 0
	elseif b == 0xff then
		return err_table(parse_err(data)), false
	elseif b == 0xfb then
		bad("LOCAL INFILE request (not supported)")
	elseif b == nil then
		bad("empty packet where a result was expected")
	end
	local ncols, pos = get_lenenc_int(data, 1)
	if ncols == 0 or ncols > MAX_COLUMNS then
		bad("column count %d", ncols)
	end
	local fields, errdata = read_fields(self, sock, ncols)
	if not fields then
		return err_table(parse_err(errdata)), false
	end
	-- the row decoder (C) gets the names and, per column, what to do
	local names, how = {}, {}
	for i = 1, ncols do
		local f = fields[i]
		names[i] = f.name
		if binary then
			how[i] = strchar(f.type, f.is_signed and 0 or 1, f.decimals)
		else
			how[i] = text_number[f.type] and "\1" or "\0"
		end
	end
	how = concat(how)
	local decode = binary and binary_row or text_row
	local compact = self.compact
	local limit = self.max_packet_size
	local rows = {}
	local nrows = 0
	while true do
		-- the common case, a whole row packet in the buffer, is decoded in
		-- place; anything else (EOF, ERR, a split packet) goes through
		-- read_packet
		local buf, pos = self.rbuf, self.rpos
		if self.rsock ~= sock or #buf - pos < 4 then
			buf, pos = fill(self, sock, 5)
		end
		local len, seq, first = strunpack("<I3BB", buf, pos)
		if len > 0 and len < MAX_PAYLOAD and len <= limit and first ~= 0xff and not (first == 0xfe and len < 9) then
			if #buf - pos - 3 < len then
				buf, pos = fill(self, sock, 4 + len)
			end
			self.rpos = pos + 4 + len
			self.packet_no = seq
			nrows = nrows + 1
			rows[nrows] = decode(buf, pos + 4, len, names, how, compact)
		else
			data = read_packet(self, sock)
			first = strbyte(data, 1)
			if first == 0xfe and #data < 9 then
				return rows, (eof_status(data) & SERVER_MORE_RESULTS_EXISTS) ~= 0
			elseif first == 0xff then
				return err_table(parse_err(data)), false
			end
			nrows = nrows + 1
			rows[nrows] = decode(data, 1, #data, names, how, compact)
		end
	end
end

-- All results of one command: a single result, or {r1, r2, ...,
-- multiresultset = true} (execute: also the upstream spelling
-- `mulitresultset`), with the error fields when a later result failed.
local function read_query_result(self, sock, binary)
	local res, more = read_result(self, sock, binary)
	if not more then
		return res
	end
	local multi = { res }
	if binary then
		multi.mulitresultset = true
	end
	multi.multiresultset = true
	while more do
		res, more = read_result(self, sock, binary)
		if res.badresult then
			multi.badresult = true
			multi.err = res.err
			multi.errno = res.errno
			multi.sqlstate = res.sqlstate
			break
		end
		multi[#multi + 1] = res
	end
	return multi
end

local function read_prepare_result(self, sock)
	local data = read_packet(self, sock)
	local b = strbyte(data, 1)
	if b == 0xff then
		return err_table(parse_err(data))
	end
	if b ~= 0 or #data < 10 then
		bad("prepare response of %d bytes", #data)
	end
	local id, nfields, nparams = strunpack("<I4I2I2", data, 2)
	local warnings = 0
	if #data >= 13 then
		warnings = strunpack("<I2", data, 12)
	end
	local stmt = {
		prepare_id = id,
		field_count = nfields,
		param_count = nparams,
		warning_count = warnings,
		params = {},
		fields = {},
	}
	if nparams > 0 then
		local params, errdata = read_fields(self, sock, nparams)
		if not params then return err_table(parse_err(errdata)) end
		stmt.params = params
	end
	if nfields > 0 then
		local fields, errdata = read_fields(self, sock, nfields)
		if not fields then return err_table(parse_err(errdata)) end
		stmt.fields = fields
	end
	return stmt
end

-- authentication -------------------------------------------------------------------------

-- Initial handshake (protocol 10).  Raises on anything else.
local function parse_greeting(self, data)
	local proto = strbyte(data, 1)
	if proto == 0xff then
		local errno, msg, sqlstate = parse_err(data)
		error(strformat("mysql: connect %s:%s failed: errno:%d, msg:%s,sqlstate:%s",
			self.host, self.port, errno, msg, tostring(sqlstate)), 0)
	end
	if proto ~= 10 then
		error(strformat("mysql: connect %s:%s failed: unsupported protocol version %s",
			self.host, self.port, tostring(proto)), 0)
	end
	local g = {}
	local pos
	g.version, pos = get_cstr(data, 2)
	if pos + 14 > #data then
		bad("handshake truncated")
	end
	local salt1
	g.thread_id, salt1, pos = strunpack("<I4c8", data, pos)
	pos = pos + 1 -- filler
	local caps
	caps, pos = strunpack("<I2", data, pos)
	local salt2 = ""
	if pos + 15 <= #data then
		local charset, status, caps_hi, salt_len
		charset, status, caps_hi, salt_len, pos = strunpack("<BI2I2B", data, pos)
		pos = pos + 10 -- reserved
		caps = caps | (caps_hi << 16)
		g.charset = charset
		g.server_status = status
		if caps & CLIENT_SECURE_CONNECTION ~= 0 then
			local n = salt_len - 8
			if n < 13 then n = 13 end
			if pos + n - 1 > #data then
				bad("handshake salt truncated")
			end
			salt2 = strsub(data, pos, pos + n - 1)
			pos = pos + n
			-- the part is NUL-terminated
			if strbyte(salt2, -1) == 0 then salt2 = strsub(salt2, 1, -2) end
		end
		if caps & CLIENT_PLUGIN_AUTH ~= 0 and pos <= #data then
			local z = strfind(data, "\0", pos, true)
			g.plugin = strsub(data, pos, (z or #data + 1) - 1) -- MySQL 5.5 left out the NUL
		end
	end
	g.capabilities = caps
	g.salt = salt1 .. salt2
	return g
end

local function native_scramble(password, salt)
	if password == "" then
		return ""
	end
	local stage1 = aux.sha1(password)
	local stage2 = aux.sha1(stage1)
	return aux.xor(stage1, aux.sha1(strsub(salt, 1, 20) .. stage2))
end

-- caching_sha2_password: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) .. nonce)
local function sha2_scramble(password, salt)
	if password == "" then
		return ""
	end
	local d1 = aux.sha256(password)
	local d2 = aux.sha256(d1)
	return aux.xor(d1, aux.sha256(d2 .. strsub(salt, 1, 20)))
end

-- The first answer a plugin gives to the server's challenge.
local function auth_token(self, plugin, salt)
	if plugin == "mysql_native_password" then
		return native_scramble(self.password, salt)
	elseif plugin == "caching_sha2_password" then
		return sha2_scramble(self.password, salt)
	elseif plugin == "sha256_password" then
		if self.password == "" then
			return ""
		end
		if self.server_public_key then
			return self:_rsa_password(self.server_public_key, salt)
		end
		return "\1" -- please send your public key
	elseif plugin == "mysql_old_password" then
		error(strformat("mysql: connect %s:%s failed: old pre-4.1 authentication protocol not supported",
			self.host, self.port), 0)
	end
	error(strformat("mysql: connect %s:%s failed: authentication plugin %q not supported",
		self.host, self.port, tostring(plugin)), 0)
end

function db_methods:_rsa_password(pem, salt)
	if salt == "" then
		error(strformat("mysql: connect %s:%s failed: the server sent no nonce", self.host, self.port), 0)
	end
	local enc, err = aux.rsa_encrypt(pem, aux.xor(self.password .. "\0", strsub(salt, 1, 20)))
	if not enc then
		error(strformat("mysql: connect %s:%s failed: server public key unusable: %s",
			self.host, self.port, err), 0)
	end
	return enc
end

local function packet_reader(self)
	return function(sock)
		return true, read_packet(self, sock)
	end
end

-- The login exchange, run by the socketchannel after every connect (ch is
-- the channel; only :response and :request are used).  Raises on failure.
local function login(self, ch)
	local reader = self.packet_reader
	local g = parse_greeting(self, ch:response(reader))
	local caps = g.capabilities
	if caps & CLIENT_PROTOCOL_41 == 0 or caps & CLIENT_SECURE_CONNECTION == 0 then
		error(strformat("mysql: connect %s:%s failed: the server does not speak protocol 4.1",
			self.host, self.port), 0)
	end
	self.server_version = g.version
	self.server_capabilities = caps
	self.thread_id = g.thread_id
	local flags = CLIENT_FLAGS & caps
	if self.database ~= "" then
		flags = flags | CLIENT_CONNECT_WITH_DB
	end
	local plugin = (flags & CLIENT_PLUGIN_AUTH ~= 0) and g.plugin or "mysql_native_password"
	local salt = g.salt
	local token = auth_token(self, plugin, salt)
	if #token > 255 then
		error("mysql: auth token too long", 0)
	end
	local parts = {
		strpack("<I4I4B", flags, self.max_packet_size, self.charset or g.charset or 0),
		strrep("\0", 23),
		self.user, "\0",
		strchar(#token), token,
	}
	if flags & CLIENT_CONNECT_WITH_DB ~= 0 then
		parts[#parts + 1] = self.database .. "\0"
	end
	if flags & CLIENT_PLUGIN_AUTH ~= 0 then
		parts[#parts + 1] = plugin .. "\0"
	end
	local function send(payload)
		return ch:request(frame(payload, self.packet_no + 1), reader)
	end
	local res = send(concat(parts))
	local rounds = 0
	while true do
		rounds = rounds + 1
		if rounds > 8 then
			error(strformat("mysql: connect %s:%s failed: authentication does not end", self.host, self.port), 0)
		end
		local b = strbyte(res, 1)
		if b == 0x00 then
			break
		elseif b == 0xff then
			local errno, msg, sqlstate = parse_err(res)
			error(strformat("mysql: connect %s:%s failed: errno:%d, msg:%s,sqlstate:%s",
				self.host, self.port, errno, msg, tostring(sqlstate)), 0)
		elseif b == 0xfe then
			-- auth switch request: plugin name, new challenge
			if #res == 1 then
				error(strformat("mysql: connect %s:%s failed: old pre-4.1 authentication protocol not supported",
					self.host, self.port), 0)
			end
			local pos
			plugin, pos = get_cstr(res, 2)
			salt = strsub(res, pos)
			if strbyte(salt, -1) == 0 then salt = strsub(salt, 1, -2) end
			res = send(auth_token(self, plugin, salt))
		elseif b == 0x01 then
			-- more data for the current plugin
			if plugin == "caching_sha2_password" and #res == 2 and strbyte(res, 2) == 3 then
				res = ch:response(reader) -- fast path: the scramble matched the cache; OK follows
			elseif plugin == "caching_sha2_password" and #res == 2 and strbyte(res, 2) == 4 then
				-- full authentication: the password itself, RSA-encrypted
				if self.server_public_key then
					res = send(self:_rsa_password(self.server_public_key, salt))
				else
					res = send("\2") -- request the public key
					if strbyte(res, 1) ~= 0x01 then
						error(strformat("mysql: connect %s:%s failed: no public key from the server",
							self.host, self.port), 0)
					end
					res = send(self:_rsa_password(strsub(res, 2), salt))
				end
			elseif plugin == "sha256_password" then
				res = send(self:_rsa_password(strsub(res, 2), salt))
			else
				error(strformat("mysql: connect %s:%s failed: unexpected auth data for %s",
					self.host, self.port, tostring(plugin)), 0)
			end
		else
			error(strformat("mysql: connect %s:%s failed: unexpected packet 0x%02x during authentication",
				self.host, self.port, b or 0), 0)
		end
	end
	self.generation = self.generation + 1
	if self.on_connect then
		self.on_connect(self)
	end
end

-- db object ---------------------------------------------------------------------------

-- opts.query_timeout (seconds), else the config's call_timeout (cs); nil: none
local function query_timeout(opts)
	local t = opts.query_timeout
	if t == nil then
		local cs = tonumber(skynet.getenv "call_timeout")
		t = cs and cs > 0 and cs / 100 or nil
	elseif type(t) ~= "number" then
		error("mysql: query_timeout must be a number of seconds", 4)
	end
	if t and t > 0 then
		return t
	end
end

local function new_db(opts)
	local self = setmetatable({
		host = opts.host,
		port = tonumber(opts.port) or 3306,
		user = opts.user or "",
		password = opts.password or "",
		database = opts.database or "",
		max_packet_size = tonumber(opts.max_packet_size) or DEFAULT_MAX_PACKET,
		compact = opts.compact_arrays and true or false,
		on_connect = opts.on_connect,
		server_public_key = opts.server_public_key,
		packet_no = 0,
		generation = 0,
		query_timeout = query_timeout(opts),
		drops = 0,           -- connections dropped for a timeout
		drop_reason = nil,   -- the error text of the last one
		rbuf = "",
		rpos = 1,
		rsock = nil,
	}, db_meta)
	if opts.charset ~= nil then
		self.charset = charsets[opts.charset]
		if not self.charset then
			error("mysql: unknown charset " .. tostring(opts.charset), 3)
		end
	end
	self.packet_reader = packet_reader(self)
	self.query_reader = function(sock)
		return true, read_query_result(self, sock, false)
	end
	self.execute_reader = function(sock)
		return true, read_query_result(self, sock, true)
	end
	self.prepare_reader = function(sock)
		local stmt = read_prepare_result(self, sock)
		if stmt.prepare_id then
			stmt.generation = self.generation
		end
		return true, stmt
	end
	self.ok_reader = function(sock)
		return true, read_result(self, sock, false)
	end
	return self
end

-- Why the channel gave up, as an error text.
local function channel_failure(self, what)
	local ch = self.sockchannel
	if self.closed then
		return strformat("mysql: %s on %s:%s: the connection was closed by disconnect()", what, self.host, self.port)
	end
	if not ch:connected() and ch:last_error() then
		local reason = ch:last_error()
		return strformat("mysql: %s: connect %s:%s failed: %s", what, self.host, self.port,
			reason:match("^%S+ (.*)$") or reason)
	end
	return strformat("mysql: %s on %s:%s failed: connection lost", what, self.host, self.port)
end

-- Sends a command and waits for its reader.  Socket failures raise; a
-- reader that raised (malformed data) gives a badresult.
-- With a query timeout, a timer drops the connection if the command is
-- still waiting when it fires (the commands queued behind it fail too: the
-- replies of one connection come in order).
local function call(self, what, packet, reader)
	local ch = self.sockchannel
	if self.closed then
		error(channel_failure(self, what), 3)
	end
	local ti, drops, waiting = self.query_timeout, self.drops, nil
	if ti then
		waiting = true
		skynet.timeout(math.max(1, math.floor(ti * 100)), function()
			if waiting and self.drops == drops and not self.closed then
				self.drops = drops + 1
				self.drop_reason = strformat("mysql: %s on %s:%s: query timed out after %g s, connection closed",
					what, self.host, self.port, ti)
				skynet.error(self.drop_reason)
				ch:reset()
			end
		end)
	end
	local ok, res = pcall(ch.request, ch, packet, reader)
	waiting = false
	if ok then
		return res
	end
	if res == socketchannel.error then
		if self.drops ~= drops and self.drop_reason then
			error(self.drop_reason, 3)
		end
		error(channel_failure(self, what), 3)
	end
	if type(res) == "string" and (strfind(res, "^mysql: malformed") or strfind(res, "exceeds max_packet_size", 1, true)) then
		-- the reader gave up on the data; the channel closed the connection
		return { badresult = true, err = res }
	end
	error(res, 0) -- a login failure on reconnect (already explained) or a bug
end

-- mysql.connect(opts) -> db.  Raises "mysql: connect host:port failed: ...".
function mysql.connect(opts)
	assert(type(opts) == "table", "mysql.connect needs an option table")
	if not opts.host then
		error("mysql: connect needs a host", 2)
	end
	local self = new_db(opts)
	local ch = socketchannel.channel {
		host = self.host,
		port = self.port,
		auth = function(ch) login(self, ch) end,
		overload = opts.overload,
		nodelay = true,
	}
	self.sockchannel = ch
	local ok, err = pcall(ch.connect, ch, true)
	if not ok then
		ch:close()
		if err == socketchannel.error then
			local reason = ch:last_error() or "connection closed"
			error(strformat("mysql: connect %s:%s failed: %s", self.host, self.port,
				reason:match("^%S+ (.*)$") or reason), 2)
		end
		error(err, 2)
	end
	return self
end

function db_methods:disconnect()
	if self.closed then
		return
	end
	self.closed = true
	local ch = self.sockchannel
	if ch:connected() then
		pcall(ch.request, ch, strpack("<I3BB", 1, 0, COM_QUIT))
	end
	ch:close()
end

function db_methods:query(sql)
	return call(self, "query", command(self, "query", COM_QUERY, sql), self.query_reader)
end

function db_methods:prepare(sql)
	return call(self, "prepare", command(self, "prepare", COM_STMT_PREPARE, sql), self.prepare_reader)
end

-- Parameter encoding for execute: type codes and values.
local function encode_params(stmt, n, ...)
	local nullmap = {}
	for i = 1, (n + 7) // 8 do nullmap[i] = 0 end
	local types, values = {}, {}
	for i = 1, n do
		local v = select(i, ...)
		local t = type(v)
		if v == nil then
			local byte = (i - 1) // 8 + 1
			nullmap[byte] = nullmap[byte] | (1 << ((i - 1) % 8))
			types[i] = "\6\0"
		elseif t == "number" then
			if math_type(v) == "integer" then
				types[i] = "\8\0"
				values[#values + 1] = strpack("<i8", v)
			else
				types[i] = "\5\0"
				values[#values + 1] = strpack("<d", v)
			end
		elseif t == "string" then
			types[i] = "\254\0"
			values[#values + 1] = lenenc(#v)
			values[#values + 1] = v
		elseif t == "boolean" then
			types[i] = "\1\0"
			values[#values + 1] = v and "\1" or "\0"
		else
			error("invalid parameter type " .. t, 3)
		end
	end
	return strchar(table.unpack(nullmap)) .. "\1" .. concat(types) .. concat(values)
end

function db_methods:execute(stmt, ...)
	if type(stmt) ~= "table" or not stmt.prepare_id then
		error("mysql: execute needs a statement returned by prepare"
			.. (type(stmt) == "table" and stmt.badresult and (" (prepare failed: " .. tostring(stmt.err) .. ")") or ""), 2)
	end
	local n = select("#", ...)
	if n ~= stmt.param_count then
		error(strformat("require stmt.param_count %d get arg_num %d", stmt.param_count, n), 2)
	end
	local arg = strpack("<I4BI4", stmt.prepare_id, 0, 1)
	if n > 0 then
		arg = arg .. encode_params(stmt, n, ...)
	end
	local packet = command(self, "execute", COM_STMT_EXECUTE, arg)
	-- Statement ids belong to one connection, and a new connection numbers
	-- its statements from 1 again: never send an old id on a new connection.
	local ch = self.sockchannel
	if not self.closed and not ch:connected() then
		local ok, err = pcall(ch.connect, ch, true)
		if not ok then
			if err == socketchannel.error then
				error(channel_failure(self, "execute"), 2)
			end
			error(err, 0)
		end
	end
	if stmt.generation and stmt.generation ~= self.generation then
		return { badresult = true, err = "mysql: execute: the statement was prepared on an earlier connection (it was re-established since); prepare it again" }
	end
	return call(self, "execute", packet, self.execute_reader)
end

function db_methods:stmt_reset(stmt)
	return call(self, "stmt_reset", command(self, "stmt_reset", COM_STMT_RESET, strpack("<I4", stmt.prepare_id)),
		self.ok_reader)
end

function db_methods:stmt_close(stmt)
	if stmt.generation and stmt.generation ~= self.generation then
		return -- its connection is gone, and the statement with it
	end
	call(self, "stmt_close", command(self, "stmt_close", COM_STMT_CLOSE, strpack("<I4", stmt.prepare_id)), nil)
end

function db_methods:ping()
	return call(self, "ping", command(self, "ping", COM_PING, ""), self.ok_reader)
end

function db_methods:server_ver()
	return self.server_version
end

function db_methods:set_compact_arrays(value)
	self.compact = value and true or false
end

-- quote_sql_str(s) -> 's' with \0 \b \n \r \t \26 \\ ' " escaped
local escapes = {
	["\0"] = "\\0", ["\b"] = "\\b", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
	["\26"] = "\\Z", ["\\"] = "\\\\", ["'"] = "\\'", ['"'] = '\\"',
}

function mysql.quote_sql_str(s)
	return "'" .. string.gsub(s, "[\0\b\n\r\t\26\\'\"]", escapes) .. "'"
end

-- For the fuzz target (fuzz/fuzz_mysql.c) and tests: the parsers without
-- a connection.
mysql._internal = {
	new_db = new_db,
	login = login,
	read_packet = read_packet,
	read_query_result = read_query_result,
	read_prepare_result = read_prepare_result,
	parse_greeting = parse_greeting,
	frame = frame,
	native_scramble = native_scramble,
	sha2_scramble = sha2_scramble,
}

return mysql

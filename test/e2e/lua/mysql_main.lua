-- mysql_main.lua -- skynet.db.mysql against a real MariaDB (started by
-- test/e2e/test_mysql.sh, which passes host/port/credentials in the config):
-- connect and auth, every common column type in the text and the binary
-- protocol, OK packets, multiple result sets, prepared statements, SQL
-- errors, quoting, packets over 16 MiB, max_packet_size, 1,000 queries from
-- 32 coroutines, and the server killed and restarted mid-session.
-- With config key sha2_port: caching_sha2_password / sha256_password
-- against test/e2e/mysql_sha2_server.py.
local skynet = require "skynet"
local mysql = require "skynet.db.mysql"
local T = require "testlib"

local HOST = "127.0.0.1"
local PORT = tonumber(skynet.getenv "mysql_port")
local USER = skynet.getenv "mysql_user"
local PASSWORD = skynet.getenv "mysql_password"
local MDB_SCRIPT = skynet.getenv "mdb_script"
local MDB_DIR = skynet.getenv "mdb_dir"

local function connect(extra)
	local opts = { host = HOST, port = PORT, user = USER, password = PASSWORD,
		database = "skynet_test", charset = "utf8mb4" }
	for k, v in pairs(extra or {}) do opts[k] = v end
	return mysql.connect(opts)
end

local function q(db, sql)
	local res = db:query(sql)
	if res.badresult then
		error("query failed: " .. sql .. ": " .. tostring(res.err))
	end
	return res
end

local function hex(s)
	return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function all_bytes()
	local t = {}
	for i = 0, 255 do t[#t + 1] = string.char(i) end
	return table.concat(t)
end

local function show(v)
	if type(v) == "string" then return string.format("%q", v) end
	return tostring(v) .. "(" .. (math.type(v) or type(v)) .. ")"
end

-- connect and auth ----------------------------------------------------------------

local function test_connect()
	local db = connect()
	T.ok("connect: a good login returns a db", db ~= nil)
	T.ok("connect: server_ver is MariaDB's 5.5.5- version", (db:server_ver() or ""):match("^5%.5%.5%-"), db:server_ver())
	local ping = db:ping()
	T.ok("ping returns an OK table", type(ping) == "table" and ping.affected_rows == 0 and not ping.badresult)
	db:disconnect()
	T.raises("disconnect: the object is unusable afterwards", "disconnect", db.query, db, "select 1")

	T.raises("connect: a wrong password fails with the server's message",
		{ "mysql: connect 127.0.0.1:" .. PORT .. " failed", "errno:1045", "Access denied", "sqlstate:28000" },
		connect, { password = "not-the-password" })
	T.raises("connect: an unknown database fails with the server's message",
		{ "errno:1049", "Unknown database 'no_such_db'" }, connect, { database = "no_such_db" })
	local closed = tonumber(skynet.getenv "closed_port")
	T.raises("connect: server down gives connect host:port failed and the reason",
		{ "mysql: connect 127.0.0.1:" .. closed .. " failed", "refused" }, connect, { port = closed })
	T.raises("connect: an unknown charset is refused", "unknown charset", connect, { charset = "klingon" })

	local ran = 0
	db = connect { on_connect = function(d)
		ran = ran + 1
		d:query("set @marker = 42")
	end }
	T.eq("on_connect runs after login", ran, 1)
	T.eq("on_connect's session state is there", q(db, "select @marker as m")[1].m, 42)
	db:disconnect()

	db = connect { database = "" }
	T.eq("connect without a database works", q(db, "select database() as d")[1].d, nil)
	db:disconnect()
end

-- column types -------------------------------------------------------------------

local COLUMNS = {
	-- name, type, inserted literal, expected value (text and binary)
	{ "c_tiny", "TINYINT", "-128", -128 },
	{ "c_utiny", "TINYINT UNSIGNED", "255", 255 },
	{ "c_small", "SMALLINT", "-32768", -32768 },
	{ "c_usmall", "SMALLINT UNSIGNED", "65535", 65535 },
	{ "c_med", "MEDIUMINT", "-8388608", -8388608 },
	{ "c_umed", "MEDIUMINT UNSIGNED", "16777215", 16777215 },
	{ "c_int", "INT", "-2147483648", -2147483648 },
	{ "c_uint", "INT UNSIGNED", "4294967295", 4294967295 },
	{ "c_big", "BIGINT", "-9223372036854775808", math.mininteger },
	{ "c_bigmax", "BIGINT", "9223372036854775807", math.maxinteger },
	{ "c_ubig", "BIGINT UNSIGNED", "18446744073709551615", 18446744073709551615.0 },
	{ "c_dec", "DECIMAL(10,3)", "-1234567.891", -1234567.891 },
	{ "c_float", "FLOAT", "1.5", 1.5 },
	{ "c_double", "DOUBLE", "3.141592653589793", 3.141592653589793 },
	{ "c_date", "DATE", "'2024-02-29'", "2024-02-29" },
	{ "c_time", "TIME", "'-838:59:59'", "-838:59:59" },
	{ "c_time6", "TIME(6)", "'12:34:56.789012'", "12:34:56.789012" },
	{ "c_dt", "DATETIME", "'2024-01-02 03:04:05'", "2024-01-02 03:04:05" },
	{ "c_dt3", "DATETIME(3)", "'2024-01-02 03:04:05.120'", "2024-01-02 03:04:05.120" },
	{ "c_dt6", "DATETIME(6)", "'1999-12-31 23:59:59.999999'", "1999-12-31 23:59:59.999999" },
	{ "c_dtzero", "DATETIME", "'2024-01-02 00:00:00'", "2024-01-02 00:00:00" },
	{ "c_ts", "TIMESTAMP NULL", "'2024-05-06 07:08:09'", "2024-05-06 07:08:09" },
	{ "c_year", "YEAR", "2024", 2024 },
	{ "c_char", "CHAR(10)", "'abc'", "abc" },
	{ "c_varchar", "VARCHAR(100)", "'h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80'", "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80" },
	{ "c_text", "TEXT", "'it''s \"quoted\"\\nline2'", "it's \"quoted\"\nline2" },
	{ "c_blob", "BLOB", "X'" .. hex(all_bytes()) .. "'", all_bytes() },
	{ "c_bin", "VARBINARY(8)", "X'00ff00'", "\0\255\0" },
	{ "c_bit", "BIT(8)", "b'10100101'", "\xa5" },
	{ "c_enum", "ENUM('a','b')", "'b'", "b" },
	{ "c_set", "SET('x','y','z')", "'x,z'", "x,z" },
	{ "c_json", "JSON", "'{\"k\": [1, 2]}'", '{"k": [1, 2]}' },
	{ "c_null", "INT NULL", "NULL", nil },
}

local function check_row(prefix, row, bycol)
	local bad = {}
	for i, c in ipairs(COLUMNS) do
		local got = bycol and row[i + 1] or row[c[1]]
		local want = c[4]
		local ok = got == want
		if ok and type(want) == "number" then
			ok = math.type(got) == math.type(want)
		end
		if not ok then
			bad[#bad + 1] = c[1] .. " got " .. show(got) .. " want " .. show(want)
		end
	end
	T.ok(prefix, #bad == 0, table.concat(bad, "; "))
end

local function test_types(db)
	q(db, "drop table if exists types")
	local defs, names, values = {}, {}, {}
	for _, c in ipairs(COLUMNS) do
		defs[#defs + 1] = c[1] .. " " .. c[2]
		names[#names + 1] = c[1]
		values[#values + 1] = c[3]
	end
	q(db, "create table types (id INT PRIMARY KEY, " .. table.concat(defs, ", ") .. ")")
	local res = q(db, "insert into types (id, " .. table.concat(names, ", ") .. ") values (1, "
		.. table.concat(values, ", ") .. ")")
	T.eq("types: insert affected one row", res.affected_rows, 1)
	q(db, "insert into types (id) values (2)")

	local rows = q(db, "select * from types order by id")
	T.eq("types: two rows", #rows, 2)
	check_row("types: text protocol values and Lua types of every column", rows[1])
	T.ok("types: integers are Lua integers", math.type(rows[1].c_int) == "integer" and math.type(rows[1].id) == "integer")
	local allnull = true
	for _, c in ipairs(COLUMNS) do
		if rows[2][c[1]] ~= nil then allnull = false end
	end
	T.ok("types: NULL columns are absent from the row", allnull and rows[2].id == 2)

	local stmt = db:prepare("select * from types where id = ?")
	T.ok("prepare returns a statement", stmt.prepare_id and stmt.param_count == 1 and stmt.field_count == #COLUMNS + 1,
		tostring(stmt.err))
	local brows = db:execute(stmt, 1)
	T.ok("execute returns the row", type(brows) == "table" and #brows == 1, tostring(brows.err))
	check_row("types: binary protocol values and Lua types of every column", brows[1])
	local nrow = db:execute(stmt, 2)[1]
	local bnull = true
	for _, c in ipairs(COLUMNS) do
		if nrow[c[1]] ~= nil then bnull = false end
	end
	T.ok("types: binary NULLs are absent too", bnull and nrow.id == 2)

	db:set_compact_arrays(true)
	local crow = q(db, "select * from types where id = 1")[1]
	check_row("compact_arrays: rows are arrays in column order (text)", crow, true)
	check_row("compact_arrays: rows are arrays in column order (binary)", db:execute(stmt, 1)[1], true)
	local cnull = db:execute(stmt, 2)[1]
	T.ok("compact_arrays: NULLs are holes", cnull[1] == 2 and cnull[2] == nil)
	db:set_compact_arrays(false)
	db:stmt_close(stmt)

	-- zero dates in both protocols
	local zero = q(db, "select cast('0000-00-00' as date) as d, cast('00:00:00' as time) as t")
	local zs = db:prepare("select cast(? as date) as d, cast(? as time) as t, cast(? as datetime) as dt")
	local zb = db:execute(zs, "2020-01-01", "-01:02:03.5", "2020-01-01 00:00:00")
	T.ok("types: binary DATE / negative TIME / midnight DATETIME",
		zb[1] and zb[1].d == "2020-01-01" and zb[1].t == "-01:02:03" and zb[1].dt == "2020-01-01 00:00:00",
		zb[1] and (tostring(zb[1].d) .. " " .. tostring(zb[1].t) .. " " .. tostring(zb[1].dt)) or tostring(zb.err))
	T.ok("types: text zero date", zero[1] and zero[1].t == "00:00:00")
	db:stmt_close(zs)
end

-- OK packets, multiple results, errors ------------------------------------------------------

local function test_results(db)
	q(db, "drop table if exists kv")
	q(db, "create table kv (id INT AUTO_INCREMENT PRIMARY KEY, k VARCHAR(32) UNIQUE, v INT)")
	local r = q(db, "insert into kv (k, v) values ('a', 1)")
	T.ok("OK packet: affected_rows, insert_id, server_status, warning_count",
		r.affected_rows == 1 and r.insert_id == 1 and type(r.server_status) == "number" and r.warning_count == 0)
	r = q(db, "insert into kv (k, v) values ('b', 2), ('c', 3)")
	T.ok("OK packet: message for a multi-row insert", r.affected_rows == 2 and r.insert_id == 2
		and (r.message or ""):find("Records: 2", 1, true), tostring(r.message))
	r = q(db, "update kv set v = v + 10 where v >= 2")
	T.ok("OK packet: update counts rows (and has a message)", r.affected_rows == 2 and r.message, tostring(r.message))
	r = db:query("insert into kv (k, v) values ('range', 99999999999)")
	T.ok("strict mode: an out-of-range value is an error (errno 1264)", r.badresult and r.errno == 1264, tostring(r.err))
	local e = db:query("insert into kv (k) values ('" .. string.rep("x", 40) .. "')")
	T.ok("strict mode: an over-long string is rejected (errno 1406)", e.badresult and e.errno == 1406, tostring(e.err))

	e = db:query("selec nonsense")
	T.ok("SQL error: badresult with errno, err, sqlstate",
		e.badresult == true and e.errno == 1064 and e.sqlstate == "42000" and e.err:find("SQL syntax", 1, true))
	T.eq("SQL error: the connection is still usable", q(db, "select 7 as x")[1].x, 7)
	e = db:query("insert into kv (k, v) values ('a', 5)")
	T.ok("SQL error: duplicate key 1062 / 23000", e.badresult and e.errno == 1062 and e.sqlstate == "23000")
	e = db:query("select * from no_such_table")
	T.ok("SQL error: unknown table 1146 / 42S02", e.badresult and e.errno == 1146 and e.sqlstate == "42S02")
	T.eq("SQL error: still usable after several", #q(db, "select * from kv"), 3)

	local m = db:query("select 1 as a; select 'two' as b union select 'three'; insert into kv (k, v) values ('d', 4)")
	T.ok("multi-statement: multiresultset with every result",
		m.multiresultset and #m == 3 and m[1][1].a == 1 and #m[2] == 2 and m[2][2].b == "three"
		and m[3].affected_rows == 1)
	m = db:query("select 1 as a; select * from no_such_table; select 3 as c")
	T.ok("multi-statement: a failing later statement marks the set",
		m.multiresultset and m.badresult and m.errno == 1146 and #m == 1 and m[1][1].a == 1, tostring(m.err))
	T.eq("multi-statement: usable after a failing batch", q(db, "select 8 as x")[1].x, 8)
	local single = db:query("select 1 as a;")
	T.ok("a single statement is not a multiresultset", not single.multiresultset and single[1].a == 1)

	q(db, "drop procedure if exists two_sets")
	q(db, "create procedure two_sets(in n int) begin select n as first; select n * 2 as second; end")
	m = db:query("call two_sets(21)")
	T.ok("CALL: both result sets and the final OK", m.multiresultset and #m == 3 and m[1][1].first == 21
		and m[2][1].second == 42 and m[3].affected_rows ~= nil)
	local cs = db:prepare("call two_sets(?)")
	m = db:execute(cs, 5)
	T.ok("CALL via execute: mulitresultset (upstream spelling) with both sets",
		m.mulitresultset and #m == 3 and m[1][1].first == 5 and m[2][1].second == 10, tostring(m.err))
	db:stmt_close(cs)
end

-- prepared statements ---------------------------------------------------------------------

local function test_prepared(db)
	q(db, "drop table if exists params")
	q(db, "create table params (id INT AUTO_INCREMENT PRIMARY KEY, i BIGINT, d DOUBLE, s BLOB, b TINYINT, n INT)")
	local ins = db:prepare("insert into params (i, d, s, b, n) values (?, ?, ?, ?, ?)")
	T.eq("prepare: param_count", ins.param_count, 5)
	local weird = "quote ' dq \" bs \\ nul \0 nl \n end" .. all_bytes()
	local r = db:execute(ins, math.mininteger, -2.5e-300, weird, true, nil)
	T.ok("execute: insert with integer, float, string, boolean, nil", r.affected_rows == 1, tostring(r.err))
	r = db:execute(ins, math.maxinteger, 1e300, "", false, nil)
	T.ok("execute: second insert", r.affected_rows == 1 and r.insert_id == 2)
	local rows = q(db, "select * from params order by id")
	T.ok("execute: integer parameters arrive exactly", rows[1].i == math.mininteger and rows[2].i == math.maxinteger)
	T.ok("execute: float parameters arrive exactly", rows[1].d == -2.5e-300 and rows[2].d == 1e300)
	T.ok("execute: string parameters are binary-safe", rows[1].s == weird and rows[2].s == "")
	T.ok("execute: booleans become 1/0", rows[1].b == 1 and rows[2].b == 0)
	T.ok("execute: nil becomes NULL", rows[1].n == nil and rows[2].n == nil)

	local echo = db:prepare("select ? as i, ? as d, ? as s, ? as b, ? as n")
	local row = db:execute(echo, 42, 0.25, "str", true, nil)[1]
	T.ok("execute: parameters echoed back through the binary protocol",
		row and row.i == 42 and row.d == 0.25 and row.s == "str" and row.b == 1 and row.n == nil)
	T.raises("execute: the argument count must match", "require stmt.param_count 5 get arg_num 1",
		db.execute, db, echo, 1)
	T.raises("execute: a table parameter is refused", "invalid parameter type table",
		db.execute, db, echo, 1, 2, 3, {}, 5)
	local reset = db:stmt_reset(echo)
	T.ok("stmt_reset returns OK", reset and not reset.badresult and reset.affected_rows == 0)
	db:stmt_close(echo)
	r = db:execute(echo, 1, 2, 3, 4, 5)
	T.ok("execute after stmt_close: badresult (unknown handler)", r.badresult and r.errno == 1243, tostring(r.err))
	local bad = db:prepare("select from where")
	T.ok("prepare: a syntax error is an error table", bad.badresult and bad.errno == 1064)
	T.raises("execute of a failed prepare says so", "prepare failed", db.execute, db, bad)

	-- many statements, reused
	local sel = db:prepare("select ? + 1 as v")
	local good = 0
	for i = 1, 200 do
		local res = db:execute(sel, i)
		if res[1] and res[1].v == i + 1 then good = good + 1 end
	end
	T.eq("a statement executes many times", good, 200)
	db:stmt_close(sel)
end

local function test_quote(db)
	local s = "a\0b\bc\nd\re\tf\26g\\h'i\"j ' OR '1'='1"
	T.eq("quote_sql_str escapes as specified", mysql.quote_sql_str("\0\b\n\r\t\26\\'\""),
		"'\\0\\b\\n\\r\\t\\Z\\\\\\'\\\"'")
	T.eq("quote_sql_str: a round trip through the server is exact",
		q(db, "select " .. mysql.quote_sql_str(s) .. " as s")[1].s, s)
end

-- big packets ----------------------------------------------------------------------------

local function test_big()
	local db = connect { max_packet_size = 64 * 1024 * 1024 }
	q(db, "drop table if exists big")
	q(db, "create table big (id INT PRIMARY KEY, b LONGBLOB)")
	local chunk = all_bytes()
	local blob = string.rep(chunk, (17 * 1024 * 1024) // 256) .. "tail"
	local st = db:prepare("insert into big values (?, ?)")
	local r = db:execute(st, 1, blob)
	T.ok("big: a 17 MiB parameter is split into packets", r.affected_rows == 1, tostring(r.err))
	local text = string.rep("0123456789abcdef", (17 * 1024 * 1024) // 16) .. "end"
	r = db:query("insert into big values (2, '" .. text .. "')")
	T.ok("big: a 17 MiB query is split into packets", r.affected_rows == 1, tostring(r.err))
	local got = q(db, "select b from big where id = 1")[1]
	T.ok("big: a 17 MiB row (text protocol) is joined exactly", got and got.b == blob,
		got and ("length " .. #got.b) or "no row")
	local sel = db:prepare("select b from big where id = ?")
	got = db:execute(sel, 2)[1]
	T.ok("big: a 17 MiB row (binary protocol) is joined exactly", got and got.b == text)
	-- a command payload of exactly 16 MiB - 1 bytes needs an empty packet after it
	local prefix, suffix = "select '", "' as x"
	local pad = 0xffffff - 1 - #prefix - #suffix
	got = q(db, prefix .. string.rep("p", pad) .. suffix)[1]
	T.ok("big: a payload of exactly 0xffffff bytes (empty packet follows)", got and #got.x == pad)
	got = q(db, "select repeat('q', " .. (0xffffff - 4) .. ") as x")[1]
	T.ok("big: a server packet of exactly 0xffffff bytes is read", got and #got.x == 0xffffff - 4)
	db:disconnect()

	db = connect { max_packet_size = 1024 * 1024 }
	T.raises("max_packet_size: a larger query raises a clear error", { "query of", "exceeds max_packet_size 1048576" },
		db.query, db, "select '" .. string.rep("x", 1024 * 1024) .. "'")
	r = db:query("select repeat('y', 2000000) as y")
	T.ok("max_packet_size: a larger reply is a badresult saying why",
		r.badresult and not r.errno and (r.err or ""):find("exceeds max_packet_size", 1, true), tostring(r.err))
	T.eq("max_packet_size: the next query works (reconnected)", q(db, "select 5 as x")[1].x, 5)
	q(db, "drop table big")
	db:disconnect()
end

-- concurrency ------------------------------------------------------------------------------

local function test_concurrency(db)
	local N, CO = 1000, 32
	local correct, wrong, errors = 0, 0, 0
	local left = CO
	local main = coroutine.running()
	local next_i = 0
	for _ = 1, CO do
		skynet.fork(function()
			while next_i < N do
				next_i = next_i + 1
				local i = next_i
				local ok, res = pcall(db.query, db, string.format("select %d as v, repeat('x', %d) as s", i, i % 97))
				if not ok or res.badresult then
					errors = errors + 1
				elseif res[1].v == i and res[1].s == string.rep("x", i % 97) then
					correct = correct + 1
				else
					wrong = wrong + 1
				end
			end
			left = left - 1
			if left == 0 then skynet.wakeup(main) end
		end)
	end
	skynet.wait(main)
	T.ok("concurrency: 1,000 queries from 32 coroutines all get their own result",
		correct == N and wrong == 0 and errors == 0,
		string.format("correct %d wrong %d errors %d", correct, wrong, errors))

	-- mixed commands interleaved: query, execute, ping
	local st = db:prepare("select ? * 2 as v")
	local mixed_ok = 0
	left = 16
	for c = 1, 16 do
		skynet.fork(function()
			for j = 1, 20 do
				local n = c * 100 + j
				local a = db:execute(st, n)
				local b = db:query("select " .. n .. " as v")
				local p = db:ping()
				if a[1].v == n * 2 and b[1].v == n and p.affected_rows == 0 then mixed_ok = mixed_ok + 1 end
			end
			left = left - 1
			if left == 0 then skynet.wakeup(main) end
		end)
	end
	skynet.wait(main)
	T.eq("concurrency: interleaved execute/query/ping from 16 coroutines", mixed_ok, 320)
	db:stmt_close(st)
end

-- server killed and restarted ---------------------------------------------------------------------

local function sh(cmd)
	local ok = os.execute(cmd .. " >/dev/null 2>&1")
	return ok
end

local function test_restart()
	local logins = 0
	local db = connect { on_connect = function() logins = logins + 1 end }
	local st = db:prepare("select ? as v")
	T.eq("restart: before, queries work", q(db, "select 1 as x")[1].x, 1)
	local inflight
	local done = false
	skynet.fork(function()
		local ok, err = pcall(db.query, db, "select sleep(20) as s")
		inflight = { ok = ok, err = err }
		done = true
	end)
	skynet.sleep(30)
	T.ok("restart: kill the server", sh(MDB_SCRIPT .. " kill " .. MDB_DIR))
	T.waitfor(function() return done end, 500)
	T.ok("restart: the query in flight fails with 'connection lost'",
		inflight and not inflight.ok and tostring(inflight.err):find("connection lost", 1, true),
		inflight and tostring(inflight.err))
	local ok, err = pcall(db.query, db, "select 1")
	T.ok("restart: while the server is down a query raises 'connect ... failed'",
		not ok and tostring(err):find("connect 127.0.0.1:" .. PORT .. " failed", 1, true), tostring(err))
	T.ok("restart: start the server again", sh(MDB_SCRIPT .. " start " .. MDB_DIR))
	local res = db:query("select 2 as x")
	T.ok("restart: the next query reconnects and works", res[1] and res[1].x == 2, tostring(res.err))
	T.eq("restart: on_connect ran again after the reconnect", logins, 2)
	local r = db:execute(st, 1)
	T.ok("restart: an old statement is refused, not sent with a stale id",
		r.badresult and (r.err or ""):find("prepare it again", 1, true), tostring(r.err))
	st = db:prepare("select ? as v")
	T.eq("restart: a new statement works", db:execute(st, 9)[1].v, 9)
	db:disconnect()
end

-- query timeout: a slow query, and a server frozen with SIGSTOP then thawed ---------------------------

local function test_query_timeout()
	local db = connect { query_timeout = 1 }
	T.eq("query_timeout: a query shorter than the timeout returns", q(db, "select sleep(0.2) as s")[1].s, 0)
	local t0 = skynet.now()
	local ok, err = pcall(db.query, db, "select sleep(5) as s")
	T.ok("query_timeout: a query longer than the timeout raises 'query timed out'",
		not ok and tostring(err):find("mysql: query on 127.0.0.1:" .. PORT .. ": query timed out after 1 s, connection closed", 1, true),
		tostring(err))
	T.ok("query_timeout: ... after the timeout (" .. (skynet.now() - t0) .. " cs)", skynet.now() - t0 >= 100 and skynet.now() - t0 < 400)
	T.eq("query_timeout: the next query reconnects and works", q(db, "select 3 as x")[1].x, 3)

	local pidfile = MDB_DIR .. "/pid"
	T.ok("frozen: stop the server (SIGSTOP)", sh("kill -STOP $(cat " .. pidfile .. ")"))
	local results = {}
	for i = 1, 3 do
		skynet.fork(function()
			local okq, e = pcall(db.query, db, "select " .. i .. " as x")
			results[#results + 1] = okq and "answered" or tostring(e)
		end)
	end
	T.waitfor(function() return #results == 3 end, 600)
	local all = #results == 3
	for _, r in ipairs(results) do
		if not r:find("query timed out after 1 s", 1, true) then all = false end
	end
	T.ok("frozen: every query waiting on the frozen server raises 'query timed out'", all, results[1])
	T.ok("frozen: continue the server (SIGCONT)", sh("kill -CONT $(cat " .. pidfile .. ")"))
	T.eq("frozen: thawed, the next query reconnects and works", q(db, "select 4 as x")[1].x, 4)
	db:disconnect()
end

-- caching_sha2_password / sha256_password (scripted server) ----------------------------------------

local function test_sha2(port)
	local function login(user, pw, extra)
		local opts = { host = HOST, port = port, user = user, password = pw or (user .. "-pw") }
		for k, v in pairs(extra or {}) do opts[k] = v end
		return mysql.connect(opts)
	end
	local function path(db)
		local r = db:query("select path")
		return r[1] and r[1].path or tostring(r.err)
	end
	local f = assert(io.open(skynet.getenv "sha2_pem_file"))
	local pem = f:read("a")
	f:close()
	local cases = {
		{ "fast", nil, "fast", "caching_sha2_password fast path" },
		{ "full", nil, "full:key-requested", "caching_sha2_password full path, key requested from the server" },
		{ "full", { server_public_key = pem }, "full:key-given", "caching_sha2_password full path with a configured key" },
		{ "switch", nil, "switch:fast", "auth switch to native, then to caching_sha2_password" },
		{ "tonative", nil, "tonative", "auth switch to mysql_native_password" },
		{ "sha256", nil, "sha256:key-requested", "sha256_password with the key requested" },
		{ "nopw", nil, "nopw", "caching_sha2_password with an empty password" },
		{ "pkcs1", nil, "pkcs1:key-requested", "caching_sha2_password full path, the server sends a PKCS#1 key" },
		{ "full", { server_public_key = pem:gsub("\n", "\r\n") }, "full:key-given",
			"caching_sha2_password full path with a configured key in CRLF lines" },
	}
	for _, c in ipairs(cases) do
		local ok, db = pcall(login, c[1], c[1] == "nopw" and "" or nil, c[2])
		if ok then
			T.eq("sha2: " .. c[4], path(db), c[3])
			db:disconnect()
		else
			T.fail("sha2: " .. c[4], db)
		end
	end
	T.raises("sha2: a wrong password on the fast path fails with errno 1045", { "errno:1045", "Access denied" },
		login, "fast", "wrong")
	T.raises("sha2: a wrong password on the full path fails with errno 1045", "errno:1045", login, "full", "wrong")
	T.raises("sha2: a malformed public key from the server fails the connect",
		{ "mysql: connect " .. HOST .. ":" .. port .. " failed: server public key unusable: bad DER" }, login, "badkey")
	T.raises("sha2: a configured key that is not a key fails the connect",
		{ "failed: server public key unusable: not a PEM text" }, login, "full", nil, { server_public_key = "junk" })
	local db = login("fast")
	local r = db:ping()
	T.ok("sha2: the connection is usable after login", r and r.affected_rows == 0)
	db:disconnect()
end

T.run("mysql_main", function()
	local sha2_port = tonumber(skynet.getenv "sha2_port")
	if skynet.getenv "only_sha2" then
		test_sha2(sha2_port)
		return
	end
	local db = connect()
	test_connect()
	test_types(db)
	test_results(db)
	test_prepared(db)
	test_quote(db)
	test_concurrency(db)
	db:disconnect()
	test_big()
	if sha2_port then
		test_sha2(sha2_port)
	end
	test_restart()
	test_query_timeout()
end, 24000)

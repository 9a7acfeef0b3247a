-- msgdb: the message board's database service.  Owns one MySQL connection
-- (skynet.db.mysql, shared by every request: the driver keeps replies in
-- order and reconnects by itself) and the table msgs(id, text).
--   set(text) -> true, id          get() -> true, { {id = n, text = "..."}, ... }
-- A failure (database down, text too long) answers false, reason; the
-- caller turns it into an `error ...` line for its client.
local skynet = require "skynet"
local mysql = require "skynet.db.mysql"

local db

local CMD = {}

local function check(res, what)
	if res.badresult then
		error(string.format("%s failed: %s", what, tostring(res.err)), 0)
	end
	return res
end

function CMD.set(text)
	local res = check(db:query("insert into msgs (text) values (" .. mysql.quote_sql_str(text) .. ")"), "insert")
	return res.insert_id
end

function CMD.get()
	return check(db:query("select id, text from msgs order by id"), "select")
end

-- Connects to the configured database, creating it when it does not
-- exist yet, and makes sure table msgs is there.
local function open()
	local name = skynet.getenv "mysql_database" or "message_board"
	assert(name:match("^[%w_]+$"), "mysql_database must be letters, digits and _")
	local opts = {
		host = skynet.getenv "mysql_host" or "127.0.0.1",
		port = tonumber(skynet.getenv "mysql_port") or 3306,
		user = skynet.getenv "mysql_user" or "root",
		password = skynet.getenv "mysql_password" or "",
		database = name,
		charset = "utf8mb4",
		max_packet_size = 1024 * 1024,
	}
	local ok, conn = pcall(mysql.connect, opts)
	if not ok and tostring(conn):find("errno:1049", 1, true) then
		-- unknown database: create it
		opts.database = ""
		local admin = mysql.connect(opts)
		check(admin:query("create database if not exists `" .. name .. "` character set utf8mb4"), "create database")
		admin:disconnect()
		opts.database = name
		conn = mysql.connect(opts)
	elseif not ok then
		error(conn, 0)
	end
	check(conn:query([[create table if not exists msgs (
		id int unsigned not null auto_increment primary key,
		text text not null
	) character set utf8mb4]]), "create table")
	skynet.error(string.format("msgdb: connected to %s:%d database %s (%s)",
		opts.host, opts.port, name, conn:server_ver()))
	return conn
end

skynet.start(function()
	db = open()
	skynet.dispatch("lua", function(_, _, cmd, ...)
		local f = CMD[cmd]
		if not f then
			error("msgdb: unknown command " .. tostring(cmd))
		end
		-- a lost connection raises inside the driver: answer with the reason
		skynet.retpack(pcall(f, ...))
	end)
end)

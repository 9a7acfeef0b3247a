-- bench_mysql.lua -- start service of the `mysql` scenario.
--
-- Against the private MariaDB bench/run.sh starts (test/mariadb.sh; config
-- keys mysql_port, mysql_user, mysql_password), over one skynet.db.mysql
-- connection:
--   * `select 1` round trips per second from 1 coroutine, then from 32
--     coroutines sharing the connection (the driver pipelines them);
--   * rows per second reading a 100,000-row result (4 columns: int, int,
--     varchar, decimal) with query (text protocol) and execute (binary).
-- Metrics: mysql_select_coN_per_s, mysql_select_coN_cpu_ns (node CPU per
-- query; the server's CPU is not counted), mysql_rows_{text,binary}_per_s,
-- mysql_rows_{text,binary}_cpu_ns_per_row.

local skynet = require "skynet"
local mysql = require "skynet.db.mysql"
local benchlib = require "benchlib"

local ROWS = 100000

local function connect(database)
	return mysql.connect {
		host = "127.0.0.1",
		port = tonumber(skynet.getenv "mysql_port"),
		user = skynet.getenv "mysql_user" or "skynet",
		password = skynet.getenv "mysql_password" or "skynet-pw",
		database = database,
		max_packet_size = 64 * 1024 * 1024,
	}
end

local function must(res, what)
	if res.badresult then
		error(string.format("bench_mysql: %s failed: %s", what, tostring(res.err)))
	end
	return res
end

local function prepare()
	local admin = connect("")
	must(admin:query("create database if not exists skynet_bench"), "create database")
	admin:disconnect()
	local db = connect("skynet_bench")
	local have = db:query("select count(*) as n from rows100k")
	if have.badresult or have[1].n ~= ROWS then
		must(db:query("drop table if exists rows100k"), "drop")
		local res = db:query(string.format([[create table rows100k engine=innodb as
			select seq as id, seq * 7 as n, concat('name-', seq) as name, seq / 3 as d
			from seq_1_to_%d]], ROWS))
		if res.badresult then
			-- no SEQUENCE engine: a recursive CTE does it too
			must(db:query(string.format([[create table rows100k engine=innodb as
				with recursive s(i) as (select 1 union all select i + 1 from s where i < %d)
				select i as id, i * 7 as n, concat('name-', i) as name, i / 3 as d from s]], ROWS)), "fill")
		end
	end
	return db
end

local function select_case(db, ncoroutines)
	local done = 0
	local running = true
	local alive = ncoroutines
	local main = {}
	for _ = 1, ncoroutines do
		skynet.fork(function()
			while running do
				local r = db:query("select 1 as x")
				if r[1].x ~= 1 then
					error("bench_mysql: wrong answer " .. tostring(r.err))
				end
				done = done + 1
			end
			alive = alive - 1
			if alive == 0 then
				skynet.wakeup(main)
			end
		end)
	end
	local rate, cpu_ns = benchlib.measure(function() return done end)
	running = false
	skynet.wait(main)
	local name = "mysql_select_co" .. ncoroutines
	benchlib.metric(name .. "_per_s", rate, "query/s")
	benchlib.metric(name .. "_cpu_ns", cpu_ns, "ns")
end

-- Reads the whole table `runs` times; reports the best run's rate and the
-- CPU per row over all runs.
local function rows_case(name, fetch)
	fetch() -- warm-up (server buffer pool, Lua heap)
	local runs = 3
	local best = 0
	local cpu0 = benchlib.cpu_ticks()
	for _ = 1, runs do
		local t0 = skynet.hpc()
		local rows = fetch()
		local secs = (skynet.hpc() - t0) / 1e9
		if #rows ~= ROWS or rows[ROWS].id ~= ROWS then
			error("bench_mysql: " .. name .. " read " .. #rows .. " rows")
		end
		local rate = ROWS / secs
		if rate > best then best = rate end
	end
	local cpu_ns = benchlib.ticks_to_ns(benchlib.cpu_ticks() - cpu0) / (runs * ROWS)
	benchlib.metric("mysql_rows_" .. name .. "_per_s", best, "row/s")
	benchlib.metric("mysql_rows_" .. name .. "_cpu_ns_per_row", cpu_ns, "ns")
end

skynet.start(function()
	benchlib.guard "mysql"
	local db = prepare()
	for _, n in ipairs { 1, 32 } do
		select_case(db, n)
	end
	rows_case("text", function() return must(db:query("select * from rows100k"), "select") end)
	local stmt = db:prepare("select * from rows100k where id > ?")
	rows_case("binary", function() return must(db:execute(stmt, 0), "execute") end)
	db:disconnect()
	benchlib.finish()
end)

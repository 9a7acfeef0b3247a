-- benchlib.lua -- helpers shared by the benchmark services in bench/service.
--
-- Every figure a benchmark produces goes through benchlib.metric, which
-- appends one `name value unit` line to the file named by the config key
-- `bench_out`.  We write the file directly (open, append, close) instead of
-- going through skynet.error, because the logger service is retired by
-- skynet.abort() and may lose whatever is still queued for it.
--
-- Clocks: benchlib.now_ns() is skynet.hpc(), CLOCK_MONOTONIC nanoseconds,
-- the same clock bench/clockrun.c uses outside the node, so the two can be
-- compared (boot and exit times).  CPU time is read from /proc/self/stat
-- (utime + stime of the whole process, all threads) in clock ticks of
-- `bench_clk_tck` per second (run.sh passes `getconf CLK_TCK`).

local skynet = require "skynet"
require "skynet.manager" -- adds skynet.abort

local benchlib = {}

local function num_env(key, default)
	local v = skynet.getenv(key)
	return v and tonumber(v) or default
end

benchlib.seconds = num_env("bench_seconds", 3)   -- measured window per case
benchlib.warmup = num_env("bench_warmup", 0.5)   -- seconds before measuring
local clk_tck = num_env("bench_clk_tck", 100)

benchlib.now_ns = skynet.hpc

-- Appends raw text to the metric file.  Without `bench_out` (service started
-- by hand) the text goes to the log instead, so nothing is lost silently.
local function append(text)
	local path = skynet.getenv "bench_out"
	if not path then
		skynet.error(text)
		return
	end
	local f = assert(io.open(path, "a"))
	f:write(text, "\n")
	f:close()
end

-- Formats numbers so that every value keeps about 4 significant digits
-- without an exponent: 612345.4 becomes 612345, 352.04 becomes 352.0,
-- 0.012345 becomes 0.0123.
local function fmt(value)
	if value ~= value or value == math.huge or value == -math.huge then
		return "nan"
	end
	if math.type(value) == "integer" then
		return tostring(value)
	end
	local a = math.abs(value)
	if a >= 1000 then
		return string.format("%.0f", value)
	elseif a >= 100 then
		return string.format("%.1f", value)
	elseif a >= 1 then
		return string.format("%.2f", value)
	elseif a == 0 then
		return "0"
	else
		return string.format("%.4f", value)
	end
end

-- Records one metric line `name value unit`.
function benchlib.metric(name, value, unit)
	append(string.format("%s %s %s", name, fmt(value), unit))
end

-- Records a comment line (ignored by run.sh except for the markers below).
function benchlib.note(text)
	append("# " .. text)
end

-- CPU ticks used so far by the whole process (utime + stime).
-- Fields after the ")" closing the command name: state is field 3, so
-- utime (field 14) and stime (field 15) are the 12th and 13th tokens.
function benchlib.cpu_ticks()
	local f = io.open("/proc/self/stat", "r")
	if not f then return 0 end
	local line = f:read("a")
	f:close()
	local rest = line:match("%)%s+(.*)$") or ""
	local i, utime, stime = 0, 0, 0
	for tok in rest:gmatch("%S+") do
		i = i + 1
		if i == 12 then
			utime = tonumber(tok)
		elseif i == 13 then
			stime = tonumber(tok)
			break
		end
	end
	return utime + stime
end

-- Converts a tick difference to nanoseconds.
function benchlib.ticks_to_ns(ticks)
	return ticks * (1e9 / clk_tck)
end

-- Resident set size of the process in kB (VmRSS), or 0 if unknown.
function benchlib.rss_kb()
	local f = io.open("/proc/self/status", "r")
	if not f then return 0 end
	local text = f:read("a")
	f:close()
	return tonumber(text:match("VmRSS:%s*(%d+)")) or 0
end

-- A snapshot of (time, cpu, ops) used to measure a window.
-- `count` is a function returning the operations done so far.
function benchlib.snapshot(count)
	local ops = count()
	return { t = skynet.hpc(), cpu = benchlib.cpu_ticks(), ops = ops }
end

-- Rate and CPU cost between two snapshots:
-- returns ops per second and CPU nanoseconds per op.
function benchlib.window(a, b)
	local ops = b.ops - a.ops
	local secs = (b.t - a.t) / 1e9
	local rate = secs > 0 and ops / secs or 0
	local cpu_per_op = ops > 0 and benchlib.ticks_to_ns(b.cpu - a.cpu) / ops or 0
	return rate, cpu_per_op, ops, secs
end

-- Runs the standard measurement: warm-up, snapshot, sleep the measured
-- window, snapshot.  Returns rate/s, CPU ns per op, ops, seconds.
function benchlib.measure(count)
	skynet.sleep(math.floor(benchlib.warmup * 100))
	local a = benchlib.snapshot(count)
	skynet.sleep(math.floor(benchlib.seconds * 100))
	local b = benchlib.snapshot(count)
	return benchlib.window(a, b)
end

-- Value at fraction p (0..1) of an ascending array (nearest rank).
function benchlib.percentile(sorted, p)
	local n = #sorted
	if n == 0 then return 0 end
	local k = math.ceil(p * n)
	if k < 1 then k = 1 elseif k > n then k = n end
	return sorted[k]
end

-- Writes the abort time (hpc ns) to `bench_abort_mark` if configured, so
-- run.sh can measure abort-to-exit, then aborts the node.
local function abort_now()
	local mark = skynet.getenv "bench_abort_mark"
	if mark then
		local f = io.open(mark, "w")
		if f then
			f:write(string.format("%d\n", skynet.hpc()))
			f:close()
		end
	end
	skynet.abort()
end

-- Ends a scenario: writes the `# done` marker run.sh looks for, then aborts.
function benchlib.finish()
	append("# done")
	abort_now()
end

-- Arms the guard timer: if the scenario is still running after
-- `bench_guard` seconds, it records why and aborts the node, so a hung
-- scenario ends well before run.sh's `timeout` has to kill it.
function benchlib.guard(name)
	local secs = num_env("bench_guard", 30)
	skynet.timeout(math.floor(secs * 100), function()
		append(string.format("# guard: %s still running after %s s, aborting", name, secs))
		abort_now()
	end)
end

return benchlib

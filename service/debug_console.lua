-- debug_console.lua -- the debug console (upstream's commands): a line
-- protocol over TCP for looking inside a running node.
--
--   skynet.newservice("debug_console", port)        -- 127.0.0.1:port
--   skynet.newservice("debug_console", ip, port)
--
-- then `nc 127.0.0.1 port` and type `help`.  Each input line is one
-- command (first word) with string arguments; its output is a few lines
-- ending with `<CMD OK>` or `<CMD Error>`.  A first line starting with
-- `GET ` or `POST ` is an HTTP request carrying one command (the path,
-- `/` read as a space, or the body); the reply is the raw console output
-- and the connection is closed.  Over HTTP, commands that change the node
-- need a POST with the header X-Skynet-Console: 1 (HTTP_ACCESS).
--
-- Every connection runs in a coroutine of its own, and every question put
-- to one service carries a timeout (QUERY_TIMEOUT; `stat`/`mem`/`gc` take
-- theirs as an argument), so a stuck service shows up as "not answering"
-- and never blocks the console.  Per-node tables (list, stat, mem) come
-- from the launcher, which asks all services concurrently.  The console
-- runs no typed code itself: `call` expressions are evaluated, bounded in
-- time and memory, by debug_console_eval.  kill/exit refuse the node's
-- system services (system_role).
--
-- Not available in this build, and said so by the commands concerned:
-- jemalloc statistics (jmem, profactive, dumpheap), per-service C memory
-- (cmem prints the Lua heaps instead), the remote debugger (debug).

local skynet = require "skynet"
local socket = require "skynet.socket"
local core = require "skynet.core"

local format = string.format

-- centiseconds a single service gets to answer a console question
local QUERY_TIMEOUT = 500
-- centiseconds the evaluator of `call` gets (it stops an expression after
-- 1 s by itself; past this it is taken as wedged and replaced)
local EVAL_TIMEOUT = 500
-- default timeout of stat/mem/gc, as upstream
local LIST_TIMEOUT = 300
-- centiseconds `list` waits for the services' call counters (a service
-- that does not answer in time is listed without them)
local LIST_STAT_TIMEOUT = 100
-- an HTTP request header block larger than this is refused
local HTTP_HEADER_MAX = 8192
-- unread input a connection may buffer (one command line, say)
local LINE_MAX = 64 * 1024

-- What each command may do when it arrives over HTTP.  A web page open in
-- a local browser can make it send `GET /kill/...` (a link, an image) or a
-- form POST to this port, so:
--   read    only looks at the node: answered to GET and POST;
--   change  alters the node or runs code: taken only as POST carrying the
--           header X-Skynet-Console: 1 (a form or a link cannot add a
--           header; a script needs a CORS preflight, which is refused),
--           with a Host that is an IP address or localhost (a DNS-rebound
--           page sends its own domain).
-- Every command is classified here; command() refuses an unlisted one.
-- Over TCP every command is taken as before.
local HTTP_ACCESS = {
	help = "read", list = "read", stat = "read", mem = "read", cmem = "read", jmem = "read",
	service = "read", info = "read", task = "read", uniqtask = "read", ping = "read",
	netstat = "read", getenv = "read",
	gc = "change", start = "change", log = "change", snax = "change", kill = "change",
	exit = "change", killtask = "change", dbgcmd = "change", call = "change", trace = "change",
	inject = "change", logon = "change", logoff = "change", signal = "change",
	profactive = "change", dumpheap = "change", clearcache = "change", setenv = "change",
	debug = "change",
}
local HTTP_CHANGE_HEADER = "x-skynet-console" -- its value must be "1"

local COMMAND = {} -- name -> function(out, args...)
local HELP = {}    -- name -> one-line description

local function command(name, help, f)
	if HTTP_ACCESS[name] == nil then
		error("debug_console: command " .. name .. " has no entry in HTTP_ACCESS")
	end
	COMMAND[name] = f
	HELP[name] = help
end

-- address arguments ---------------------------------------------------------

-- ":0000000a" / ":a" as given; ".name" by local name; "a" / "0a" as hex in
-- this node's harbor.  Returns the numeric handle.  A handle is 1 to 8 hex
-- digits and not 0: a longer word (`99999999999999999999999`, which
-- tonumber would wrap around) or stray characters are refused rather than
-- turned into some other service's handle.
local function parse_address(s)
	if s == nil then
		error("Need an address")
	end
	local c = s:sub(1, 1)
	if c == "." then
		return skynet.localname(s) or error("Not a valid name")
	end
	local hex = (c == ":") and s:sub(2) or s
	local n = #hex <= 8 and hex:match("^%x+$") and tonumber(hex, 16)
	if not n or n == 0 then
		error(format("bad address '%s' (want :<1-8 hex digits>, <1-8 hex digits> or .name): Need an address", s), 0)
	end
	if c ~= ":" then
		n = n | (skynet.harbor(skynet.self()) << 24)
	end
	return n
end

-- As parse_address, and the service must exist (core.alive).  A handle of
-- another harbor counts as alive (only its node knows; with no such node
-- the harbor service fails the call with "no such node"), unless `here`:
-- commands that act on this node's services (kill, exit, logon, logoff,
-- signal) refuse it.
local function live_address(s, here)
	local addr = parse_address(s)
	local harbor, own = addr >> 24, skynet.harbor(skynet.self())
	if harbor ~= own and here then
		error(format("%s is not a service of this node (harbor %d; this node is harbor %d)",
			skynet.address(addr), harbor, own), 0)
	end
	if not core.alive(addr) then
		error(format("%s: no such service (it exited or never existed)", skynet.address(addr)))
	end
	return addr
end

-- the address of a service of this node
local function local_address(s)
	return live_address(s, true)
end

-- skynet.call(addr, typename, ...) with a timeout of ti centiseconds:
-- returns the results, or raises the call's error or a message saying the
-- service did not answer.  The call runs in a forked coroutine; after a
-- timeout it stays parked until the late reply (or the service's death)
-- ends it, which costs one idle coroutine per unanswered question.
local function query_within(ti, addr, typename, ...)
	local co = coroutine.running()
	local waiting, result = true, nil
	local function finish(r)
		if waiting then
			waiting, result = false, r
			skynet.wakeup(co)
		end
	end
	local args = table.pack(...)
	skynet.fork(function()
		finish(table.pack(pcall(skynet.call, addr, typename, table.unpack(args, 1, args.n))))
	end)
	skynet.timeout(ti, function() finish(false) end)
	skynet.wait(co)
	if not result then
		error(format("%s is not answering (no reply in %g s)", skynet.address(addr), ti / 100), 0)
	elseif not result[1] then
		error(tostring(result[2]), 0)
	end
	return table.unpack(result, 2, result.n)
end

local function query(addr, typename, ...)
	return query_within(QUERY_TIMEOUT, addr, typename, ...)
end

local function launcher(...)
	return skynet.call(".launcher", "lua", ...)
end

-- system services -------------------------------------------------------------

-- The node's own services: without one of them newservice, names, logging,
-- the datacenter or this console stop working for everybody, so kill and
-- exit (and dbgcmd EXIT) refuse them.  Found by their registered names; the
-- ones that have none by launch order (bootstrap.lua, skynet_start.c): the
-- C start creates the logger and then the bootstrap service, bootstrap
-- launches cmaster (harbor mode, standalone) right before .cslave, and
-- .cslave's first act is to launch the C harbor service.
local datacenter_addr -- DATACENTER's handle, once known

local function datacenter()
	if datacenter_addr == nil then
		-- a global name: .cslave answers at once for a registered one
		local ok, addr = pcall(query, ".cslave", "lua", "QUERYNAME", "DATACENTER")
		if ok and math.type(addr) == "integer" then
			datacenter_addr = addr
		end
	end
	return datacenter_addr
end

-- the role of addr (a handle of this node) if it is a system service
local function system_role(addr)
	if addr == skynet.self() then
		return "this debug console"
	end
	local logger = skynet.localname(".logger")
	local cslave = skynet.localname(".cslave")
	-- harbor mode: the node with `standalone` launches cmaster just before
	local master = cslave and skynet.harbor(skynet.self()) ~= 0 and skynet.getenv("standalone") and cslave - 1
	local roles = {
		{ master, "the harbor master (cmaster)" },
		{ logger, "the logger" },
		{ logger and logger + 1, "the bootstrap service" },
		{ skynet.localname(".launcher"), "the launcher" },
		{ cslave, "the harbor service (.cslave)" },
		{ cslave and cslave + 1, "the C harbor service" },
		{ skynet.localname(".service"), "the service manager (.service)" },
		{ datacenter(), "the datacenter (DATACENTER)" },
	}
	for _, r in ipairs(roles) do
		if r[1] == addr then
			return r[2]
		end
	end
end

-- raises "<cmd> :addr refused: ..." when addr is a system service
local function refuse_system(cmd, addr)
	local role = system_role(addr)
	if role then
		error(format("%s %s refused: %s is a system service", cmd, skynet.address(addr), role), 0)
	end
end

-- "300" -> 300; "0" or negative -> nil (wait forever); absent -> default
local function timeout_arg(ti)
	if ti == nil then
		return LIST_TIMEOUT
	end
	local n = tonumber(ti) or error("timeout must be a number of centiseconds: " .. ti)
	if n <= 0 then
		return nil
	end
	return n
end

local function toboolean(s)
	if s == "on" or s == "true" then
		return true
	elseif s == "off" or s == "false" then
		return false
	end
end

-- commands: services -----------------------------------------------------------

command("help", "This help message", function()
	return HELP
end)

-- Upstream's `:addr<TAB>launch command`, then the service's call counters
-- (as in stat) when it answers within the timeout (default
-- LIST_STAT_TIMEOUT); a service that does not keeps upstream's line.
command("list", "list [timeout]: every service started by the launcher, with its calls waiting and timed out",
	function(_, ti)
		local list = launcher("LIST")
		local stat = launcher("STAT", ti == nil and LIST_STAT_TIMEOUT or timeout_arg(ti))
		for addr, cmdline in pairs(list) do
			local st = stat[addr]
			if type(st) == "table" and st.waiting then
				list[addr] = string.format("%s\twaiting:%d\ttimeout:%d\ttimeout_late:%d", cmdline, st.waiting,
					st.timeout, st.timeout_late)
			end
		end
		return list
	end)

command("stat", "stat [timeout]: cpu, messages, mailbox, suspended tasks, calls waiting and timed out (and late replies dropped) of every service",
	function(_, ti)
		return launcher("STAT", timeout_arg(ti))
	end)

command("mem", "mem [timeout]: Lua memory of every service", function(_, ti)
	return launcher("MEM", timeout_arg(ti))
end)

command("gc", "gc [timeout]: collect garbage in every service, then show mem", function(_, ti)
	return launcher("GC", timeout_arg(ti))
end)

command("cmem", "Memory of every service (Lua heaps: C memory is not tracked per service)",
	function(out)
		local mem = launcher("MEM", LIST_TIMEOUT)
		local keys = {}
		for k in pairs(mem) do keys[#keys + 1] = k end
		table.sort(keys)
		local total = 0
		for _, k in ipairs(keys) do
			local kb = tonumber(mem[k]:match("^([%d.]+) Kb"))
			if kb then
				local bytes = math.floor(kb * 1024 + 0.5)
				total = total + bytes
				out.print(k, bytes)
			else
				out.print(k, mem[k])
			end
		end
		out.print("total", total)
		out.print("C allocations (skynet_malloc = libc malloc) are not tracked per service;"
			.. " figures above are each service's Lua heap in bytes")
	end)

command("jmem", "jemalloc statistics (not available: this node does not use jemalloc)", function()
	return "jemalloc is not linked into this node: no allocator statistics (see mem / cmem)"
end)

command("profactive", "profactive [on|off]: jemalloc heap profiling (not available)", function()
	return "heap profiling needs jemalloc, which this node does not use"
end)

command("dumpheap", "Dump a jemalloc heap profile (not available)", function()
	return "heap profiling needs jemalloc, which this node does not use"
end)

command("kill", "kill address: kill a service", function(_, address)
	local addr = local_address(address)
	refuse_system("kill", addr)
	return launcher("KILL", addr)
end)

command("exit", "exit address: ask a service to exit (skynet.exit)", function(_, address)
	local addr = local_address(address)
	refuse_system("exit", addr)
	if not skynet.send(addr, "debug", "EXIT") then
		error(format("%s: no such service", skynet.address(addr)))
	end
end)

-- upstream's convention: the first argument (the name) is what is shown
local function started(addr, name)
	if addr then
		return { [skynet.address(addr)] = name }
	end
	return "Exit"
end

command("start", "start name args...: launch a Lua service", function(_, ...)
	if select("#", ...) == 0 then
		error("start needs a service name")
	end
	local ok, addr = pcall(skynet.newservice, ...)
	if not ok then
		return "Failed"
	end
	return started(addr, (...))
end)

command("log", "log name args...: launch a Lua service and log its messages (logon)",
	function(_, ...)
		if select("#", ...) == 0 then
			error("log needs a service name")
		end
		local ok, addr = pcall(launcher, "LOGLAUNCH", "snlua", ...)
		if not ok or not addr then
			return "Failed"
		end
		return started(addr, (...))
	end)

command("snax", "snax name args...: launch a snax service (args go to its init)", function(_, name, ...)
	local snax = require "skynet.snax"
	local ok, obj = pcall(snax.newservice, name, ...)
	if not ok then
		return "Failed"
	end
	return { [skynet.address(obj.handle)] = name }
end)

command("service", "List unique services (SERVICE)", function()
	return skynet.call(".service", "lua", "LIST")
end)

command("logon", "logon address: log the messages of a service to logpath", function(_, address)
	core.command("LOGON", skynet.address(local_address(address)))
end)

command("logoff", "logoff address: stop logging the messages of a service", function(_, address)
	core.command("LOGOFF", skynet.address(local_address(address)))
end)

command("signal", "signal address [sig]: 0 interrupts the Lua code running, 1 logs its memory",
	function(_, address, sig)
		local addr = local_address(address)
		sig = sig and (tonumber(sig) or error("signal must be a number: " .. sig)) or 0
		core.command("SIGNAL", format("%s %d", skynet.address(addr), sig))
	end)

-- commands: one service, through the debug protocol --------------------------

command("info", "info address args...: the service's info_func(args...)", function(_, address, ...)
	return (query(live_address(address), "debug", "INFO", ...))
end)

command("ping", "ping address: round trip time in centiseconds", function(_, address)
	local addr = live_address(address)
	local t = skynet.now()
	query(addr, "debug", "PING")
	return tostring(skynet.now() - t)
end)

command("task", "task address [session]: suspended coroutines of a service with tracebacks",
	function(_, address, session)
		local addr = live_address(address)
		if session then
			return (query(addr, "debug", "TASK", tonumber(session) or session))
		end
		return (query(addr, "debug", "TASK"))
	end)

command("uniqtask", "uniqtask address: the service's suspended coroutines grouped by traceback",
	function(_, address)
		return (query(live_address(address), "debug", "UNIQTASK"))
	end)

command("killtask", "killtask address name: kill a coroutine listed by task", function(_, address, name)
	local addr = live_address(address)
	if name == nil then
		error("killtask needs a coroutine name (see task)")
	end
	return (query(addr, "debug", "KILLTASK", name))
end)

command("dbgcmd", "dbgcmd address CMD args...: any debug-protocol command", function(out, address, cmd, ...)
	local addr = live_address(address)
	if cmd == nil then
		error("dbgcmd needs a debug command (MEM, STAT, TASK, INFO, PING, ...)")
	end
	if cmd == "EXIT" then
		refuse_system("dbgcmd EXIT", local_address(address))
	end
	local r = table.pack(query(addr, "debug", cmd, ...))
	for i = 2, r.n do -- extra results are printed first, one line each
		out.print(r[i])
	end
	return r[1]
end)

command("trace", "trace address [proto] [on|off]: turn request tracing on or off",
	function(_, address, proto, flag)
		local addr = live_address(address)
		if flag == nil then
			if proto == "on" or proto == "off" then
				proto = toboolean(proto)
			end
		else
			flag = toboolean(flag)
		end
		query(addr, "debug", "TRACELOG", proto, flag)
	end)

command("inject", "inject address file args...: run a Lua file inside a service", function(_, address, file, ...)
	local addr = live_address(address)
	if file == nil then
		error("inject needs a file name")
	end
	local f = io.open(file, "rb")
	if not f then
		return "Can't open " .. file
	end
	local source = f:read "a"
	f:close()
	local ok, output = query(addr, "debug", "RUN", source, file, ...)
	if ok == false then
		error(output, 0)
	end
	return output
end)

command("debug", "debug address: interactive remote debugger (not available)", function(_, address)
	live_address(address)
	error("Debugger attach failed (the remote debugger is not available on this node)", 0)
end)

-- The service that evaluates `call` expressions (debug_console_eval.lua:
-- time, memory and C-call bounds).  Started with the console, so that it
-- is listed from the beginning; started again on the next use if it was
-- killed or replaced.  While one connection starts it, the others wait
-- for the same one.
local evaluator
local evaluator_waiting -- coroutines waiting while it starts, or nil

local function get_evaluator()
	if evaluator and core.alive(evaluator) then
		return evaluator
	end
	if evaluator_waiting then
		local co = coroutine.running()
		evaluator_waiting[#evaluator_waiting + 1] = co
		skynet.wait(co)
		return evaluator or error("call: the expression evaluator could not be started", 0)
	end
	evaluator, evaluator_waiting = nil, {}
	local ok, addr = pcall(skynet.newservice, "debug_console_eval", skynet.address(skynet.self()))
	evaluator = ok and addr or nil
	local waiting = evaluator_waiting
	evaluator_waiting = nil
	for _, co in ipairs(waiting) do
		skynet.wakeup(co)
	end
	if not ok then
		error("call: the expression evaluator could not be started: " .. tostring(addr), 0)
	end
	return evaluator
end

-- The values of the expression list `source`, as a packed table.
local function evaluate(source)
	local eval = get_evaluator()
	local r = table.pack(pcall(query_within, EVAL_TIMEOUT, eval, "lua", source))
	if not r[1] then
		-- wedged (or killed): replace it, the next call starts another
		if evaluator == eval then
			evaluator = nil
			pcall(launcher, "KILL", eval)
		end
		error(format("call: the expression evaluator %s failed and was replaced: %s",
			skynet.address(eval), tostring(r[2])), 0)
	end
	if not r[2] then
		error(r[3], 0)
	end
	return table.pack(table.unpack(r, 4, 3 + r[3]))
end

-- `call address expr`: the rest of the line is a Lua expression list
-- evaluated in an empty environment, in the evaluator service.
command("call", "call address expr...: skynet.call(address, \"lua\", expr...)", function(out, address)
	local addr = live_address(address)
	local args = out.line:match("^%s*%S+%s+%S+%s+(.-)%s*$")
	if args == nil or args == "" then
		error("need arguments")
	end
	local v = evaluate(args)
	return table.pack(query(addr, "lua", table.unpack(v, 1, v.n)))
end)

-- commands: node ----------------------------------------------------------------

command("clearcache", "Clear the Lua code cache", function()
	skynet.cache.clear()
end)

command("getenv", "getenv name: a config / env value", function(out, name)
	if name == nil then
		error("getenv needs a name")
	end
	out.print(name, tostring(skynet.getenv(name)))
end)

command("setenv", "setenv name value: add a new env key", function(_, name, value)
	if name == nil or value == nil then
		error("setenv needs a name and a value")
	end
	skynet.setenv(name, value)
end)

-- byte counts as upstream shows them: < 1024 plain, then K, then M
local function bytes(n)
	if n == nil or n == 0 then
		return nil
	elseif n < 1024 then
		return n
	elseif n < 1024 * 1024 then
		return tostring(n / 1024) .. "K"
	end
	return tostring(n / (1024 * 1024)) .. "M"
end

-- age of an event at time t (centiseconds, skynet.now clock); 0 = never
local function age(now, t)
	if t == nil or t == 0 then
		return nil
	end
	local d = now - t
	if d < 0 then d = 0 end
	if d < 6000 then
		return tostring(d / 100) .. "s"
	end
	local hour = d // 360000
	local min = (d % 360000) // 6000
	local sec = (d % 6000) / 100
	return format("%s%d:%.2fs", hour > 0 and (hour .. ":") or "", min, sec)
end

command("netstat", "Every socket: owner, type, address, bytes read and written, last activity",
	function()
		local list = socket.netstat()
		local now = skynet.now()
		for _, s in ipairs(list) do
			s.address = skynet.address(s.address)
			s.read = bytes(s.read)
			s.write = bytes(s.write)
			s.wbuffer = bytes(s.wbuffer)
			s.rtime = age(now, s.rtime)
			s.wtime = age(now, s.wtime)
		end
		return list
	end)

-- output ----------------------------------------------------------------------

local function sorted_keys(t)
	local keys = {}
	for k in pairs(t) do keys[#keys + 1] = k end
	table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
	return keys
end

-- `key<TAB>value`, a table value as `k1:v1<TAB>k2:v2...`
local function dump_line(out, k, v)
	if type(v) == "table" then
		local cols = { tostring(k) }
		for _, sk in ipairs(sorted_keys(v)) do
			cols[#cols + 1] = tostring(sk) .. ":" .. tostring(v[sk])
		end
		out.print(table.concat(cols, "\t"))
	else
		out.print(k, v)
	end
end

local function dump_result(out, r)
	if r == nil then
		return
	elseif type(r) == "table" then
		for _, k in ipairs(sorted_keys(r)) do
			dump_line(out, k, r[k])
		end
	else
		out.print(r)
	end
end

-- Runs one command line; appends its output and terminator to out.
local function docmd(out, line)
	local words = {}
	for w in line:gmatch("%S+") do
		words[#words + 1] = w
	end
	out.line = line
	local f = COMMAND[words[1]]
	if f == nil then
		out.print("Invalid command, type help for command list")
		out.print()
		out.print("<CMD Error>")
		return
	end
	local ok, r = xpcall(f, function(e)
		if type(e) ~= "string" then e = tostring(e) end
		return e
	end, out, table.unpack(words, 2))
	if ok then
		dump_result(out, r)
		out.print("<CMD OK>")
	else
		out.print(r)
		out.print("<CMD Error>")
	end
end

-- Output of one command, written in one piece when it is done.
local function new_output()
	local buf = {}
	local out = {}
	function out.print(...)
		local n = select("#", ...)
		local t = {}
		for i = 1, n do
			t[i] = tostring((select(i, ...)))
		end
		buf[#buf + 1] = table.concat(t, "\t")
		buf[#buf + 1] = "\n"
	end
	function out.flush(fd)
		if #buf > 0 then
			socket.write(fd, table.concat(buf))
			buf = {}
		end
	end
	return out
end

-- connections -----------------------------------------------------------------

local function unescape(s)
	return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- Reads the header lines after an HTTP request line; returns a table of
-- them (lower-case names) or nil on a closed or oversized request.
local function read_http_headers(fd)
	local headers, total = {}, 0
	while true do
		local h = socket.readline(fd, "\n")
		if not h then
			return nil
		end
		total = total + #h
		if total > HTTP_HEADER_MAX then
			return nil
		end
		h = h:gsub("\r$", "")
		if h == "" then
			return headers
		end
		local name, value = h:match("^([^:%s]+):%s*(.-)%s*$")
		if name then
			headers[name:lower()] = value
		end
	end
end

-- Whether an HTTP request line starts here: GET or POST (HTTP/0.9 style,
-- as upstream), or any method followed by a target and HTTP/x.y.  Console
-- commands are lower case, so no command line looks like one.
local function http_method(line)
	local method = line:match("^(%u+) ")
	if method == "GET" or method == "POST" or line:match("^%u+%s+%S+%s+HTTP/%d") then
		return method
	end
end

-- Reads the rest of an HTTP request: { method, cmdline, headers }, or nil
-- (nothing answered) if the request is unusable.
local function http_request(fd, line)
	local method, target, version = line:match("^(%u+)%s+(%S+)%s*(%S*)")
	if method == nil then -- "GET " without a target
		return nil
	end
	local headers = {}
	if version ~= "" then -- HTTP/1.x: headers follow (HTTP/0.9 has none)
		headers = read_http_headers(fd)
		if headers == nil then
			return nil
		end
	end
	local req = { method = method, headers = headers, cmdline = "" }
	if method == "POST" then
		local length = tonumber((headers["content-length"] or ""):match("^%d+$"))
		if length == nil or length == 0 or length > HTTP_HEADER_MAX then
			return nil
		end
		req.cmdline = socket.read(fd, length)
		if not req.cmdline then
			return nil
		end
	elseif method == "GET" then
		local path = target:gsub("[?#].*", ""):sub(2)
		req.cmdline = unescape((path:gsub("/", " ")))
	end
	return req
end

-- Whether Host names the machine by address (an IP literal or localhost).
-- A page rebound through DNS to 127.0.0.1 still sends its own domain.
-- HTTP/1.0 clients may leave Host out; browsers always send it.
local function host_is_address(host)
	if host == nil or host:match("^%[[%x:.]+%]:?%d*$") then
		return true
	end
	local name = host:lower():match("^([^:]*):?%d*$")
	return name == "localhost" or (name ~= nil and name:match("^%d+%.%d+%.%d+%.%d+$") ~= nil)
end

-- Applies HTTP_ACCESS: nil if the request may run, else an HTTP status and
-- the reason.  The welcome line went out on connect, before the request
-- could be read, so the reply stays upstream's raw console output and the
-- status is its error line ("405 Method Not Allowed: ...").
local function http_refusal(req)
	if req.method ~= "GET" and req.method ~= "POST" then
		return "405 Method Not Allowed",
			format("the console takes HTTP GET (commands that only look) and POST, not %s", req.method)
	end
	local name = req.cmdline:match("%S+")
	if COMMAND[name] == nil or HTTP_ACCESS[name] == "read" then
		return nil
	end
	if req.method == "GET" then
		return "405 Method Not Allowed",
			format("%s changes the node: send it as POST with the header X-Skynet-Console: 1", name)
	end
	if req.headers[HTTP_CHANGE_HEADER] ~= "1" then
		return "403 Forbidden", format("%s changes the node: a POST needs the header X-Skynet-Console: 1"
			.. " (a cross-site form cannot send it)", name)
	end
	if not host_is_address(req.headers.host) then
		return "403 Forbidden", format("%s changes the node: Host %s is not an IP address or localhost"
			.. " (a page rebound through DNS sends its own name)", name, req.headers.host)
	end
end

local function session(fd)
	socket.write(fd, "Welcome to skynet console\n")
	while true do
		local line = socket.readline(fd, "\n")
		if not line then
			return
		end
		line = line:gsub("\r$", "")
		if http_method(line) then
			local req = http_request(fd, line)
			if req then
				local out = new_output()
				local status, why = http_refusal(req)
				if status then
					out.print(status .. ": " .. why)
					out.print("<CMD Error>")
				else
					docmd(out, req.cmdline)
				end
				out.flush(fd)
			end
			return
		end
		if line:find("%S") then
			local out = new_output()
			docmd(out, line)
			out.flush(fd)
		end
	end
end

local function serve(fd, peer)
	if not socket.start(fd) then
		skynet.error(peer .. " connect failed")
		return
	end
	skynet.error(peer .. " connected")
	-- a line (or HTTP header block) longer than this closes the connection
	socket.limit(fd, LINE_MAX)
	local ok, err = pcall(session, fd)
	if not ok then
		skynet.error(format("console session %s: %s", peer, tostring(err)))
	end
	socket.close(fd)
	skynet.error(peer .. " disconnect")
end

-- start -------------------------------------------------------------------------

local argv = table.pack(...)

skynet.start(function()
	if argv.n > 2 then
		error("debug_console: at most two arguments: [ip] port")
	end
	local ip, port = "127.0.0.1", argv[1]
	if argv.n == 2 then
		ip, port = argv[1], argv[2]
	end
	port = tonumber(port) or error("debug_console: need a port number, got " .. tostring(port))
	-- without it only `call` fails (and says why); it is tried again then
	local ok, err = pcall(get_evaluator)
	if not ok then
		skynet.error(tostring(err))
	end
	local listen_id = socket.listen(ip, port)
	skynet.error(format("Start debug console at %s:%d", ip, port))
	socket.start(listen_id, function(fd, peer)
		skynet.fork(serve, fd, peer)
	end)
end)

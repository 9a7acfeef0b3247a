-- Message board (user notes, section 五): start service of
-- examples/msgboard/config.  Starts msgdb (the database side), then
-- listens for clients.  One coroutine per client reads lines:
--
--   set <text>   -> "ok <id>"       stores <text> (see escapes below)
--   get          -> "<id> <text>" for every stored message, then "end"
--   quit         -> "bye", and the connection is closed
--   (other)      -> "error <why>"
--
-- Lines end with "\n" ("\r\n" works too).  So that any text can travel on
-- one line, a backslash escapes: "\n" newline, "\r" carriage return, "\\"
-- backslash (any other backslash is kept as it is).  get escapes the same
-- way, so what `set` stored comes back byte for byte.
local skynet = require "skynet"
local socket = require "skynet.socket"

local MAX_LINE = 256 * 1024 -- the TEXT column holds 65535 bytes; escapes double at most

local msgdb

local unescape_map = { n = "\n", r = "\r", ["\\"] = "\\" }

local function unescape(s)
	return (s:gsub("\\(.)", function(c) return unescape_map[c] or ("\\" .. c) end))
end

local function escape(s)
	return (s:gsub("[\\\n\r]", { ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r" }))
end

local function reply(fd, line)
	socket.write(fd, line .. "\r\n")
end

-- One request line; returns false to close the connection.
local function handle(fd, line)
	if line:sub(-1) == "\r" then
		line = line:sub(1, -2)
	end
	if #line > MAX_LINE then
		reply(fd, "error line longer than " .. MAX_LINE .. " bytes")
		return true
	end
	if line:sub(1, 4) == "set " then
		local ok, id = skynet.call(msgdb, "lua", "set", unescape(line:sub(5)))
		reply(fd, ok and ("ok " .. id) or ("error " .. tostring(id):gsub("[\r\n]", " ")))
	elseif line:match("^get%s*$") then
		local ok, rows = skynet.call(msgdb, "lua", "get")
		if not ok then
			reply(fd, "error " .. tostring(rows):gsub("[\r\n]", " "))
			return true
		end
		local out = {}
		for i, row in ipairs(rows) do
			out[i] = row.id .. " " .. escape(row.text) .. "\r\n"
		end
		out[#out + 1] = "end\r\n"
		socket.write(fd, table.concat(out))
	elseif line:match("^quit%s*$") then
		reply(fd, "bye")
		return false
	else
		reply(fd, "error unknown command (use: set <text> | get | quit)")
	end
	return true
end

local function client(fd, addr)
	-- more than this unread (a client flooding without newlines) closes it
	socket.limit(fd, 4 * MAX_LINE)
	while true do
		local line = socket.readline(fd, "\n")
		if not line or not handle(fd, line) then
			break
		end
	end
	socket.close(fd)
	skynet.error(fd .. " disconnect addr:" .. addr)
end

skynet.start(function()
	msgdb = skynet.newservice("msgdb")
	local address = skynet.getenv "msgboard_address" or "0.0.0.0"
	local port = tonumber(skynet.getenv "msgboard_port") or 8888
	local listenfd, ip, bound = socket.listen(address, port)
	skynet.error(string.format("Message board listening on %s:%d", ip or address, bound or port))
	socket.start(listenfd, function(fd, addr)
		if not socket.start(fd) then
			return
		end
		skynet.error(fd .. " connect addr:" .. addr)
		skynet.fork(client, fd, addr)
	end)
end)

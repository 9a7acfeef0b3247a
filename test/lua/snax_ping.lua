-- snax_ping.lua -- a snax service file for test/lua/test_snax.lua (and the
-- debug console test), shaped like upstream's test/pingserver.lua: its
-- first five methods are response.ping (id 5), accept.sleep (6),
-- accept.hello (7), accept.exit (8), response.error (9).
local skynet = require "skynet"
local snax = require "skynet.snax"

local i = 0
local observer
local blocked = {}

gvar = "file-level global"

function response.ping(text)
	skynet.sleep(1)
	return text
end

function accept.sleep(n)
	skynet.sleep(n)
end

function accept.hello()
	i = i + 1
end

function accept.exit(...)
	snax.exit(...)
end

function response.error()
	error "throw an error"
end

function response.count()
	return i
end

function response.multi()
	return 1, nil, "three", nil
end

function response.where()
	return SERVICE_NAME, SERVICE_PATH, package.path, gvar
end

function response.global(name)
	return _ENV[name]
end

-- Parks until unblock(token); meanwhile other messages run.
function response.block(token)
	blocked[token] = coroutine.running()
	skynet.wait()
	return "unblocked " .. token
end

function accept.unblock(token)
	skynet.wakeup(blocked[token])
end

-- The same name in both groups shares one profile entry.
function accept.twice() end
function response.twice() return "twice" end

function init(who, ...)
	if who == "fail" then
		error "init refused"
	end
	observer = who
	if observer then
		skynet.send(observer, "lua", "init", ...)
	end
end

function exit(...)
	if observer then
		skynet.send(observer, "lua", "exit", ...)
	end
end

function hotfix(...)
	return "no patch", ...
end

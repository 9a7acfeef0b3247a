-- cluster_echo.lua -- the target service of the cluster e2e tests: answers
-- "lua" calls that arrive over the cluster.  Launched as
--   cluster_echo <nodename>
local skynet = require "skynet"
local cluster = require "skynet.cluster"

local nodename = ...
local count = 0
local pushed = {} -- last values pushed, in order

local CMD = {}

function CMD.echo(...) return ... end
function CMD.whoami() return nodename, skynet.self() end
function CMD.fail(msg) error(msg or "told to fail") end
function CMD.sleep(ti, ...) skynet.sleep(ti) return ... end
function CMD.big(n, ch) return string.rep(ch or "x", n) end
-- size and a cheap checksum of a (large) string, so the caller can check it arrived intact
function CMD.digest(s)
	local sum = 0
	for i = 1, #s, 4093 do sum = (sum * 31 + s:byte(i)) % 1000000007 end
	return #s, sum, s:sub(1, 16), s:sub(-16)
end
function CMD.push(v) count = count + 1; pushed[#pushed + 1] = v end
function CMD.count() return count end
function CMD.pushed() local p = pushed; pushed = {}; return p end
function CMD.reset() count = 0; pushed = {} end
-- chained call: this node calls another node on behalf of the caller
function CMD.relay(node, addr, ...) return cluster.call(node, addr, ...) end
function CMD.exit() skynet.exit() end

skynet.start(function()
	skynet.dispatch("lua", function(session, _, cmd, ...)
		local f = CMD[cmd]
		if not f then error("cluster_echo: unknown command " .. tostring(cmd)) end
		if session == 0 then
			f(...)
		else
			skynet.retpack(f(...))
		end
	end)
end)

-- bench_cluster_target.lua -- the service the `cluster` scenario calls on
-- the server node, as "@target".
--   echo(...)   answered with its arguments
--   push(i)     (sent) counted
--   count       how many pushes arrived
--   size(s)     answered with #s (1 MiB requests)
--   blob(n)     answered with an n-byte string (1 MiB responses; cached)
--   cpu         CPU ticks used by this node so far (for cpu-per-op figures)
--   quit        finish: writes "# done" and aborts the node

local skynet = require "skynet"
local benchlib = require "benchlib"

local pushes = 0
local blobs = {}

local CMD = {}

function CMD.echo(...) return ... end
function CMD.push() pushes = pushes + 1 end
function CMD.count() return pushes end
function CMD.size(s) return #s end
function CMD.blob(n)
	local b = blobs[n]
	if not b then
		b = string.rep("b", n)
		blobs[n] = b
	end
	return b
end
function CMD.cpu() return benchlib.cpu_ticks() end
function CMD.quit()
	skynet.timeout(10, benchlib.finish)
	return true
end

skynet.start(function()
	skynet.dispatch("lua", function(session, _, cmd, ...)
		local f = CMD[cmd]
		if session == 0 then
			f(...)
		else
			skynet.ret(skynet.pack(f(...)))
		end
	end)
end)

-- A service for test_console.sh to look at (see console_main.lua).
--   mode "idle":    nothing but skynet.start (the 10,000-service test)
--   mode "limited": skynet.memlimit(1 MB) before start
-- lua commands: alloc kb (keeps kb KiB of strings alive), free, echo ...,
-- burn ms (busy for ms milliseconds),
-- park (the request stays suspended until "release"), release, spin
-- (busy loop until killed or interrupted by signal 0), callpark n [ti]
-- (n calls to .callee "park").
local skynet = require "skynet"

local mode = ...

if mode == "idle" then
	skynet.start(function() end)
	return
end

if mode == "limited" then
	skynet.memlimit(1024 * 1024)
end

local hold = {}
local parked = {}
local CMD = {}

-- On a memory error (the "limited" service passes its memlimit) the
-- memory is released again, so the service keeps answering afterwards.
function CMD.alloc(kb)
	local ok, err = pcall(function()
		for i = 1, kb do
			hold[#hold + 1] = string.rep(string.char(65 + i % 26), 1024 - 32) .. #hold
		end
	end)
	if not ok then
		hold = {}
		collectgarbage "collect"
		skynet.error("console_probe: alloc " .. kb .. " KiB failed: " .. tostring(err))
		error(err)
	end
	return #hold
end

function CMD.free()
	hold = {}
	collectgarbage "collect"
	return true
end

function CMD.echo(...)
	return ...
end

function CMD.park()
	local co = coroutine.running()
	parked[#parked + 1] = co
	skynet.wait(co)
	return "released"
end

function CMD.release()
	for _, co in ipairs(parked) do
		skynet.wakeup(co)
	end
	parked = {}
	return true
end

-- keeps the CPU busy for ms milliseconds (stat's cpu must show it)
function CMD.burn(ms)
	local t = skynet.hpc()
	while skynet.hpc() - t < ms * 1000000 do end
	return ms
end

-- n calls (each in its own coroutine) to .callee "park", with deadline ti
-- (cs) if given: they wait until .callee is told "release"
function CMD.callpark(n, ti)
	for _ = 1, n do
		skynet.fork(function()
			if ti then
				pcall(skynet.call_timeout, ti, ".callee", "lua", "park")
			else
				skynet.call(".callee", "lua", "park")
			end
		end)
	end
	return n
end

function CMD.spin()
	skynet.error("console_probe: spinning")
	while true do end
end

skynet.info_func(function(...)
	return { args = table.pack(...), hello = "world", mode = mode }
end)

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, ...)
		local f = CMD[cmd]
		if not f then
			error("console_probe: unknown command " .. tostring(cmd))
		end
		if cmd == "spin" then
			f(...)
		else
			skynet.retpack(f(...))
		end
	end)
end)

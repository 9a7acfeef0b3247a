-- skynet/coroutine.lua -- coroutines that may block in skynet calls
-- (skynet.coroutine).  Same API as `coroutine`, plus thread().
--
-- A blocking skynet function yields a framework command ("SUSPEND", ...)
-- meant for the scheduler.  When one comes out of a coroutine created
-- here, resume() yields it further up from its own coroutine (ultimately
-- the dispatch coroutine, which the scheduler owns) and, when resumed with
-- the answer, passes that down again.  skynetco.yield marks user yields
-- with "USER" so resume() can tell them apart.

local co_create, co_resume, co_yield = coroutine.create, coroutine.resume, coroutine.yield
local co_status, co_running = coroutine.status, coroutine.running
local select, error = select, error

local skynetco = {
	isyieldable = coroutine.isyieldable,
	running = coroutine.running,
	close = coroutine.close,
}

-- co -> true: a skynet coroutine; false: suspended by the framework; nil: not ours/dead
local state = setmetatable({}, { __mode = "k" })
-- co -> the skynet thread (dispatch coroutine) at the root of its resume chain
local root = setmetatable({}, { __mode = "kv" })

function skynetco.create(f)
	local co = co_create(f)
	state[co] = true
	return co
end

local finish

local function pass_down(co, ...)
	state[co] = true
	return finish(co, co_resume(co, ...))
end

function finish(co, ok, ...)
	if not ok then
		if co_status(co) == "dead" then state[co] = nil end
		return false, ...
	end
	if co_status(co) == "dead" then
		state[co] = nil
		return true, ...
	end
	if (...) == "USER" then
		return true, select(2, ...)
	end
	-- blocked by the framework: block our own thread the same way
	state[co] = false
	return pass_down(co, co_yield(...))
end

function skynetco.resume(co, ...)
	local s = state[co]
	if not s then
		if s == false then
			return false, "cannot resume a skynet coroutine suspend by skynet framework"
		end
		if co_status(co) == "dead" then
			return co_resume(co, ...) -- false, "cannot resume dead coroutine"
		end
		return false, "cannot resume none skynet coroutine"
	end
	local from = co_running()
	root[co] = root[from] or from
	return finish(co, co_resume(co, ...))
end

function skynetco.status(co)
	local s = co_status(co)
	if s == "suspended" and state[co] == false then
		return "blocked"
	end
	return s
end

function skynetco.yield(...)
	return co_yield("USER", ...)
end

function skynetco.thread(co)
	co = co or co_running()
	if state[co] ~= nil then
		return root[co], false
	end
	return co, true
end

local function unwrap(ok, ...)
	if ok then
		return ...
	end
	error((...), 0)
end

function skynetco.wrap(f)
	local co = skynetco.create(f)
	return function(...)
		return unwrap(skynetco.resume(co, ...))
	end
end

return skynetco

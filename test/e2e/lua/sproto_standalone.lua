-- sproto_standalone.lua -- the sproto checks of test/lua/sproto_cases.lua
-- run by the stand-alone lua5.4 interpreter, loading sproto.core from
-- luaclib/sproto.so the way upstream's examples/client.lua does.  Run from
-- the repository root; prints PASS/FAIL lines.
package.cpath = "luaclib/?.so"
package.path = "lualib/?.lua;test/lua/?.lua"

local T = {}
local failures = 0

function T.pass(name) print("PASS " .. name) end
function T.fail(name, why)
	failures = failures + 1
	print("FAIL " .. name .. ": " .. tostring(why))
end
function T.ok(name, cond, why)
	if cond then T.pass(name) else T.fail(name, why or "condition is false") end
	return cond
end
local function show(v)
	if type(v) == "string" then return string.format("%q", v) end
	return tostring(v)
end
function T.eq(name, got, want)
	if got == want then T.pass(name) return true end
	T.fail(name, "got " .. show(got) .. ", want " .. show(want))
	return false
end
local function same(a, b)
	if a == b then return true end
	if type(a) ~= "table" or type(b) ~= "table" then return false end
	for k, v in pairs(a) do if not same(v, b[k]) then return false end end
	for k in pairs(b) do if a[k] == nil then return false end end
	return true
end
function T.deq(name, got, want)
	if same(got, want) then T.pass(name) return true end
	T.fail(name, "tables differ")
	return false
end
function T.raises(name, patterns, f, ...)
	local ok, err = pcall(f, ...)
	if ok then T.fail(name, "no error raised") return end
	err = tostring(err)
	if type(patterns) == "string" then patterns = { patterns } end
	for _, p in ipairs(patterns) do
		if not err:find(p, 1, true) then
			T.fail(name, "error " .. show(err) .. " lacks " .. show(p))
			return err
		end
	end
	T.pass(name)
	return err
end

local ok, err = xpcall(require("sproto_cases"), debug.traceback, T)
if not ok then T.fail("sproto_cases", err) end
os.exit(failures == 0 and 0 or 1)

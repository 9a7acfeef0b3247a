-- http.url: request-target and query-string decoding
-- (spec/api-http-websocket-dns.md §4).
local url = {}

local tonumber, char, find, sub = tonumber, string.char, string.find, string.sub

local function decode_func(c)
	return char(tonumber(c, 16))
end

-- "+" is a space, "%XX" a byte; a "%" without two characters after it
-- stays as is (and "%" + two non-hex characters raises, as upstream)
-- (plain finds first: most paths have nothing to decode, and the pattern
-- machinery costs more than the rest of a request's parsing)
local function decode(str)
	local plus, pct = find(str, "+", 1, true), find(str, "%", 1, true)
	if plus then
		str = str:gsub("+", " ")
	end
	if pct then
		str = str:gsub("%%(..)", decode_func)
	end
	return str
end

-- parse(u) -> path (decoded), query (raw, "" when there is no "?")
function url.parse(u)
	local q = find(u, "?", 1, true)
	if q then
		return decode(sub(u, 1, q - 1)), sub(u, q + 1)
	end
	return decode(u), ""
end

-- parse_query("a=1&b=2&a=3") -> {a = {"1", "3"}, b = "2"}
function url.parse_query(q)
	local r = {}
	for k, v in q:gmatch "(.-)=([^&]*)&?" do
		local dk, dv = decode(k), decode(v)
		local oldv = r[dk]
		if oldv then
			if type(oldv) ~= "table" then
				r[dk] = {oldv, dv}
			else
				oldv[#oldv + 1] = dv
			end
		else
			r[dk] = dv
		end
	end
	return r
end

return url

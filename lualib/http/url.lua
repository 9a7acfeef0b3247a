-- http.url: request-target and query-string decoding
-- (spec/api-http-websocket-dns.md §4).
local url = {}

local tonumber, char = tonumber, string.char

local function decode_func(c)
	return char(tonumber(c, 16))
end

-- "+" is a space, "%XX" a byte; a "%" without two characters after it
-- stays as is (and "%" + two non-hex characters raises, as upstream)
local function decode(str)
	local s = str:gsub("+", " ")
	return (s:gsub("%%(..)", decode_func))
end

-- parse(u) -> path (decoded), query (raw, "" when there is no "?")
function url.parse(u)
	local path, query = u:match "([^?]*)%??(.*)"
	if path then
		path = decode(path)
	end
	return path, query
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

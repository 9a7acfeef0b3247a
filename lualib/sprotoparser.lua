-- sprotoparser.lua -- sproto schema text -> binary schema ("bin"), spec
-- api-sproto.md §1 (the language) and §2 (the bin, byte for byte as
-- upstream's parser writes it).
--
--   local bin = sprotoparser.parse(text [, name])    -- name defaults to "=text"
--
-- A hand-written recursive-descent parser (upstream uses LPeg; this one
-- needs nothing but Lua).  It accepts upstream's language and writes the
-- same bytes.  Every error is raised (level 0, no Lua position prefix) with
-- upstream's words, followed by where it is:
--   syntax error at [=text] line (3): expected ':' after the tag of field 'x'
--   redefine tag 1 in type Person at [=text] line 4
-- Where upstream fails obscurely this one says why: a protocol-only schema,
-- a map or index on an array of built-ins, `(N)` on a non-integer field, a
-- tag out of range.  It also refuses a main index naming an array field
-- (upstream lets it through; such a key cannot index a Lua table).

local string_pack = string.pack
local table_concat = table.concat

local parser = {}

local BUILTIN = { integer = 0, boolean = 1, string = 2, binary = 2, double = 3 }
local MAX_INLINE = 0x7ffe -- largest value a record carries inline

-- ---- scanning ---------------------------------------------------------------

local P = {}
P.__index = P

local function new_state(text, chunkname)
	return setmetatable({
		text = text,
		pos = 1,
		line = 1,
		chunkname = chunkname,
		types = {},      -- full name -> type
		type_list = {},  -- in definition order
		protos = {},     -- name -> protocol
		proto_list = {},
		proto_tags = {}, -- tag -> protocol
	}, P)
end

function P:syntax(reason)
	error(string.format("syntax error at [%s] line (%d): %s", self.chunkname, self.line, reason), 0)
end

function P:fail(line, msg)
	error(string.format("%s at [%s] line %d", msg, self.chunkname, line), 0)
end

-- Skips blanks and comments; returns true if it skipped anything.
function P:blanks()
	local text, pos = self.text, self.pos
	local start = pos
	while true do
		local s, e = text:find("^[ \t\r\n]+", pos)
		if s then
			local _, n = text:sub(s, e):gsub("\n", "")
			self.line = self.line + n
			pos = e + 1
		elseif text:byte(pos) == 35 then -- '#': to the end of the line
			local nl = text:find("\n", pos, true)
			pos = nl or #text + 1
		else
			break
		end
	end
	self.pos = pos
	return pos > start
end

function P:peek()
	return self.text:sub(self.pos, self.pos)
end

function P:match(pattern)
	local s, e = self.text:find(pattern, self.pos)
	if not s then
		return nil
	end
	self.pos = e + 1
	return self.text:sub(s, e)
end

function P:name()
	return self:match "^[A-Za-z_][A-Za-z0-9_]*"
end

function P:typename()
	local n = self:name()
	if not n then
		return nil
	end
	while true do
		local part = self:match "^%.[A-Za-z_][A-Za-z0-9_]*"
		if not part then
			return n
		end
		n = n .. part
	end
end

-- A tag: decimal digits, at most MAX_INLINE.
function P:tag(what)
	local line = self.line
	local digits = self:match "^[0-9]+"
	if not digits then
		self:syntax("expected a tag (a number) " .. what)
	end
	local n = tonumber(digits)
	if math.type(n) ~= "integer" or n > MAX_INLINE then
		self:fail(line, string.format("tag %s %s is over %d", digits, what, MAX_INLINE))
	end
	return n
end

function P:expect(char, what)
	if self:peek() ~= char then
		self:syntax("expected '" .. char .. "' " .. what)
	end
	self.pos = self.pos + 1
end

-- ---- grammar -------------------------------------------------------------------

function P:register_type(t)
	if self.types[t.name] then
		self:fail(t.line, "redefined " .. t.name)
	end
	self.types[t.name] = t
	self.type_list[#self.type_list + 1] = t
end

-- field := name B+ tag B* ':' B* ['*'] typename suffix*
function P:field(t)
	local line = self.line
	local name = self:name()
	if not self:blanks() then
		self:syntax("expected a tag after field name '" .. name .. "' in type " .. t.name)
	end
	local tag = self:tag("of field '" .. name .. "' in type " .. t.name)
	self:blanks()
	self:expect(":", "after the tag of field '" .. name .. "'")
	self:blanks()
	local array = self:match "^%*" ~= nil
	local typename = self:typename()
	if not typename then
		self:syntax("expected a type name for field '" .. name .. "' in type " .. t.name)
	end
	local suffix
	while self:peek() == "(" do
		self.pos = self.pos + 1
		self:blanks()
		local s = self:match "^[0-9]+" or self:name() or ""
		self:blanks()
		self:expect(")", "to close the suffix of field '" .. name .. "'")
		if suffix == nil then -- only the first suffix counts
			suffix = s
		end
	end
	if t.byname[name] then
		self:fail(line, "redefine " .. name .. " in type " .. t.name)
	end
	if t.bytag[tag] then
		self:fail(line, "redefine tag " .. tag .. " in type " .. t.name)
	end
	local f = { name = name, tag = tag, typename = typename, array = array, suffix = suffix, line = line }
	t.byname[name] = f
	t.bytag[tag] = f
	t.fields[#t.fields + 1] = f
end

-- members of a struct, up to (not including) its '}'
function P:members(fullname, line)
	local t = { name = fullname, fields = {}, byname = {}, bytag = {}, line = line }
	self:blanks()
	while true do
		local c = self:peek()
		if c == "}" then
			break
		elseif c == "." then
			self:typedef(fullname)
		elseif c:find "^[A-Za-z_]" then
			self:field(t)
		elseif c == "" then
			self:syntax("type " .. fullname .. " is not closed with '}'")
		else
			self:syntax("expected a field (name tag : type), a nested type or '}' in type " .. fullname)
		end
		self:blanks()
	end
	return t
end

-- typedef := '.' name B* '{' members '}'
function P:typedef(parent)
	local line = self.line
	self.pos = self.pos + 1 -- '.'
	local name = self:name()
	if not name then
		self:syntax("expected a type name after '.'")
	end
	local fullname = parent and parent .. "." .. name or name
	self:blanks()
	self:expect("{", "after type name " .. fullname)
	local t = self:members(fullname, line)
	self.pos = self.pos + 1 -- '}'
	self:register_type(t)
end

-- protocol := name B+ tag B* '{' (('request'|'response') B+ (typename | '{' members '}'))* '}'
function P:protocol()
	local line = self.line
	local name = self:name()
	if not self:blanks() then
		self:syntax("expected a tag after protocol name '" .. name .. "'")
	end
	local tag = self:tag("of protocol '" .. name .. "'")
	self:blanks()
	self:expect("{", "after the tag of protocol " .. name)
	local p = { name = name, tag = tag, line = line }
	self:blanks()
	while self:peek() ~= "}" do
		local kline = self.line
		local kw = self:name()
		if kw ~= "request" and kw ~= "response" then
			if self:peek() == "" and not kw then
				self:syntax("protocol " .. name .. " is not closed with '}'")
			end
			self:syntax("expected 'request', 'response' or '}' in protocol " .. name)
		end
		if p[kw] then
			self:fail(kline, "redefine " .. kw .. " in protocol " .. name)
		end
		if not self:blanks() then
			self:syntax("expected a type after '" .. kw .. "' in protocol " .. name)
		end
		if self:peek() == "{" then
			self.pos = self.pos + 1
			local t = self:members(name .. "." .. kw, kline)
			self.pos = self.pos + 1
			self:register_type(t)
			p[kw] = { inline = t.name, line = kline }
		else
			local tn = self:typename()
			if not tn then
				self:syntax("expected a type name or '{' after '" .. kw .. "' in protocol " .. name)
			end
			p[kw] = { name = tn, line = kline }
		end
		self:blanks()
	end
	self.pos = self.pos + 1 -- '}'
	if self.protos[name] then
		self:fail(line, "redefined " .. name)
	end
	local other = self.proto_tags[tag]
	if other then
		self:fail(line, "redefined protocol tag " .. tag .. " at " .. name .. " (also " .. other.name .. ")")
	end
	self.protos[name] = p
	self.proto_tags[tag] = p
	self.proto_list[#self.proto_list + 1] = p
end

function P:schema()
	self:blanks()
	while self.pos <= #self.text do
		local c = self:peek()
		if c == "." then
			self:typedef(nil)
		elseif c:find "^[A-Za-z_]" then
			self:protocol()
		else
			self:syntax("expected a type (.Name { ... }) or a protocol (name tag { ... })")
		end
		self:blanks()
	end
end

-- ---- semantics -----------------------------------------------------------------

-- A field's type: built-ins first, then <scope>.<ref> for the type itself
-- and each enclosing scope (innermost first), then <ref> as a global name.
function P:resolve(t, ref)
	if BUILTIN[ref] then
		return ref
	end
	local scope = t.name
	while scope do
		local full = scope .. "." .. ref
		if self.types[full] then
			return full
		end
		scope = scope:match "^(.*)%.[^.]*$"
	end
	if self.types[ref] then
		return ref
	end
end

function P:check_field(t, f)
	local where = " in type " .. t.name
	local tn = self:resolve(t, f.typename)
	if not tn then
		self:fail(f.line, "Undefined type " .. f.typename .. where)
	end
	f.type = tn
	local s = f.suffix
	if s == nil then
		return
	end
	if s:find "^[0-9]" then
		if tn ~= "integer" then
			self:fail(f.line, "decimal precision (" .. s .. ") needs an integer field: " .. f.name .. where)
		end
		local n = tonumber(s)
		if math.type(n) ~= "integer" or n > MAX_INLINE then
			self:fail(f.line, "decimal precision " .. s .. " of field " .. f.name .. " is over " .. MAX_INLINE)
		end
		f.decimal = n
		return
	end
	if not f.array then
		return -- upstream ignores a key on a non-array field
	end
	if BUILTIN[tn] then
		self:fail(f.line, "Invalid map index :" .. s .. " (field " .. f.name .. where .. " is an array of " .. tn .. ", not of a struct)")
	end
	local elem = self.types[tn]
	if s == "" then
		if #elem.fields ~= 2 then
			self:fail(f.line, "Invalid map definition: " .. f.name .. ", must only have two fields")
		end
		local key = elem.fields[1].tag < elem.fields[2].tag and elem.fields[1] or elem.fields[2]
		if not BUILTIN[key.typename] or key.array then
			self:fail(f.line, "Invalid map index :" .. key.name .. " (the key of map " .. f.name .. where .. " must be a built-in type)")
		end
		f.key = key.tag
		f.map = true
		return
	end
	local key = elem.byname[s]
	if not key or not BUILTIN[key.typename] then
		self:fail(f.line, "Invalid map index :" .. s)
	end
	if key.array then
		self:fail(f.line, "Invalid map index :" .. s .. " (an array cannot be a key)")
	end
	f.key = key.tag
end

function P:check_protocol(p)
	for _, kw in ipairs { "request", "response" } do
		local r = p[kw]
		if r then
			if r.inline then
				p[kw] = r.inline
			elseif r.name == "nil" then
				p[kw] = nil
				if kw == "response" then
					p.confirm = true
				end
			elseif self.types[r.name] then
				p[kw] = r.name
			else
				self:fail(r.line, "Undefined " .. kw .. " type " .. r.name .. " in protocol " .. p.name)
			end
		end
	end
end

-- ---- the bin (spec §2.2) ---------------------------------------------------------

local DATA = "\0\0" -- record: the value is the next data chunk
local SKIP = "\1\0" -- record: skip one tag

local function inline(v)
	return string_pack("<I2", (v + 1) * 2)
end

local function chunk(s)
	return string_pack("<s4", s)
end

local function struct(records, chunks)
	return string_pack("<I2", #records) .. table_concat(records) .. table_concat(chunks)
end

local function array(elements)
	local t = {}
	for i, e in ipairs(elements) do
		t[i] = chunk(e)
	end
	return chunk(table_concat(t))
end

local function field_bin(f, index)
	local r = { DATA }
	local code = BUILTIN[f.type]
	if code then
		r[2] = inline(code)
		if f.decimal then
			r[3] = inline(f.decimal)
		elseif f.type == "binary" then
			r[3] = inline(1)
		else
			r[3] = SKIP
		end
	else
		r[2] = SKIP
		r[3] = inline(index[f.type])
	end
	r[4] = inline(f.tag)
	if f.array then
		r[5] = inline(1)
		if f.key then
			r[6] = inline(f.key)
			if f.map then
				r[7] = inline(1)
			end
		end
	end
	return struct(r, { chunk(f.name) })
end

local function type_bin(t, index)
	if #t.fields == 0 then
		return struct({ DATA }, { chunk(t.name) })
	end
	local fields = {}
	for i, f in ipairs(t.fields) do
		fields[i] = field_bin(f, index)
	end
	return struct({ DATA, DATA }, { chunk(t.name), array(fields) })
end

local function protocol_bin(p, index)
	local r = { DATA, inline(p.tag) }
	local req = p.request and inline(index[p.request])
	if p.confirm then
		r[3] = req or SKIP
		r[4] = SKIP
		r[5] = inline(1)
	elseif p.response then
		r[3] = req or SKIP
		r[4] = inline(index[p.response])
	elseif req then
		r[3] = req
	end
	return struct(r, { chunk(p.name) })
end

function P:bin()
	local types, protos = self.type_list, self.proto_list
	if #types == 0 then
		if #protos > 0 then
			self:fail(protos[1].line, "protocol " .. protos[1].name .. " needs a schema with at least one type")
		end
		return struct({}, {}) -- upstream's bin of an empty schema (sproto.new refuses it)
	end
	if #types > MAX_INLINE + 1 then
		error(string.format("too many types (%d, at most %d) in [%s]", #types, MAX_INLINE + 1, self.chunkname), 0)
	end
	table.sort(types, function(a, b) return a.name < b.name end)
	local index = {}
	for i, t in ipairs(types) do
		index[t.name] = i - 1
	end
	for _, t in ipairs(types) do
		table.sort(t.fields, function(a, b) return a.tag < b.tag end)
	end
	table.sort(protos, function(a, b) return a.tag < b.tag end)
	local tb, pb = {}, {}
	for i, t in ipairs(types) do
		tb[i] = type_bin(t, index)
	end
	if #protos == 0 then
		return struct({ DATA }, { array(tb) })
	end
	for i, p in ipairs(protos) do
		pb[i] = protocol_bin(p, index)
	end
	return struct({ DATA, DATA }, { array(tb), array(pb) })
end

-- ---- API -----------------------------------------------------------------------

function parser.parse(text, name)
	assert(type(text) == "string", "sprotoparser.parse: the schema must be a string")
	local st = new_state(text, name or "=text")
	st:schema()
	for _, t in ipairs(st.type_list) do
		for _, f in ipairs(t.fields) do
			st:check_field(t, f)
		end
	end
	for _, p in ipairs(st.proto_list) do
		st:check_protocol(p)
	end
	return st:bin()
end

return parser

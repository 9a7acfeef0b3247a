-- login_driver.lua -- the client side of the `login` scenario, for the
-- stand-alone lua5.4 (luaclib/client.so):
--   lua5.4 bench/login_driver.lua ROOT HOST LOGIN_PORT GATE_PORT CLIENTS SECONDS WARMUP NAME
-- CLIENTS coroutines, each with its own user, log in again and again
-- through the login example's flow: the login server handshake (DH,
-- challenge, DES token), then the gate handshake until its "200 OK".
-- Sockets are non-blocking; a round over all clients that made no progress
-- sleeps 100 us.  Prints `NAME_logins_per_s value login/s` (logins
-- completed within SECONDS after WARMUP seconds), or an error on stderr.
local root, host, lport, gport, clients, seconds, warmup, name = ...
package.cpath = root .. "/luaclib/?.so"
local socket = require "client.socket"
local crypt = require "client.crypt"
local b64, unb64 = crypt.base64encode, crypt.base64decode
lport, gport, clients = tonumber(lport), tonumber(gport), tonumber(clients)
seconds, warmup = tonumber(seconds), tonumber(warmup)

local function wall()
	local f = io.popen "date +%s.%N" -- os.clock is CPU time; called twice only
	local t = tonumber(f:read "a")
	f:close()
	return t
end

-- Reads until `pred(buf)` returns a value, yielding while nothing came.
local function reader(fd)
	local buf = ""
	return function(pred)
		while true do
			local v, rest = pred(buf)
			if v then
				buf = rest
				return v
			end
			local r = socket.recv(fd)
			if r == "" then
				error "server closed"
			elseif r then
				buf = buf .. r
			else
				coroutine.yield(false)
			end
		end
	end
end

local function line(buf)
	local at = buf:find("\n", 1, true)
	if at then
		return buf:sub(1, at - 1), buf:sub(at + 1)
	end
end

local function frame(buf)
	if #buf >= 2 then
		local n = string.unpack(">I2", buf)
		if #buf >= n + 2 then
			return buf:sub(3, n + 2), buf:sub(n + 3)
		end
	end
end

local function one_login(user)
	local fd = socket.connect(host, lport)
	local read = reader(fd)
	local challenge = unb64(read(line))
	local key = crypt.randomkey()
	socket.send(fd, b64(crypt.dhexchange(key)) .. "\n")
	local secret = crypt.dhsecret(unb64(read(line)), key)
	socket.send(fd, b64(crypt.hmac64(challenge, secret)) .. "\n")
	local token = string.format("%s@%s:%s", b64(user), b64 "sample", b64 "password")
	socket.send(fd, b64(crypt.desencode(secret, token)) .. "\n")
	local result = read(line)
	socket.close(fd)
	if result:sub(1, 3) ~= "200" then
		error("login: " .. result)
	end
	local subid = unb64(result:sub(5))
	fd = socket.connect(host, gport)
	read = reader(fd)
	local text = string.format("%s@%s#%s:1", b64(user), b64 "sample", b64(subid))
	socket.send(fd, string.pack(">s2", text .. ":" .. b64(crypt.hmac_hash(secret, text))))
	local answer = read(frame)
	socket.close(fd)
	if answer ~= "200 OK" then
		error("gate: " .. answer)
	end
end

local done = 0
local cos = {}
for i = 1, clients do
	cos[i] = coroutine.create(function()
		local user = "bench" .. i
		while true do
			one_login(user)
			done = done + 1
			coroutine.yield(true)
		end
	end)
end

local start = wall()
local t_begin, d_begin, t_end
local rounds = 0
while true do
	local progress = false
	for _, co in ipairs(cos) do
		local ok, p = coroutine.resume(co)
		if not ok then
			io.stderr:write("login_driver: ", tostring(p), "\n")
			os.exit(1)
		end
		progress = progress or p
	end
	if not progress then
		socket.usleep(100)
	end
	rounds = rounds + 1
	if rounds % 200 == 0 then
		local now = wall()
		if not t_begin and now - start >= warmup then
			t_begin, d_begin = now, done
		elseif t_begin and now - t_begin >= seconds then
			t_end = now
			break
		end
	end
end
print(string.format("%s_logins_per_s %.1f login/s", name, (done - d_begin) / (t_end - t_begin)))

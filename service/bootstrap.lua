-- bootstrap.lua -- the first Lua service; boots the node and exits
-- (the last step of booting a node).  The order fixes the handles:
-- launcher :3, cdummy :4, C harbor :5, datacenterd :6, service_mgr :7,
-- the start service :8 (with harbor 0; with `standalone` in harbor mode
-- cmaster takes :4 and everything after moves up by one).

local skynet = require "skynet"
require "skynet.manager"

skynet.start(function()
	local standalone = skynet.getenv "standalone"

	local launcher = assert(skynet.launch("snlua", "launcher"), "launch launcher failed")
	skynet.name(".launcher", launcher)

	local harbor_id = tonumber(skynet.getenv "harbor" or 0)
	if harbor_id == 0 then
		assert(standalone == nil, "standalone must not be set when harbor = 0")
		standalone = true
		skynet.setenv("standalone", "true")
	end
	-- harbor ~= 0: the node with `standalone` also runs the master; a node
	-- that cannot start its master or join the network stops.
	if harbor_id ~= 0 and standalone then
		local ok, err = pcall(skynet.newservice, "cmaster")
		if not ok then
			skynet.error("bootstrap: " .. tostring(err))
			io.stderr:write("skynet: cannot start the harbor master: ", (tostring(err):gsub("\n", "; ")), "\n")
			skynet.abort(1)
			return
		end
	end
	local ok, slave = pcall(skynet.newservice, harbor_id == 0 and "cdummy" or "cslave")
	if not ok then
		skynet.error("bootstrap: " .. tostring(slave))
		io.stderr:write("skynet: cannot join the harbor network: ", (tostring(slave):gsub("\n", "; ")), "\n")
		skynet.abort(1)
		return
	end
	skynet.name(".cslave", slave)

	if standalone then
		local datacenter = skynet.newservice "datacenterd"
		skynet.name("DATACENTER", datacenter)
	end

	skynet.newservice "service_mgr"

	-- `metrics = "127.0.0.1:9100"`: the Prometheus endpoint and console
	-- (cservice/metrics.so).  A node whose endpoint cannot start keeps
	-- running; the metrics service has logged why.
	local metrics = skynet.getenv "metrics"
	if metrics and metrics ~= "" and metrics ~= "false" then
		if not skynet.launch("metrics", metrics) then
			skynet.error("bootstrap: the metrics endpoint on " .. metrics .. " did not start")
		end
	end

	if skynet.getenv "enablessl" == "true" then
		local ok, err = pcall(function()
			local service = require "skynet.service"
			service.new("ltls_holder", function()
				local c = require "ltls.init.c"
				c.constructor()
			end)
		end)
		if not ok then
			skynet.error("bootstrap: enablessl: " .. tostring(err))
		end
	end

	-- Upstream only logs a failing start service and keeps an idle node
	-- running; we say why on stderr too and stop with exit status 1.
	local start = skynet.getenv "start" or "main"
	local ok, err = pcall(skynet.newservice, start)
	if not ok then
		err = tostring(err)
		skynet.error("bootstrap: " .. err)
		io.stderr:write("skynet: start service '", start, "' failed: ", (err:gsub("\n", "; ")), "\n")
		skynet.abort(1)
		return
	end
	skynet.exit()
end)

-- snax_cluster_client.lua -- node a of test_snax_cluster.sh: reaches
-- node b's snax services with cluster.snax and checks every way in.
local skynet = require "skynet"
local cluster = require "skynet.cluster"

local function check(name, ok, why)
	skynet.error((ok and "PASS " or "FAIL ") .. name .. (ok and "" or ": " .. tostring(why)))
end

skynet.start(function()
	local obj = cluster.snax("b", "snax_remote")
	check("cluster.snax returns a bound object", obj.type == "snax_remote" and type(obj.handle) == "number")
	local text, remote = obj.req.ping "foobar"
	check("req over the cluster returns the results", text == "foobar" and remote ~= nil, text)
	obj.post.hello(2)
	obj.post.hello(3)
	check("posts over the cluster arrive (as pushes), in order before a later req", obj.req.hellos() == 5,
		obj.req.hellos())
	local ok, err = pcall(obj.req.error)
	check("a remote response that raises fails the call, saying why", not ok and
		tostring(err):find("remote snax error", 1, true), err)
	local again = cluster.snax("b", "snax_remote")
	check("the same remote service gives the same object", again == obj)
	local named = cluster.snax("b", "snax_remote", "@named")
	check("cluster.snax with an explicit address", named.req.ping "x" == "x" and named ~= obj)
	local h = cluster.query("b", "named")
	local byhandle = cluster.snax("b", "snax_remote", h)
	check("cluster.snax with a remote handle", byhandle.req.ping "y" == "y")
	ok, err = pcall(cluster.snax, "nosuchnode", "snax_remote")
	check("cluster.snax to an unknown node raises", not ok, err)
	skynet.error "DONE"
	skynet.abort()
end)

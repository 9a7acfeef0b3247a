-- svc_mainfail.lua -- helper: its main chunk raises.
local skynet = require "skynet"
error("main chunk boom")
skynet.start(function() end)

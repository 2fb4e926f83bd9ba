-- random_genes.lua - wrk script for scripts/bench.sh: GET paths picked at
-- random from a list, reproducibly (the same seed, the same sequence per
-- thread), so the mount and the plain directory get the same requests.
--
--   wrk -t2 -c16 -d20s -s random_genes.lua http://127.0.0.1:18180 -- LIST SEED
--
-- LIST holds one URL path per line (/var/CD3D.values.u8.gz). wrk gives each
-- thread its own Lua state: setup() runs in the main one and numbers them.

local threads = 0

function setup(thread)
	threads = threads + 1
	thread:set("thread_id", threads)
end

function init(args)
	paths = {}
	for line in io.lines(args[1]) do
		paths[#paths + 1] = line
	end
	if #paths == 0 then
		error("no paths in " .. args[1])
	end
	math.randomseed(tonumber(args[2]) * 1000 + thread_id)
end

function request()
	return wrk.format("GET", paths[math.random(#paths)])
end

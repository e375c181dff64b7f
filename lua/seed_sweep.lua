-- seed_sweep.lua - one image per seed from a txt2img graph, in one process:
-- the checkpoint is loaded and the prompt encoded once, then each seed
-- re-runs only the sampler, the decoder and the save (printed per run).
--
--   lcmflow lua lua/seed_sweep.lua [SEEDS] [NODE.PARAM=VALUE ...]
--
-- SEEDS is a comma-separated list (default 1,2,3,4).  The graph is
-- graphs/txt2img.yaml (LCMFLOW_GRAPH overrides); images go to
-- out/seed_<seed>.png beside the graph folder.  Extra NODE.PARAM=VALUE
-- arguments set params first, e.g. empty.width=256 ckpt.path=/models/sd15.safetensors
local lf = require "lcmflow"

local here = arg[0]:match("^(.*)/[^/]*$") or "."
local graph = lf.load(os.getenv("LCMFLOW_GRAPH") or (here .. "/../graphs/txt2img.yaml"))

local seeds = "1,2,3,4"
for i = 1, #arg do
  local key, value = arg[i]:match("^([%w_]+%.[%w_]+)=(.*)$")
  if key then
    graph:set(key, math.tointeger(tonumber(value)) or tonumber(value) or value)
  else
    seeds = arg[i]
  end
end

for seed in seeds:gmatch("[^,]+") do
  seed = assert(math.tointeger(tonumber(seed)), "a seed is an integer: " .. seed)
  graph:set("sample.seed", seed)
  graph:set("save.path", string.format("../out/seed_%d.png", seed))
  local run = graph:run()
  print(string.format("seed %-6d ran: %-22s cached: %s", seed, table.concat(run:ran(), " "),
                      table.concat(run:cached(), " ")))
end

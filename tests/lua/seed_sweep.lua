-- seed_sweep.lua - re-runs one graph for several seeds and prints, for each,
-- the result and which nodes were recomputed: only the sampler and what
-- follows it, never model loading or text encoding (the cache persists
-- across runs within the script).
--
--   lcmflow lua tests/lua/seed_sweep.lua [GRAPH.yaml NODE.PARAM OUTPUT] [SEEDS]
--
-- With no graph, a stand-in graph of the test plugin's node types is used
-- (LCMFLOW_PLUGIN_PATH must reach tests/plugins in the build tree) until the
-- model nodes exist.  SEEDS is a comma-separated list (default 1,2,3,42).
local lf = require "lcmflow"

local graph, key, output, seeds
if arg[1] and arg[1]:match("%.ya?ml$") then
  graph = lf.load(arg[1])
  key, output, seeds = arg[2], arg[3], arg[4]
else
  graph = lf.graph {
    nodes = {
      model  = { type = "TestBlob", params = { kb = 256 } },           -- "CheckpointLoader"
      prompt = { type = "TestText", params = { text = "a cat" } },     -- "TextEncode"
      sample = { type = "TestNoise", inputs = { model = "model.blob", text = "prompt.text" },
                 params = { seed = 0, steps = 4 } },                   -- "LcmSampler"
      decode = { type = "TestScale", inputs = { value = "sample.value" },
                 params = { factor = 255 } },                          -- "VaeDecode"
    },
    outputs = { "decode.value" },
  }
  key, output, seeds = "sample.seed", "decode.value", arg[1]
end
assert(key and output, "usage: seed_sweep.lua [GRAPH.yaml NODE.PARAM OUTPUT] [SEEDS]")

for seed in (seeds or "1,2,3,42"):gmatch("[^,]+") do
  graph:set(key, math.tointeger(tonumber(seed)) or seed)
  local run = graph:run()
  local value = run:output(output)
  if type(value) == "table" then
    value = value.type .. (value.shape and (" [" .. table.concat(value.shape, ",") .. "]") or "")
  end
  print(string.format("%s=%s  %s=%s  ran: %s  cached: %s", key, seed, output, tostring(value),
                      table.concat(run:ran(), " "), table.concat(run:cached(), " ")))
end

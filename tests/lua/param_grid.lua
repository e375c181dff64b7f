-- param_grid.lua - runs one graph over the grid of two params and prints a
-- table of an output, with how many nodes each cell recomputed: moving along
-- the inner param re-runs only what depends on it.
--
--   lcmflow lua tests/lua/param_grid.lua [GRAPH.yaml OUTPUT] [NODE.A=v1,v2 NODE.B=w1,w2]
--
-- With no graph, a stand-in graph of the test plugin's node types is used
-- until the model nodes exist (LCMFLOW_PLUGIN_PATH must reach tests/plugins).
local lf = require "lcmflow"

local first = 1
local graph, output
if arg[1] and arg[1]:match("%.ya?ml$") then
  graph, output, first = lf.load(arg[1]), arg[2], 3
else
  graph = lf.graph {
    nodes = {
      model  = { type = "TestBlob", params = { kb = 256 } },
      sample = { type = "TestNoise", inputs = { model = "model.blob" },
                 params = { seed = 0, steps = 4 } },
      decode = { type = "TestScale", inputs = { value = "sample.value" },
                 params = { factor = 1 } },
    },
  }
  output = "decode.value"
end

local function axis(spec)
  local key, list = spec:match("^([^=]+)=(.+)$")
  assert(key, "an axis is NODE.PARAM=v1,v2,...: " .. spec)
  local values = {}
  for v in list:gmatch("[^,]+") do
    values[#values + 1] = math.tointeger(tonumber(v)) or tonumber(v) or v
  end
  return key, values
end

local key_a, values_a = axis(arg[first] or "sample.seed=1,2,3")
local key_b, values_b = axis(arg[first + 1] or "decode.factor=1,10,100")

io.write(string.format("%-18s", key_a .. " \\ " .. key_b))
for _, b in ipairs(values_b) do io.write(string.format("%20s", tostring(b))) end
io.write("\n")
for _, a in ipairs(values_a) do
  graph:set(key_a, a)
  io.write(string.format("%-18s", tostring(a)))
  for _, b in ipairs(values_b) do
    graph:set(key_b, b)
    local run = graph:run()
    local value = run:output(output)
    io.write(string.format("%14.6g (%d ran)", type(value) == "number" and value or 0 / 0,
                           #run:ran()))
  end
  io.write("\n")
end
local count, bytes = lf.cache_stats()
print(string.format("cache: %d values, %d bytes", count, bytes))

-- lora_grid.lua - a grid over two LoRA strengths from graphs/multi_lora.yaml:
-- one image per cell (out/lora_<i>_<j>.png) and a contact sheet of them all
-- (out/lora_grid.png).  Each cell re-merges only the LoRA whose strength
-- changed (from the cached input weights, never re-reading the checkpoint)
-- and re-samples; the text encoders stay cached because strength_clip is
-- fixed in the graph.  Prints what each cell recomputed.
--
--   lcmflow lua lua/lora_grid.lua [NODE.PARAM=VALUE ...]
--
-- LCMFLOW_GRAPH overrides the graph (nodes lcm, style, save expected).
local lf = require "lcmflow"

local lcm_strengths = { 0.5, 1.0 }
local style_strengths = { 0.0, 0.4, 0.8 }

local here = arg[0]:match("^(.*)/[^/]*$") or "."
local graph_path = os.getenv("LCMFLOW_GRAPH") or (here .. "/../graphs/multi_lora.yaml")
local graph = lf.load(graph_path)
for i = 1, #arg do
  local key, value = assert(arg[i]:match("^([%w_]+%.[%w_]+)=(.*)$"))
  graph:set(key, math.tointeger(tonumber(value)) or tonumber(value) or value)
end

-- Absolute, because path params are resolved against the graph's folder.
local out = (graph_path:match("^(.*)/[^/]*$") or ".") .. "/../out"
if out:sub(1, 1) ~= "/" then out = assert(os.getenv("PWD"), "PWD is not set") .. "/" .. out end
local files = {}
for i, a in ipairs(lcm_strengths) do
  graph:set("lcm.strength_model", a)
  for j, b in ipairs(style_strengths) do
    graph:set("style.strength_model", b)
    local file = string.format("%s/lora_%d_%d.png", out, i, j)
    graph:set("save.path", file)
    local run = graph:run()
    files[#files + 1] = file
    print(string.format("lcm %.2f style %.2f  ran: %s", a, b, table.concat(run:ran(), " ")))
  end
end

local sheet = lf.graph {
  nodes = {
    sheet = { type = "ContactSheet",
              params = { images = table.concat(files, ","), columns = #style_strengths,
                         path = out .. "/lora_grid.png" } },
  },
}
sheet:run()
print("contact sheet: " .. out .. "/lora_grid.png")

-- prompt_grid.lua - a grid of prompts x seeds from a txt2img graph: one image
-- per cell (out/grid_<row>_<col>.png).  Moving along a row changes only the
-- seed (sampler, decoder, save re-run); a new row changes the prompt (the
-- text encoder re-runs too); the checkpoint loads once.  Prints what each
-- cell recomputed.
--
--   lcmflow lua lua/prompt_grid.lua [NODE.PARAM=VALUE ...]
--
-- Edit `prompts` and `seeds` below, or set LCMFLOW_GRAPH to another graph
-- with nodes pos (TextEncode), sample (LcmSampler) and save (SaveImage).
local lf = require "lcmflow"

local prompts = {
  "a photograph of an astronaut riding a horse",
  "a watercolor painting of a fox in the snow",
  "a red house with a yellow sun, colorful children's drawing",
}
local seeds = { 1, 2, 3 }

local here = arg[0]:match("^(.*)/[^/]*$") or "."
local graph = lf.load(os.getenv("LCMFLOW_GRAPH") or (here .. "/../graphs/txt2img.yaml"))
for i = 1, #arg do
  local key, value = assert(arg[i]:match("^([%w_]+%.[%w_]+)=(.*)$"))
  graph:set(key, math.tointeger(tonumber(value)) or tonumber(value) or value)
end

for row, prompt in ipairs(prompts) do
  graph:set("pos.text", prompt)
  for col, seed in ipairs(seeds) do
    graph:set("sample.seed", seed)
    graph:set("save.path", string.format("../out/grid_%d_%d.png", row, col))
    local run = graph:run()
    print(string.format("[%d,%d] seed %d %-40s ran: %s", row, col, seed, '"' .. prompt:sub(1, 36) .. '"',
                        table.concat(run:ran(), " ")))
  end
end

-- lf.submit / lf.wait from `lcmflow lua` (used by tests/farm/test_farm.py):
-- lcmflow lua submit.lua URL GRAPH_FILE SEED
local lf = require("lcmflow")
local url, path, seed = arg[1], arg[2], arg[3]
local f = assert(io.open(path))
local graph = f:read("a")
f:close()
local id = lf.submit{redis = url, graph = graph, set = {["sample.seed"] = tonumber(seed)}}
local state, outputs, err = lf.wait{redis = url, id = id, timeout = 120}
print(id, state, #outputs, outputs[1] or "", err or "")

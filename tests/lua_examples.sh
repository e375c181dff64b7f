#!/bin/sh
# Runs the Lua examples on the tiny-sd15 fixture at 64x64 and checks that a
# seed change recomputes only sampler, decoder and save, and a prompt change
# adds the text encoder (what the examples exist to show).
# usage: lua_examples.sh LCMFLOW SOURCE_DIR   (fixtures from $LCMFLOW_FIXTURES)
set -eu
lcmflow=$1
src=$2
fx=${LCMFLOW_FIXTURES:-$src/../shared/fixtures}
[ -f "$fx/tiny-sd15/model.safetensors" ] || { echo "fixtures absent: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/graphs"
sed -e "s|../models/tiny.safetensors|$fx/tiny-sd15/model.safetensors|" \
    -e "s|../out/|$tmp/out/|" "$src/graphs/txt2img.yaml" > "$tmp/graphs/txt2img.yaml"
export LCMFLOW_GRAPH="$tmp/graphs/txt2img.yaml"
set -- empty.width=64 empty.height=64 ckpt.tokenizer="$fx/clip"
"$lcmflow" lua "$src/lua/seed_sweep.lua" 5,6 "$@" > "$tmp/sweep.txt"
cat "$tmp/sweep.txt"
grep -q '^seed 5 .*ran: ckpt pos empty sample decode save' "$tmp/sweep.txt"
grep -q '^seed 6 .*ran: sample decode save  *cached: ckpt pos empty$' "$tmp/sweep.txt"
[ -s "$tmp/out/seed_5.png" ] && [ -s "$tmp/out/seed_6.png" ]
"$lcmflow" lua "$src/lua/prompt_grid.lua" "$@" > "$tmp/grid.txt"
cat "$tmp/grid.txt"
grep -q '^\[1,2\] .*ran: sample decode save$' "$tmp/grid.txt"
grep -q '^\[2,1\] .*ran: pos sample decode save$' "$tmp/grid.txt"
[ "$(ls "$tmp/out"/grid_*.png | wc -l)" -eq 9 ]
# Two LoRA strengths: only the LoRA that changed and what follows re-run.
sed -e "s|../models/tiny.safetensors|$fx/tiny-sd15/model.safetensors|" \
    -e "s|../models/lcm_lora.safetensors|$fx/tiny-sd15/lcm_lora.safetensors|" \
    -e "s|../models/style_lora.safetensors|$fx/tiny-sd15/style_lora_kohya.safetensors|" \
    -e "s|../out/|$tmp/out/|" "$src/graphs/multi_lora.yaml" > "$tmp/graphs/multi_lora.yaml"
LCMFLOW_GRAPH="$tmp/graphs/multi_lora.yaml" "$lcmflow" lua "$src/lua/lora_grid.lua" "$@" \
    > "$tmp/lora.txt"
cat "$tmp/lora.txt"
grep -q '^lcm 0.50 style 0.40  ran: style sample decode save$' "$tmp/lora.txt"
grep -q '^lcm 1.00 style 0.00  ran: lcm style sample decode save$' "$tmp/lora.txt"
[ "$(ls "$tmp/out"/lora_*_*.png | wc -l)" -eq 6 ] && [ -s "$tmp/out/lora_grid.png" ]
echo "lua examples: ok"

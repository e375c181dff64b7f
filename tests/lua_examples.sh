#!/bin/sh
# Every shipped graph (graphs/*.yaml) and Lua script (lua/*.lua) runs as
# shipped, on synthesized tiny models (no fixtures, no downloads) laid out
# under the names the graphs and the README's downloads use (models/
# sd15.safetensors, lcm-lora-sdv1-5.safetensors, style_lora.safetensors,
# tiny.safetensors): the graphs, scripts and examples are copied beside a
# models/ folder, so their own relative paths are what is tested.  Only the
# image size is lowered.  The Lua examples also show what they exist to
# show: a seed change recomputes only sampler, decoder and save, a prompt
# change adds the text encoder, a LoRA strength change only that LoRA on.
# usage: lua_examples.sh LCMFLOW SOURCE_DIR
set -eu
lcmflow=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -R "$src/graphs" "$src/lua" "$src/examples" "$tmp/"
mkdir "$tmp/models"
"$lcmflow" synth-checkpoint --preset tiny --seed 0 --out "$tmp/models/tiny.safetensors" >/dev/null
ln -s tiny.safetensors "$tmp/models/sd15.safetensors"
"$lcmflow" synth-lora --preset lcm-tiny --rank 4 --seed 1 \
    --out "$tmp/models/lcm-lora-sdv1-5.safetensors" >/dev/null
"$lcmflow" synth-lora --preset lcm-tiny --rank 4 --seed 2 \
    --out "$tmp/models/style_lora.safetensors" >/dev/null
# graphs/live.yaml names its model relative to the served models folder.
ln -s ../models/tiny.safetensors "$tmp/graphs/tiny.safetensors"
ln -s ../models/tokenizer "$tmp/graphs/tokenizer"

# Each graph as shipped, at 64x64: an empty latent's size is set, and
# txt2img runs first so that its 64x64 image stands in for examples/sketch.png.
graphs=$(ls "$tmp"/graphs/*.yaml | grep -v '/txt2img.yaml$')
for g in "$tmp/graphs/txt2img.yaml" $graphs; do
    name=$(basename "$g" .yaml)
    set --
    grep -q '^  empty:' "$g" && set -- --set empty.width=64 --set empty.height=64
    echo "graph $name"
    "$lcmflow" run "$g" --quiet "$@" > "$tmp/$name.txt"
    cat "$tmp/$name.txt"
    if [ "$name" = txt2img ]; then cp "$tmp/out/txt2img.png" "$tmp/examples/sketch.png"; fi
done
for f in txt2img lcm multi_lora sketch2img; do
    [ -s "$tmp/out/$f.png" ] || { echo "graphs/$f.yaml wrote no out/$f.png"; exit 1; }
done
grep -q '^preview.image: IMAGE \[1,64,64,3\]$' "$tmp/live.txt"

# Each Lua script as shipped (the same sizes).
set -- empty.width=64 empty.height=64
for s in "$tmp"/lua/*.lua; do
    case $(basename "$s") in
    seed_sweep.lua | prompt_grid.lua | lora_grid.lua) ;;
    *) echo "$(basename "$s"): a new Lua example: add it to tests/lua_examples.sh"; exit 1 ;;
    esac
done
"$lcmflow" lua --quiet "$tmp/lua/seed_sweep.lua" 5,6 "$@" > "$tmp/sweep.txt"
cat "$tmp/sweep.txt"
grep -q '^seed 5 .*ran: ckpt pos empty sample decode save' "$tmp/sweep.txt"
grep -q '^seed 6 .*ran: sample decode save  *cached: ckpt pos empty$' "$tmp/sweep.txt"
[ -s "$tmp/out/seed_5.png" ] && [ -s "$tmp/out/seed_6.png" ]
"$lcmflow" lua --quiet "$tmp/lua/prompt_grid.lua" "$@" > "$tmp/grid.txt"
cat "$tmp/grid.txt"
grep -q '^\[1,2\] .*ran: sample decode save$' "$tmp/grid.txt"
grep -q '^\[2,1\] .*ran: pos sample decode save$' "$tmp/grid.txt"
[ "$(ls "$tmp/out"/grid_*.png | wc -l)" -eq 9 ]
"$lcmflow" lua --quiet "$tmp/lua/lora_grid.lua" "$@" > "$tmp/lora.txt"
cat "$tmp/lora.txt"
grep -q '^lcm 0.50 style 0.40  ran: style sample decode save$' "$tmp/lora.txt"
grep -q '^lcm 1.00 style 0.00  ran: lcm style sample decode save$' "$tmp/lora.txt"
[ "$(ls "$tmp/out"/lora_*_*.png | wc -l)" -eq 6 ] && [ -s "$tmp/out/lora_grid.png" ]
echo "shipped graphs and Lua examples: ok"

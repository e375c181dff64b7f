#!/bin/sh
# The main job on a fresh machine: installs what is needed, builds, makes a
# tiny random-weight model (no download; its image is noise) and runs the
# txt2img graph, writing out/txt2img.png.  Arguments go to `lcmflow run`
# (e.g. --set ckpt.path=/models/sd15.safetensors --set pos.text="a cat").
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build -j2 >/dev/null
mkdir -p models
# The tiny model's vocabulary is its own (models/tiny.tokenizer/); a model
# made before it was is made again.
[ -f models/tiny.safetensors ] && [ -d models/tiny.tokenizer ] ||
    ./build/lcmflow synth-checkpoint --preset tiny --seed 0 --out models/tiny.safetensors
exec ./build/lcmflow run graphs/txt2img.yaml --profile "$@"

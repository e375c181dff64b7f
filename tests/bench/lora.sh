#!/bin/sh
# LoRA merge benchmark (issue 6): a full-size random SD 1.5 checkpoint and a
# random rank-64 LCM-LoRA in the published layout, then the time to apply
# the LoRA and to change its strength.  Files are made once in $DIR.
#
#     tests/bench/lora.sh [BUILD_DIR] [f16|f32]     (DIR defaults to /tmp/lcmflow-bench)
set -eu
BUILD=${1:-build}
DTYPE=${2:-f16}
DIR=${LCMFLOW_BENCH_DIR:-/tmp/lcmflow-bench}
mkdir -p "$DIR"
[ -f "$DIR/sd15.safetensors" ] ||
    "$BUILD/runtime/cli/lcmflow" synth-checkpoint --preset sd15 --out "$DIR/sd15.safetensors"
[ -f "$DIR/lcm-lora-r64.safetensors" ] ||
    "$BUILD/runtime/cli/lcmflow" synth-lora --preset lcm-sd15 --rank 64 --out "$DIR/lcm-lora-r64.safetensors"
exec "$BUILD/tests/bench-lora" "$DIR/sd15.safetensors" "$DIR/lcm-lora-r64.safetensors" "$DTYPE"

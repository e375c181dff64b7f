#!/bin/sh
# Installs every Debian package lcmflow needs to build, test and benchmark.
# Idempotent and quiet: re-running it on a set-up machine does nothing visible.
set -eu
PACKAGES="build-essential pkg-config meson ninja-build python3
  liblua5.4-dev lua5.4 libyaml-dev libjson-c-dev libpcre2-dev libutf8proc-dev zlib1g-dev
  libvulkan-dev glslc libshaderc-dev spirv-tools vulkan-validationlayers
  mesa-vulkan-drivers vulkan-tools libstb-dev libcmocka-dev libopenblas-dev
  libdnnl-dev libcivetweb-dev redis-server libhiredis-dev libssl-dev clang libclang-rt-dev
  chromium chromium-driver python3-selenium"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null

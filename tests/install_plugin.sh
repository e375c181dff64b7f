#!/bin/sh
# install_plugin.sh BUILD_DIR SOURCE_DIR - a third party's view of lcmflow:
# installs the build into a staging folder (meson install --destdir), builds
# examples/plugin there with nothing but `pkg-config --cflags --libs
# lcmflow` against the staged install, checks that the plugin exports only
# its entry point, and loads it with the installed lcmflow through
# LCMFLOW_PLUGIN_PATH.
set -eu
build=$1
source=$2
stage=$(mktemp -d /tmp/lcmflow-install-XXXXXX)
trap 'rm -rf "$stage"' EXIT

meson install -C "$build" --destdir "$stage" --no-rebuild --quiet >"$stage/install.log" 2>&1 || {
    cat "$stage/install.log" >&2
    exit 1
}
pc=$(find "$stage" -name lcmflow.pc | head -n 1)
lib=$(find "$stage" -name 'liblcmflow.so.0' | head -n 1)
exe=$(find "$stage" -path '*/bin/lcmflow' | head -n 1)
for f in "$pc" "$lib" "$exe"; do
    [ -n "$f" ] || { echo "install: lcmflow.pc, liblcmflow.so.0 or bin/lcmflow missing" >&2; exit 1; }
done
for h in plugin.h node.h registry.h value.h graph.h tensor.h; do
    [ -n "$(find "$stage" -path "*/include/lcmflow/$h")" ] || { echo "install: lcmflow/$h missing" >&2; exit 1; }
done

# Out of tree: a copy of the example, built by its own Makefile.
cp -R "$source/examples/plugin" "$stage/hello"
PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$stage make -s -C "$stage/hello"
sh "$source/tests/plugin_symbols.sh" "$stage/hello/hello.so"

out=$(LD_LIBRARY_PATH=$(dirname "$lib") LCMFLOW_PLUGIN_PATH=$stage/hello "$exe" nodes HelloGreeting)
echo "$out"
echo "$out" | grep -q '^HelloGreeting - Greets a name' || { echo "HelloGreeting not listed" >&2; exit 1; }
echo "$out" | grep -q "plugin: hello 1.0.0 ($stage/hello/hello.so)" || {
    echo "HelloGreeting not from the staged plugin" >&2
    exit 1
}
echo "$out" | grep -q 'times *INT *default 1, range \[1, 100\]' || { echo "times param wrong" >&2; exit 1; }

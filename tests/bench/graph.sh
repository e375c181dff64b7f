#!/bin/sh
# Graph parsing at scale: loads (parses and validates) a 100,000-node graph
# of the test plugin's nodes, 3 times, and prints each time and the best.
# Target: under 1 s.  usage: tests/bench/graph.sh [BUILD_DIR [NODES]]
set -eu
build=${1:-build}
nodes=${2:-100000}
exec "$build/tests/bench-graph" "$build/tests/plugins" "$nodes" 3

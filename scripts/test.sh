#!/bin/sh
# Sets up, builds and runs every test; the last line is "N passed, N failed".
# Extra arguments go to `meson test` (e.g. a suite: --suite nodevice).
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build -j2 >/dev/null
status=0
meson test -C build --num-processes 2 --print-errorlogs "$@" || status=$?
log=build/meson-logs/testlog.json
if [ -f "$log" ]; then
    python3 - "$log" <<'PY'
import json, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"): passed += 1
    elif r == "SKIP": skipped += 1
    else: failed += 1
if skipped: print(f"({skipped} skipped)")
print(f"{passed} passed, {failed} failed")
PY
fi
exit $status

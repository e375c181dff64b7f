#!/bin/sh
# Sets up, builds and runs every test; the last line is "N passed, N failed".
#
# Three builds: build/ runs the whole suite (Vulkan tests on whatever device
# there is, lavapipe in CI, with the validation layer on), build-asan/ runs
# the tests that need no device under AddressSanitizer + UBSan, build-fuzz/
# (clang) the libFuzzer harnesses' short runs.
# Extra arguments go to the first `meson test` (e.g. a test name or --suite).
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
[ -d build ] || meson setup build >/dev/null
[ -d build-asan ] || meson setup build-asan -Db_sanitize=address,undefined \
    -Db_lundef=false >/dev/null
status=0
# A build quiet when it works; when it fails, the end of its output (ninja
# prints compiler and linker errors on stdout), not just a test's "not found".
build() {
    log=$(mktemp)
    if ninja "$@" >"$log" 2>&1; then rm -f "$log"; return 0; fi
    echo "ninja $*: failed; the end of its output:"
    tail -n 40 "$log"
    rm -f "$log"
    return 1
}
build -C build -j2 || status=$?
full=0
if [ $# -eq 0 ]; then full=1; fi
meson test -C build --num-processes 2 --print-errorlogs "$@" || status=$?
if [ $full -eq 1 ]; then
    build -C build-asan -j2 || status=$?
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        meson test -C build-asan --suite nodevice --num-processes 2 --print-errorlogs || status=$?
    # The libFuzzer harnesses, 10 s each (tests/fuzz/README.md).  Only the
    # harnesses are built in build-fuzz: each compiles just what it fuzzes.
    [ -d build-fuzz ] || CC=clang meson setup build-fuzz -Dfuzz=true >/dev/null
    fuzzers=""
    for h in safetensors graph image prompt tokenizer lora; do
        fuzzers="$fuzzers tests/fuzz-$h"
    done
    # shellcheck disable=SC2086
    build -C build-fuzz -j2 $fuzzers || status=$?
    meson test -C build-fuzz --suite fuzz --no-rebuild --num-processes 2 \
        --print-errorlogs || status=$?
fi
logs=build/meson-logs/testlog.json
[ $full -eq 1 ] && logs="$logs build-asan/meson-logs/testlog.json build-fuzz/meson-logs/testlog.json"
# shellcheck disable=SC2086
python3 - $logs <<'PY'
import json, os, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    if not os.path.exists(path):
        continue
    for line in open(path):
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"): passed += 1
        elif r == "SKIP": skipped += 1
        else: failed += 1
if skipped: print(f"({skipped} skipped)")
print(f"{passed} passed, {failed} failed")
PY
exit $status

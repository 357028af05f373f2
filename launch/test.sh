#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test (real mpirun included).
# Extra arguments go to `swift test` (e.g. --filter EquivalenceTests).
set -euo pipefail
cd "$(dirname "$0")/.."
launch/setup.sh --debug >/dev/null
# The checkpoint tests load files in Python's safetensors package to prove interoperability.
python3 -c "import safetensors, numpy" 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check -r Tests/CheckpointsTests/requirements.txt
# The TensorBoard tests read event files back with the `tensorboard` package's own reader.
python3 -c "import tensorboard.backend.event_processing.event_accumulator" 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check -r Tests/TensorBoardTests/requirements.txt
# mpirun refuses to start as root unless told it is intended.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
swift build --build-tests
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
swift test --skip-build --disable-swift-testing "$@" 2>&1 | tee "$log" || status=$?
# One closing line with the totals of the whole run (XCTest adds "N tests skipped and" when some were).
summary=$(grep -E "^[[:space:]]+Executed [0-9]+ tests?, with " "$log" | tail -n 1 || true)
if [[ $summary =~ Executed\ ([0-9]+)\ tests?,\ with\ (([0-9]+)\ tests?\ skipped\ and\ )?([0-9]+)\ failure ]]; then
    skipped=${BASH_REMATCH[3]:-0}
    echo "tests: $((BASH_REMATCH[1] - BASH_REMATCH[4] - skipped)) passed, $skipped skipped, ${BASH_REMATCH[4]} failed"
fi
exit "$status"

#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test (real mpirun included).
set -euo pipefail
cd "$(dirname "$0")/.."
launch/setup.sh --debug >/dev/null
# The checkpoint tests load files in Python's safetensors package to prove interoperability.
python3 -c "import safetensors, numpy" 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check -r Tests/CheckpointsTests/requirements.txt
# mpirun refuses to start as root unless told it is intended.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
swift build --build-tests
swift test --skip-build "$@"

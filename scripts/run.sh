#!/usr/bin/env bash
# The main job on built-in defaults: sets up, builds, and runs the demonstration
# over the real profiles (the fuzzing campaign will take its place).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh release secdiff
exec ./scripts/demo.sh "$@"

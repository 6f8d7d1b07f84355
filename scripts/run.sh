#!/usr/bin/env bash
# The main job on built-in defaults: sets up this machine, builds secdiff and
# runs `secdiff fuzz` - the differential fuzzing campaign against the real
# kernel in QEMU (it builds the fuzz target, the debug kernel and the guest on
# first use). Ctrl-C stops it; running this again resumes the campaign.
# Arguments are passed to `secdiff fuzz` (e.g. --time 600; see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh release secdiff secdiff-agent
exec ./build/secdiff fuzz "$@"

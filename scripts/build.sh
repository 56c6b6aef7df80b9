#!/usr/bin/env bash
# Installs dependencies and builds the rpu binary (Release) into build/: only what `rpu` needs
# (the tests, fuzz targets and benchmarks are built by scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)" --target rpu

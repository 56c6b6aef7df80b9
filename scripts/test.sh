#!/usr/bin/env bash
# The whole test suite: dependencies, a Release build, then every test through ctest
# (unit tests, fixture goldens, CLI tests, and a short GGUF fuzz run under ASan/UBSan).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
cmake --build build -j "$(nproc)"
ctest --test-dir build --output-on-failure -j "$(nproc)"

#!/usr/bin/env bash
# The whole tree built with clang instead of gcc (issue 17, portability): every target (the
# libraries, rpu, the three test binaries, the benchmarks) with the same -Wall -Wextra, then
# the unit tests of that build. Not part of the default ctest run (CI's time is limited; the
# README's development section says how long it takes).
#   scripts/check-clang.sh [BUILD_DIR]     (default: build-clang)
# Compiler: $RPU_CLANG (default clang-14) and $RPU_CLANGXX (default clang++-14); ccache when
# installed. Exits non-zero on a compile error, a warning (-Werror: gcc's build is warning-free
# too) or a failing unit test.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-clang}
cc=${RPU_CLANG:-clang-14}
cxx=${RPU_CLANGXX:-clang++-14}
for tool in "$cc" "$cxx"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "check-clang.sh: $tool not found (Debian: apt-get install clang)" >&2; exit 1; }
done
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
start=$(date +%s)
log() { echo "[check-clang +$(($(date +%s) - start))s] $*"; }

log "configuring $build with $cxx"
CC=$cc CXX=$cxx cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" \
  -DCMAKE_CXX_FLAGS=-Werror >/dev/null
log "building every target"
cmake --build "$build" -j"$(nproc)"
log "unit tests"
# minimal_build_check (label unit) configures another build with the default compiler: left out.
ctest --test-dir "$build" -L unit -E '^minimal_build_check$' -j"$(nproc)" --output-on-failure
log "done: clang build and unit tests passed"

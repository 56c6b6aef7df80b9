#!/usr/bin/env bash
# A quick check of the small-footprint build (-DRPU_MINIMAL=ON) for the test suite, which builds
# the full variant only: configure it, check that `rpu` links none of the libraries the minimal
# build leaves out, and compile the CLI files that differ under RPU_MINIMAL (#ifndef blocks).
# The whole minimal `rpu` is built and run by scripts/cross-arm64.sh --minimal (and by hand:
# cmake -B build-minimal -DRPU_MINIMAL=ON && cmake --build build-minimal --target rpu).
#   scripts/check-minimal.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: $0 BUILD_DIR}
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRPU_MINIMAL=ON "${launcher[@]}" >/dev/null
# rpu's link command (ninja's own record of it), as one line per library.
link=$(ninja -C "$build" -t commands rpu | tail -n 1)
failed=0
for lib in cpp-httplib ssl crypto sqlite3 pqxx yaml-cpp poppler-cpp xml2 rpu_server rpu_gateway rpu_convert \
           rpu_train rpu_retrieval rpu_storage rpu_hub; do
  if grep -qE "(^|[ /])lib${lib}[.]|-l${lib}( |$)" <<<"$link"; then
    echo "FAILED: the minimal rpu links $lib"
    failed=1
  fi
done
# The CLI files with RPU_MINIMAL blocks.
objects=(CMakeFiles/rpu.dir/tools/rpu/main.cpp.o CMakeFiles/rpu.dir/tools/rpu/options.cpp.o
  CMakeFiles/rpu.dir/tools/rpu/cmd_chat.cpp.o)
ninja -C "$build" "${objects[@]}" >/dev/null
[ $failed = 0 ] && echo "minimal build: configured; rpu links no left-out library; ${#objects[@]} RPU_MINIMAL files compile"
exit $failed

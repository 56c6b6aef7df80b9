#!/usr/bin/env bash
# Cross-builds rpu for aarch64-linux-gnu and runs it under qemu-aarch64 with three CPU models
# that select different kernel sets (src/kernels/neon):
#   cortex-a53  ARMv8.0 (ASIMD only)        -> ref, neon
#   cortex-a76  ARMv8.2 with dotprod (SDOT) -> ref, neon, dotprod
#   max         everything qemu 7.2 has, i8mm (SMMLA) included -> ref, neon, dotprod, i8mm
#
#   scripts/cross-arm64.sh            the CI subset (~5 min from scratch on 2 cores): the kernel
#                                     tests of every set against ref and the stories260K goldens
#                                     (token streams, text, logits) on every set, in one small
#                                     binary (rpu_kernel_tests, cmake -DRPU_KERNELS_ONLY=ON)
#   scripts/cross-arm64.sh --full     also the whole `rpu` binary, and per CPU model
#                                     `RPU_KERNELS=neon rpu run stories260K.gguf --steps 256 --temp 0`
#                                     (and the CPU's default set) compared byte for byte with the golden
#
# Steps: (1) apt installs crossbuild-essential-arm64, qemu-user and mmdebstrap; (2) mmdebstrap
# extracts the arm64 -dev packages the chosen targets link (and their dependencies) into a
# sysroot, without running anything from it; (3) CMake with cmake/aarch64-linux-gnu.cmake builds
# into build-arm64/<mode>; (4) qemu-aarch64 -L <sysroot> -cpu <model> runs the binaries.
# Set RPU_ARM64_DIR to keep the sysroots and builds elsewhere (default build-arm64/).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mode=kernels
[ "${1:-}" = "--full" ] && mode=full
out=${RPU_ARM64_DIR:-$root/build-arm64}
fixtures=$root/../shared/fixtures/stories260K
start=$(date +%s)
log() { echo "[cross-arm64 +$(($(date +%s) - start))s] $*"; }

# (1) Host tools.
host_packages=(crossbuild-essential-arm64 qemu-user mmdebstrap cmake ninja-build pkg-config)
missing=()
for p in "${host_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  log "installing: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# (2) The sysroot: only what the chosen targets link (scripts/install-deps.sh has the native list).
target_packages=(libc6-dev libstdc++-12-dev libfmt-dev nlohmann-json3-dev libpcre2-dev libutf8proc-dev libgtest-dev)
if [ "$mode" = full ]; then
  target_packages+=(libcli11-dev libcpp-httplib-dev libsqlite3-dev libpqxx-dev libyaml-cpp-dev libssl-dev
    libpoppler-cpp-dev libxml2-dev libhnswlib-dev)
fi
sysroot=$out/sysroot-$mode
want="${target_packages[*]}"
if [ "$(cat "$sysroot/.rpu-packages" 2>/dev/null)" != "$want" ]; then
  log "making the arm64 sysroot $sysroot: $want"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" rm -rf "$sysroot"
  mkdir -p "$out"
  # The host's Debian mirror (any arm64-carrying mirror works; bookworm is what the host runs).
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
  # --variant=extract unpacks the packages and their dependencies and runs none of their
  # scripts, so no arm64 code runs on the host; root mode keeps file ownership simple.
  "${sudo_cmd[@]}" mmdebstrap --quiet --mode=root --variant=extract --architectures=arm64 \
    --include="$(IFS=,; echo "${target_packages[*]}")" bookworm "$sysroot" "deb $mirror bookworm main"
  echo "$want" | "${sudo_cmd[@]}" tee "$sysroot/.rpu-packages" >/dev/null
fi

# (3) Cross-build.
build=$out/build-$mode
export RPU_ARM64_SYSROOT=$sysroot
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if [ "$mode" = full ]; then
  options=(-DRPU_BUILD_TESTS=OFF -DRPU_BUILD_BENCH=OFF)
  targets=(rpu)
else
  options=(-DRPU_KERNELS_ONLY=ON)
  targets=(rpu_kernel_tests)
fi
log "configuring $build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" \
  -DRPU_ARM64_SYSROOT="$sysroot" "${launcher[@]}" "${options[@]}" >/dev/null
log "building ${targets[*]}"
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"
if [ "$mode" = full ]; then
  # The kernel tests too, from the kernels-only configuration sharing this sysroot.
  kbuild=$out/build-full-kernels
  cmake -S . -B "$kbuild" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" \
    -DRPU_ARM64_SYSROOT="$sysroot" "${launcher[@]}" -DRPU_KERNELS_ONLY=ON >/dev/null
  cmake --build "$kbuild" -j "$(nproc)" --target rpu_kernel_tests
  kernel_tests=$kbuild/rpu_kernel_tests
else
  kernel_tests=$build/rpu_kernel_tests
fi

# (4) Under emulation, one CPU model per kernel-set selection.
declare -A expected=([cortex-a53]="ref,neon" [cortex-a76]="ref,neon,dotprod" [max]="ref,neon,dotprod,i8mm")
failed=0
for cpu in cortex-a53 cortex-a76 max; do
  log "qemu-aarch64 -cpu $cpu: rpu_kernel_tests (expecting sets ${expected[$cpu]})"
  if ! RPU_EXPECT_KERNELS=${expected[$cpu]} qemu-aarch64 -L "$sysroot" -cpu "$cpu" "$kernel_tests" --gtest_brief=1; then
    echo "FAILED: rpu_kernel_tests on $cpu"
    failed=1
  fi
  if [ "$mode" = full ]; then
    golden=$fixtures/golden/greedy_noprompt_n256.txt
    last=${expected[$cpu]##*,}
    for set in neon "$last"; do
      got=$(mktemp)
      RPU_KERNELS=$set qemu-aarch64 -L "$sysroot" -cpu "$cpu" "$build/rpu" run "$fixtures/stories260K.gguf" \
        --steps 256 --temp 0 >"$got" 2>/dev/null || true
      if cmp -s "$got" "$golden"; then
        log "qemu-aarch64 -cpu $cpu: RPU_KERNELS=$set rpu run --steps 256 --temp 0: golden text, byte for byte"
      else
        echo "FAILED: RPU_KERNELS=$set rpu run on $cpu differs from $golden"
        diff <(head -c 400 "$got") <(head -c 400 "$golden") || true
        failed=1
      fi
      rm -f "$got"
      [ "$last" = neon ] && break
    done
  fi
done
log "done ($mode): $([ $failed = 0 ] && echo passed || echo FAILED)"
exit $failed

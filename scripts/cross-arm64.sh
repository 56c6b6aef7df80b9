#!/usr/bin/env bash
# Cross-builds rpu for aarch64-linux-gnu and runs it under qemu-aarch64 with three CPU models
# that select different kernel sets (src/kernels/neon):
#   cortex-a53  ARMv8.0 (ASIMD only)        -> ref, neon
#   cortex-a76  ARMv8.2 with dotprod (SDOT) -> ref, neon, dotprod
#   max         everything qemu 7.2 has, i8mm (SMMLA) included -> ref, neon, dotprod, i8mm
#
#   scripts/cross-arm64.sh            the CI subset: the kernel tests of every ARM set against ref
#                                     and the stories260K goldens (greedy token streams, prefill
#                                     logits) on every set, in one small binary (rpu_kernel_tests,
#                                     cmake -DRPU_KERNELS_ONLY=ON: core, io, kernels, model)
#   scripts/cross-arm64.sh --full     also the whole `rpu` binary, and per CPU model
#                                     `RPU_KERNELS=neon rpu run stories260K.gguf --steps 256 --temp 0`
#                                     (and the CPU's default set) compared byte for byte with the golden
#   scripts/cross-arm64.sh --minimal  the same golden runs with the small-footprint `rpu`
#                                     (cmake -DRPU_MINIMAL=ON: local commands only, a sysroot
#                                     without the network/storage libraries); no kernel tests
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
case "${1:-}" in
  --full) mode=full ;;
  --minimal) mode=minimal ;;
  "") ;;
  *) echo "usage: $0 [--full|--minimal]" >&2; exit 2 ;;
esac
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
target_packages=(libc6-dev libstdc++-12-dev libfmt-dev nlohmann-json3-dev libgtest-dev)
if [ "$mode" = minimal ]; then
  target_packages+=(libpcre2-dev libutf8proc-dev libcli11-dev)
elif [ "$mode" = full ]; then
  target_packages+=(libpcre2-dev libutf8proc-dev libcli11-dev libcpp-httplib-dev libsqlite3-dev libpqxx-dev libyaml-cpp-dev libssl-dev
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
elif [ "$mode" = minimal ]; then
  options=(-DRPU_MINIMAL=ON)
  targets=(rpu)
else
  options=(-DRPU_KERNELS_ONLY=ON)
  targets=(rpu_kernel_tests)
fi
# A build tree configured under another path (moved, or reached through a symlink) is remade.
fresh_tree() { [ ! -f "$1/CMakeCache.txt" ] || grep -qx "CMAKE_CACHEFILE_DIR:INTERNAL=$1" "$1/CMakeCache.txt" || rm -rf "$1"; }
fresh_tree "$build"
log "configuring $build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" \
  -DRPU_ARM64_SYSROOT="$sysroot" "${launcher[@]}" "${options[@]}" >/dev/null
log "building ${targets[*]}"
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"
if [ "$mode" = full ]; then
  # The kernel tests too, from the kernels-only configuration sharing this sysroot.
  kbuild=$out/build-full-kernels
  fresh_tree "$kbuild"
  cmake -S . -B "$kbuild" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" \
    -DRPU_ARM64_SYSROOT="$sysroot" "${launcher[@]}" -DRPU_KERNELS_ONLY=ON >/dev/null
  cmake --build "$kbuild" -j "$(nproc)" --target rpu_kernel_tests
  kernel_tests=$kbuild/rpu_kernel_tests
elif [ "$mode" = minimal ]; then
  kernel_tests=
else
  kernel_tests=$build/rpu_kernel_tests
fi

# ISA hygiene, as tests/unit/test_isa_hygiene.cpp does on x86: the optional int8 instructions
# (dotprod, i8mm) appear only in the ARM kernel sets' functions, so the binaries run on ARMv8.0.
hygiene_failed=0
for bin in $kernel_tests $([ "$mode" != kernels ] && echo "$build/rpu"); do
  offending=$(aarch64-linux-gnu-objdump -d -C --no-show-raw-insn "$bin" | awk '
    /^[0-9a-f]+ <.*>:$/ { fn = $0; next }
    $2 ~ /^(sdot|udot|usdot|sudot|smmla|ummla|usmmla)$/ && fn !~ /rpu::neon::/ { print fn ": " $2 }' | sort -u)
  if [ -n "$offending" ]; then
    echo "FAILED: dotprod/i8mm instructions outside rpu::neon in $bin:"
    echo "$offending" | head -20
    hygiene_failed=1
  else
    log "ISA hygiene: no dotprod/i8mm instruction outside rpu::neon in $(basename "$bin")"
  fi
done

# (4) Under emulation, one CPU model per kernel-set selection. Each model checks that it gets
# exactly its sets, and tests the set it adds (cortex-a53 also the reference): the three runs
# go side by side (each is one thread).
declare -A expected=([cortex-a53]="ref,neon" [cortex-a76]="ref,neon,dotprod" [max]="ref,neon,dotprod,i8mm")
declare -A tested=([cortex-a53]="ref,neon" [cortex-a76]="dotprod" [max]="i8mm")
cpus=(cortex-a53 cortex-a76 max)
logs=$out/qemu-logs-$mode
mkdir -p "$logs"
pids=()
for cpu in "${cpus[@]}"; do
  [ -n "$kernel_tests" ] || break
  log "qemu-aarch64 -cpu $cpu: rpu_kernel_tests (expecting sets ${expected[$cpu]}, testing ${tested[$cpu]})"
  RPU_EXPECT_KERNELS=${expected[$cpu]} RPU_TEST_KERNELS=${tested[$cpu]} \
    qemu-aarch64 -L "$sysroot" -cpu "$cpu" "$kernel_tests" --gtest_brief=1 >"$logs/$cpu.log" 2>&1 &
  pids+=($!)
done
failed=$hygiene_failed
for i in "${!pids[@]}"; do
  cpu=${cpus[$i]}
  if wait "${pids[$i]}"; then
    log "qemu-aarch64 -cpu $cpu: $(grep -E '^\[  PASSED  \]' "$logs/$cpu.log") ($(grep -oE '[0-9]+ ms total' "$logs/$cpu.log"))"
  else
    echo "FAILED: rpu_kernel_tests on $cpu:"
    cat "$logs/$cpu.log"
    failed=1
  fi
done
if [ "$mode" != kernels ]; then
  golden=$fixtures/golden/greedy_noprompt_n256.txt
  for cpu in "${cpus[@]}"; do
    last=${expected[$cpu]##*,}
    for set in neon "$last"; do
      got=$(mktemp)
      RPU_KERNELS=$set qemu-aarch64 -L "$sysroot" -cpu "$cpu" "$build/rpu" run "$fixtures/stories260K.gguf" \
        --steps 256 --temp 0 >"$got" 2>"$logs/rpu-run-$cpu-$set.err" || true
      if cmp -s "$got" "$golden"; then
        log "qemu-aarch64 -cpu $cpu: RPU_KERNELS=$set rpu run stories260K.gguf --steps 256 --temp 0: the golden text, byte for byte ($(grep -h "^prompt:" "$logs/rpu-run-$cpu-$set.err"))"
      else
        echo "FAILED: RPU_KERNELS=$set rpu run on $cpu differs from $golden:"
        diff <(head -c 400 "$got") <(head -c 400 "$golden") || true
        cat "$logs/rpu-run-$cpu-$set.err"
        failed=1
      fi
      rm -f "$got"
      [ "$last" = neon ] && break
    done
  done
fi
log "done ($mode): $([ $failed = 0 ] && echo passed || echo FAILED)"
exit $failed

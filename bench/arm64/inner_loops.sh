#!/usr/bin/env bash
# Instruction counts of the ARM64 integer matmul's inner loops, by inspection of the compiled
# code (Debian's qemu 7.2 ships no TCG plugins, so no dynamic count): compiles each
# pair_kernel<type, smmla?, token groups> of src/kernels/neon/int8_impl.h for the three sets with
# the cross compiler (as the build does: -O3, the set's target pragma) and prints, per
# instantiation, the instructions of each loop (a backward branch's range) with its loads,
# SDOTs and SMMLAs. DType numbers: 2 Q4_0, 8 Q8_0, 12 Q4_K, 14 Q6_K. Results: bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
for v in 0 1 2; do
  case $v in
    0) pragma="" ;;
    1) pragma='#pragma GCC target("arch=armv8.2-a+dotprod")' ;;
    2) pragma='#pragma GCC target("arch=armv8.2-a+dotprod+i8mm")' ;;
  esac
  cat >"$out/k$v.cpp" <<CPP
#include <arm_neon.h>
#include <cstdint>
#include <cstring>
#include "core/error.h"
#include "kernels/neon/neon.h"
$pragma
#define RPU_NEON_ISA $v
#include "kernels/neon/int8_impl.h"
namespace rpu::neon {
void* exported[] = {(void*)&pair_kernel<DType::Q4_0, false, 1>, (void*)&pair_kernel<DType::Q8_0, false, 1>,
                    (void*)&pair_kernel<DType::Q4_K, false, 1>, (void*)&pair_kernel<DType::Q6_K, false, 1>,
#if RPU_NEON_ISA == 2
                    (void*)&pair_kernel<DType::Q4_0, true, 2>, (void*)&pair_kernel<DType::Q4_K, true, 2>};
#else
                    (void*)&pair_kernel<DType::Q4_0, false, 4>, (void*)&pair_kernel<DType::Q4_K, false, 4>};
#endif
}
CPP
  # fmt's headers are architecture-independent: taken from the host after the cross glibc.
  aarch64-linux-gnu-g++ -std=c++20 -O3 -DNDEBUG -Isrc -idirafter /usr/include -c "$out/k$v.cpp" -o "$out/k$v.o"
done
(cd "$out" && python3 "$OLDPWD/bench/arm64/loops.py" k0.o k1.o k2.o)
rm -rf "$out"

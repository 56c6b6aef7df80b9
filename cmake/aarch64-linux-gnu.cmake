# Cross-compiling rpu for 64-bit ARM Linux with Debian's cross compiler
# (crossbuild-essential-arm64) against an arm64 sysroot holding the -dev packages, as made by
# scripts/cross-arm64.sh:
#   cmake -S . -B build-arm64/build -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
#         -DRPU_ARM64_SYSROOT=$PWD/build-arm64/sysroot
# The binaries run on an arm64 machine, or here under qemu: qemu-aarch64 -L <sysroot> -cpu max ...
set(CMAKE_SYSTEM_NAME Linux)
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES RPU_ARM64_SYSROOT)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(RPU_ARM64_SYSROOT "$ENV{RPU_ARM64_SYSROOT}" CACHE PATH "arm64 sysroot with rpu's -dev packages")
if(NOT RPU_ARM64_SYSROOT OR NOT EXISTS "${RPU_ARM64_SYSROOT}/usr/include")
  message(FATAL_ERROR "set RPU_ARM64_SYSROOT to an arm64 sysroot (scripts/cross-arm64.sh makes one)")
endif()

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_ASM_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_SYSROOT "${RPU_ARM64_SYSROOT}")

# Libraries, headers and CMake packages from the sysroot only; programs from the host.
set(CMAKE_FIND_ROOT_PATH "${RPU_ARM64_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${RPU_ARM64_SYSROOT}")
set(ENV{PKG_CONFIG_LIBDIR}
    "${RPU_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${RPU_ARM64_SYSROOT}/usr/lib/pkgconfig:${RPU_ARM64_SYSROOT}/usr/share/pkgconfig")

# ctest and gtest_discover_tests run the test binaries through qemu (the CPU model can be
# changed with QEMU_CPU in the environment).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L "${RPU_ARM64_SYSROOT}")

#!/usr/bin/env bash
# Builds fuzz/TARGET_fuzzer.cpp as a libFuzzer binary under ASan + UBSan and runs it for
# SECONDS on a seed corpus. Exits non-zero if the fuzzer finds a crash, leak, timeout, OOM
# or undefined behaviour (the input that did it is kept in BUILD_DIR/TARGET_artifacts/).
#
#   usage: fuzz/run_fuzz.sh BUILD_DIR TARGET SECONDS     e.g. fuzz/run_fuzz.sh build/fuzz gguf 30
#
# Everything it writes goes under BUILD_DIR. Compiler: $FUZZ_CXX, else clang++ (any
# version with libFuzzer; on Debian: apt-get install clang libclang-rt-14-dev).
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 BUILD_DIR TARGET SECONDS" >&2
  exit 2
fi
target=$2
seconds=$3
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
  echo "run_fuzz.sh: SECONDS must be a positive whole number, got '$seconds'" >&2
  exit 2
fi

script=$(realpath "${BASH_SOURCE[0]}")
repo=$(dirname "$(dirname "$script")")
fixtures=$(dirname "$repo")/shared/fixtures  # real files beside the checkout, as in CI
mkdir -p "$1"
build_dir=$(realpath "$1")

fuzzer_src="$repo/fuzz/${target}_fuzzer.cpp"
[ -f "$fuzzer_src" ] || { echo "run_fuzz.sh: no fuzz target '$target' ($fuzzer_src is missing)" >&2; exit 2; }

# Each target is described by fuzz/targets/TARGET.sh: the sources it needs (only those, so a
# half-edited file elsewhere in src/ cannot break the fuzz build, and compile time stays small),
# the libraries it links, any extra compile flags (cxxflags, e.g. a system library's include folder),
# and a seeds function that fills $corpus (and may write a dictionary).
target_file="$repo/fuzz/targets/${target}.sh"
[ -f "$target_file" ] || { echo "run_fuzz.sh: fuzz target '$target' has no description ($target_file is missing)" >&2; exit 2; }
sources=()
libs=()
cxxflags=()
# shellcheck source=/dev/null
source "$target_file"

# Fail loudly without clang: CI installs it, and a fuzz test that skips itself tests nothing.
cxx=${FUZZ_CXX:-}
if [ -z "$cxx" ]; then
  for candidate in clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14; do
    if command -v "$candidate" >/dev/null; then
      cxx=$candidate
      break
    fi
  done
fi
if [ -z "$cxx" ] || ! command -v "$cxx" >/dev/null; then
  echo "run_fuzz.sh: ${cxx:-clang++} not found; the fuzz test needs clang with libFuzzer" >&2
  echo "  (Debian: apt-get install clang libclang-rt-14-dev, or set FUZZ_CXX)" >&2
  exit 1
fi

# shellcheck disable=SC2054  # the commas belong to -fsanitize=, they do not separate elements
flags=(-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -fno-omit-frame-pointer -I"$repo/src" "${cxxflags[@]}")

# --- build -----------------------------------------------------------------------------
# One object per source, at most two compiles at once (the CI machines are small). Objects are
# shared by every target compiled with the same extra flags (most targets need the same core,
# tokenizer and JSON sources: 91 compiles of 55 files), so each is compiled once per build;
# ctest runs two targets at once, so an object is compiled under a lock and moved into place.
# An object is rebuilt when its source, any header in src/ or this script is newer.
obj_dir="$build_dir/obj-$(printf '%s ' "${cxxflags[@]}" | md5sum | cut -c1-8)"
mkdir -p "$obj_dir"
stale() {  # stale SOURCE OBJECT
  [ ! -f "$2" ] || [ "$1" -nt "$2" ] || [ "$script" -nt "$2" ] ||
    [ -n "$(find "$repo/src" -name '*.h' -newer "$2" -print -quit)" ]
}
compile() {  # compile SOURCE OBJECT: under the object's lock, unless another run just did it
  (
    flock 9
    stale "$1" "$2" || exit 0
    "$cxx" "${flags[@]}" -c "$1" -o "$2.tmp.$BASHPID" && mv -f "$2.tmp.$BASHPID" "$2"
  ) 9>"$2.lock"
}
objects=()
pids=()
status=0
for src in "${sources[@]}" "fuzz/${target}_fuzzer.cpp"; do
  obj="$obj_dir/${src//\//_}.o"  # src/io/gguf_reader.cpp -> src_io_gguf_reader.cpp.o
  objects+=("$obj")
  stale "$repo/$src" "$obj" || continue
  if [ ${#pids[@]} -ge 2 ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
  echo "compiling $src"
  compile "$repo/$src" "$obj" &
  pids+=("$!")
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
if [ "$status" -ne 0 ]; then
  echo "run_fuzz.sh: compiling the $target fuzzer failed" >&2
  exit 1
fi
binary="$build_dir/${target}_fuzzer"
if [ ! -f "$binary" ] || [ -n "$(find "${objects[@]}" -newer "$binary" -print -quit)" ]; then
  if ! "$cxx" "${flags[@]}" "${objects[@]}" "${libs[@]}" -o "$binary"; then
    echo "run_fuzz.sh: linking the $target fuzzer failed (libFuzzer runtime missing? apt-get install libclang-rt-14-dev)" >&2
    exit 1
  fi
fi

# --- seed corpus -----------------------------------------------------------------------
# Rebuilt fresh each run so a run is reproducible and libFuzzer's additions do not pile up;
# the artifacts folder likewise holds only what this run found.
corpus="$build_dir/${target}_corpus"
artifacts="$build_dir/${target}_artifacts"
rm -rf "$corpus" "$artifacts"
mkdir -p "$corpus" "$artifacts"

# Little-endian writers for hand-made GGUF seeds.
# shellcheck disable=SC2059  # the format is the point: it is the \xHH escape for one byte
u8() { printf "\\x$(printf %02x "$1")"; }
u32() { local v=$1; for _ in 1 2 3 4; do u8 $((v & 255)); v=$((v >> 8)); done; }
u64() { u32 $(($1 & 0xffffffff)); u32 $((($1 >> 32) & 0xffffffff)); }
str() { u64 ${#1}; printf '%s' "$1"; }  # ASCII only: ${#1} counts characters
zeros() { head -c "$1" /dev/zero; }
fill() { head -c "$1" /dev/zero | tr '\0' "\\$(printf %03o "$2")"; }
pad_file() {  # pad_file FILE ALIGNMENT: zero-pad FILE to a multiple of ALIGNMENT
  local size
  size=$(stat -c %s "$1")
  zeros $(((${2} - size % ${2}) % ${2})) >>"$1"
}

seeds

# --- run -------------------------------------------------------------------------------
# -max_len keeps inputs small enough for many runs per second; -timeout flags any single
# input that takes absurdly long (a quadratic loop in the parser is a bug worth knowing).
log="$build_dir/${target}_fuzz.log"
run_flags=(-max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -timeout=30
           -print_final_stats=1 -artifact_prefix="$artifacts/")
[ -f "$build_dir/${target}.dict" ] && run_flags+=(-dict="$build_dir/${target}.dict")
echo "fuzzing $target for ${seconds}s (log: $log)"
set +e
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  "$binary" "${run_flags[@]}" "$corpus" >"$log" 2>&1
rc=$?
set -e

runs=$(sed -n 's/^Done \([0-9]*\) runs in.*/\1/p' "$log" | tail -n 1)
if [ "$rc" -ne 0 ] || [ -z "$runs" ]; then
  # Show the report from its first line (the log before it is coverage chatter).
  first=$(grep -n -m 1 -E '^==[0-9]+==|DEADLYSIGNAL|runtime error:|ERROR: libFuzzer|^terminate called' "$log" |
    cut -d: -f1 || true)
  if [ -n "$first" ]; then tail -n "+$first" "$log" | head -n 120 >&2; else tail -n 40 "$log" >&2; fi
  echo "fuzz $target: FAILED (exit $rc); reproduce with: $binary $artifacts/<crash file>" >&2
  ls -1 "$artifacts" >&2 || true
  exit 1
fi
echo "fuzz $target: $runs runs, no crashes"

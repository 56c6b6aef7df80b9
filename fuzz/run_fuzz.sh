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

# Only the sources the target needs, so a half-edited file elsewhere in src/ cannot break
# the fuzz build, and compile time stays small.
case "$target" in
  gguf) sources=(src/core/dtype.cpp src/core/mapped_file.cpp src/io/gguf_reader.cpp src/io/gguf_value.cpp
                 src/io/gguf_writer.cpp)
        libs=(-lfmt) ;;
  tokenizer) sources=(src/core/dtype.cpp src/core/mapped_file.cpp src/io/gguf_reader.cpp src/io/gguf_value.cpp
                      src/io/gguf_writer.cpp src/tokenizer/tokenizer.cpp src/tokenizer/spm_tokenizer.cpp
                      src/tokenizer/bpe_tokenizer.cpp src/tokenizer/wordpiece_tokenizer.cpp src/tokenizer/hf_tokenizer.cpp
                      src/tokenizer/pretokenizer.cpp src/tokenizer/normalizer.cpp src/tokenizer/regex.cpp src/tokenizer/unicode.cpp)
             libs=(-lfmt -lpcre2-8 -lutf8proc) ;;
  *) echo "run_fuzz.sh: fuzz target '$target' has no source list; add one to $script" >&2; exit 2 ;;
esac

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
       -fno-omit-frame-pointer -I"$repo/src")

# --- build -----------------------------------------------------------------------------
# One object per source, at most two compiles at once (the CI machines are small). An
# object is rebuilt when its source, any header in src/, or this script is newer.
obj_dir="$build_dir/${target}_obj"
mkdir -p "$obj_dir"
stale() {  # stale SOURCE OBJECT
  [ ! -f "$2" ] || [ "$1" -nt "$2" ] || [ "$script" -nt "$2" ] ||
    [ -n "$(find "$repo/src" -name '*.h' -newer "$2" -print -quit)" ]
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
  "$cxx" "${flags[@]}" -c "$repo/$src" -o "$obj" &
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

gguf_seeds() {
  # Header only: no metadata, no tensors.
  { printf GGUF; u32 3; u64 0; u64 0; } >"$corpus/seed_empty.gguf"

  # One key of every value type, arrays of several element types, a nested array, no tensors.
  {
    printf GGUF; u32 3; u64 0; u64 17
    str general.architecture; u32 8; str llama
    str t.u8; u32 0; u8 255
    str t.i8; u32 1; u8 128
    str t.u16; u32 2; u8 1; u8 2
    str t.i16; u32 3; u8 255; u8 255
    str t.u32; u32 4; u32 4000000000
    str t.i32; u32 5; u32 4294967295
    str t.f32; u32 6; u32 1065353216              # 1.0f
    str t.bool; u32 7; u8 1
    str t.u64; u32 10; u64 -1
    str t.i64; u32 11; u64 -2
    str t.f64; u32 12; u64 4611686018427387904    # 2.0
    str t.arr.str; u32 9; u32 8; u64 3; str a; str ""; str bc
    str t.arr.i32; u32 9; u32 5; u64 2; u32 1; u32 2
    str t.arr.bool; u32 9; u32 7; u64 2; u8 0; u8 1
    str t.arr.empty; u32 9; u32 0; u64 0
    str t.arr.nested; u32 9; u32 9; u64 2; u32 6; u64 1; u32 0; u32 8; u64 1; str x
  } >"$corpus/seed_kv_all_types.gguf"

  # One F32 tensor [4] with an explicit alignment.
  f="$corpus/seed_tensor_f32.gguf"
  { printf GGUF; u32 3; u64 1; u64 1; str general.alignment; u32 4; u32 32
    str w; u32 1; u64 4; u32 0; u64 0; } >"$f"
  pad_file "$f" 32
  fill 16 63 >>"$f"

  # Block types and 1-3 dims at alignment 64: Q8_0 [32,2] (68 bytes) at 0, F16 [3,1,2]
  # (12 bytes) at 128, Q4_K [256] (144 bytes) at 192.
  f="$corpus/seed_tensors_mixed.gguf"
  { printf GGUF; u32 3; u64 3; u64 2; str general.alignment; u32 4; u32 64
    str general.architecture; u32 8; str llama
    str blk.0.q8; u32 2; u64 32; u64 2; u32 8; u64 0
    str blk.0.f16; u32 3; u64 3; u64 1; u64 2; u32 1; u64 128
    str blk.0.q4k; u32 1; u64 256; u32 12; u64 192; } >"$f"
  pad_file "$f" 64
  { fill 68 1; zeros 60; fill 12 2; zeros 52; fill 144 3; } >>"$f"

  # Version 2 with a 4-D I8 tensor [5,1,1,1].
  f="$corpus/seed_v2.gguf"
  { printf GGUF; u32 2; u64 1; u64 1; str n; u32 4; u32 7
    str t; u32 4; u64 5; u64 1; u64 1; u64 1; u32 24; u64 0; } >"$f"
  pad_file "$f" 32
  fill 5 9 >>"$f"

  # The real files (larger than -max_len: libFuzzer keeps their first max_len bytes).
  if [ ! -d "$fixtures" ]; then
    echo "run_fuzz.sh: fixtures not found at $fixtures (expected beside the checkout)" >&2
    exit 1
  fi
  local n=0
  for g in "$fixtures"/stories260K/*.gguf "$fixtures"/vocab/*.gguf; do
    [ -f "$g" ] || continue
    cp "$g" "$corpus/"
    n=$((n + 1))
  done
  [ "$n" -gt 0 ] || { echo "run_fuzz.sh: no .gguf files under $fixtures" >&2; exit 1; }

  # Tokens worth splicing in: the magic, the one key the reader interprets, type ids.
  cat >"$build_dir/${target}.dict" <<'EOF'
"GGUF"
"general.alignment"
"\x03\x00\x00\x00"
"\x09\x00\x00\x00"
"\x08\x00\x00\x00"
"\x0c\x00\x00\x00"
"\x20\x00\x00\x00"
EOF
}

tokenizer_seeds() {  # first byte picks the tokenizer and flags (see fuzz/tokenizer_fuzzer.cpp)
  local i=0 text
  for text in "Hello, world! I'M here" $'tabs\tand\r\nnewlines  ' "日本語のテキスト 123456789" \
              "<|im_start|>user<|im_end|>" "éàü — “quotes” 🙂👍🏽" '{"model":{"type":"BPE"}}'; do
    for selector in 0 1 2 3 4 5 6 7 24; do
      { u8 "$selector"; printf '%s' "$text"; } >"$corpus/seed_$((i++))"
    done
  done
}

case "$target" in
  gguf) gguf_seeds ;;
  tokenizer) tokenizer_seeds ;;
esac

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

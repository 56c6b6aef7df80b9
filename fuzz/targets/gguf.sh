# Fuzz target `gguf`: the GGUF reader (fuzz/gguf_fuzzer.cpp). Sourced by fuzz/run_fuzz.sh,
# which defines u8/u32/u64/str/zeros/fill/pad_file, $corpus, $build_dir and $fixtures.
sources=(src/core/dtype.cpp src/core/mapped_file.cpp src/io/gguf_reader.cpp src/io/gguf_value.cpp
         src/io/gguf_writer.cpp)
libs=(-lfmt)

seeds() {
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

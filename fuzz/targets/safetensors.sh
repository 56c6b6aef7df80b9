# Fuzz target `safetensors`: the safetensors reader (fuzz/safetensors_fuzzer.cpp). Sourced by
# fuzz/run_fuzz.sh, which defines u8/u32/u64/str/zeros/fill/pad_file, $corpus, $build_dir and $fixtures.
sources=(src/core/dtype.cpp src/core/mapped_file.cpp src/core/json_text.cpp src/io/safetensors.cpp)
libs=(-lfmt)

seeds() {
  # A header padded with spaces (as the reference writer does), then the data.
  st() {  # st HEADER_JSON DATA_BYTES FILL
    local h=$1
    while [ $(( ${#h} % 8 )) -ne 0 ]; do h="$h "; done
    { u64 ${#h}; printf '%s' "$h"; fill "$2" "$3"; }
  }
  st '{}' 0 0 >"$corpus/seed_empty.safetensors"
  st '{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}' 16 63 \
    >"$corpus/seed_f32.safetensors"
  st '{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[1,2,1],"data_offsets":[6,10]},"c":{"dtype":"F32","shape":[],"data_offsets":[10,14]},"z":{"dtype":"F32","shape":[0,4],"data_offsets":[14,14]}}' 14 1 \
    >"$corpus/seed_mixed.safetensors"
  st '{"model.layers.0.self_attn.q_proj.weight":{"dtype":"BF16","shape":[4,8],"data_offsets":[64,128]},"model.embed_tokens.weight":{"dtype":"BF16","shape":[4,8],"data_offsets":[0,64]}}' 128 7 \
    >"$corpus/seed_unsorted.safetensors"
  st '{"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}' 8 0 >"$corpus/seed_refused_dtype.safetensors"

  cat >"$build_dir/${target}.dict" <<'DICT'
"__metadata__"
"dtype"
"shape"
"data_offsets"
"F32"
"F16"
"BF16"
"I64"
"F8_E4M3"
DICT
}

// Switches the code that follows to the avx512 kernel set's instruction set, function by
// function (not the whole file): inline and template code from headers included before this one
// keeps the baseline target, so a copy of it emitted in a kernel file can never be the one the
// linker keeps for baseline callers. GCC: push_options/target; clang (which ignores those)
// applies the same target attribute to every function defined up to target_end.h's pop.
// Include it after the file's other headers, and target_end.h at the end of the file; no
// include guard, on purpose.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
#endif

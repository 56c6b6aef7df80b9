// Ends the target region opened by target_begin.h (or by a file's own push with another target,
// as bf16_panels.cpp does). No include guard, on purpose.
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

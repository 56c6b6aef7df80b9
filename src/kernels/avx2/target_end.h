// Ends the avx2 target region target_begin.h opened (no include guard, on purpose).
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

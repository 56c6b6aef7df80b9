// A small, fully specified random generator (splitmix64): a seed gives the same stream on
// every platform and standard library, so seeded runs and synthetic models reproduce.
#pragma once

#include <cstdint>

namespace rpu {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1), 53 bits

 private:
  uint64_t state_;
};

}  // namespace rpu

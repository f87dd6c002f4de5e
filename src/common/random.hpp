// SPDX-License-Identifier: Apache-2.0
// Internal (src/common/random.hpp).
// Fast per-thread random bits (splitmix64 over a per-thread random seed): retry jitter, span
// and trace ids, sampling. Not for secrets.
#pragma once

#include <cstdint>
#include <random>

namespace fnhost::detail {

inline uint64_t thread_random_bits() {
  thread_local uint64_t state = [] {
    std::random_device device;
    return (uint64_t{device()} << 32) ^ device();
  }();
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace fnhost::detail

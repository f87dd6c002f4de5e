// SPDX-License-Identifier: Apache-2.0
// Internal (connectors/mqtt/src/reconnect_backoff.hpp).
// The wait before the n-th reconnect attempt in a row: "equal jitter" — a uniform draw in
// [d/2, d] with d = min(max, initial * 2^(n-1)) — so many hosts that lost one broker spread their
// reconnects, while each still backs off (full jitter could retry at once, every time).
#pragma once

#include <algorithm>
#include <cstdint>

#include "absl/time/time.h"

namespace fnhost::mqtt::detail {

inline absl::Duration reconnect_delay(absl::Duration initial, absl::Duration max, int attempt,
                                      uint64_t random_bits) {
  absl::Duration ceiling = initial;
  for (int doubling = 1; doubling < attempt && ceiling < max; ++doubling) ceiling *= 2;
  ceiling = std::min(ceiling, max);
  const double fraction = static_cast<double>(random_bits >> 11) * 0x1.0p-53;  // [0, 1)
  return ceiling / 2 + (ceiling / 2) * fraction;
}

}  // namespace fnhost::mqtt::detail

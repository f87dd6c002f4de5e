// SPDX-License-Identifier: Apache-2.0
// Internal (src/common/utf8.hpp).
// UTF-8 validation for text the host writes into formats that require it (Prometheus labels,
// JSON lines): handlers and callers may hand it any bytes.
#pragma once

#include <cstddef>
#include <string_view>

namespace fnhost::detail {

// The length of the valid UTF-8 sequence `text` starts with, or 0 if it does not start with
// one (a stray continuation byte, a truncated, overlong or surrogate sequence).
inline size_t utf8_sequence_length(std::string_view text) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // overlong
    if (lead == 0xED) high = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // overlong
    if (lead == 0xF4) high = 0x8F;  // past U+10FFFF
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  if (byte(1) < low || byte(1) > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

}  // namespace fnhost::detail

// SPDX-License-Identifier: Apache-2.0
// Internal (src/common/quote.hpp).
// Text from callers or the network, quoted for an error message: in double quotes, at most its
// first 64 bytes, bytes outside printable ASCII as \xNN, then "..." and the full size when cut.
// An error must neither echo a huge value nor put control characters into a log line.
#pragma once

#include <cstddef>
#include <iterator>
#include <string>
#include <string_view>

#include "fmt/format.h"

namespace fnhost::detail {

inline std::string quote_for_message(std::string_view text) {
  constexpr size_t kShown = 64;
  std::string out = "\"";
  for (const char c : text.substr(0, kShown)) {
    if (c >= 0x20 && c < 0x7f) {
      out += c;
    } else {
      fmt::format_to(std::back_inserter(out), "\\x{:02x}", static_cast<unsigned char>(c));
    }
  }
  if (text.size() > kShown) {
    fmt::format_to(std::back_inserter(out), "...\" ({} bytes)", text.size());
  } else {
    out += '"';
  }
  return out;
}

}  // namespace fnhost::detail

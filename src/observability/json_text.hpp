// SPDX-License-Identifier: Apache-2.0
// Internal (src/observability/json_text.hpp).
// JSON string escaping for the lines the host writes (log records, spans).
#pragma once

#include <iterator>
#include <string>
#include <string_view>

#include "common/utf8.hpp"
#include "fmt/format.h"

namespace fnhost::detail {

// Appends `value` as a JSON string body (without quotes), valid UTF-8: each byte that does not
// start a valid sequence becomes U+FFFD.
inline void append_json_escaped(std::string& out, std::string_view value) {
  while (!value.empty()) {
    const size_t length = utf8_sequence_length(value);
    if (length != 1) {
      out += length == 0 ? std::string_view("\xEF\xBF\xBD") : value.substr(0, length);
      value.remove_prefix(length == 0 ? 1 : length);
      continue;
    }
    const char c = value.front();
    value.remove_prefix(1);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        } else {
          out += c;
        }
    }
  }
}

// Appends `value` as a JSON string, quotes included.
inline void append_json_string(std::string& out, std::string_view value) {
  out += '"';
  append_json_escaped(out, value);
  out += '"';
}

}  // namespace fnhost::detail

// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for prometheus_text's label values: a trigger pattern, a function name and a
// schedule expression made of any bytes must come out as valid UTF-8 with every quote inside a
// label escaped, so each sample line splits into name{labels} value exactly once.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fnhost/metrics.hpp"

namespace {

bool valid_utf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    size_t length = 0;
    if (byte < 0x80) {
      length = 1;
    } else if (byte >= 0xC2 && byte <= 0xDF) {
      length = 2;
    } else if (byte >= 0xE0 && byte <= 0xEF) {
      length = 3;
    } else if (byte >= 0xF0 && byte <= 0xF4) {
      length = 4;
    }
    if (length == 0 || i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return false;
    }
    i += length;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const size_t third = size / 3;
  fnhost::HostMetrics metrics;
  metrics.triggers.push_back({.id = 1,
                              .pattern = std::string(text.substr(0, third)),
                              .function = std::string(text.substr(third, third)),
                              .delivered = 1});
  metrics.schedules.push_back({.id = 2,
                               .expression = std::string(text.substr(2 * third)),
                               .function = std::string(text.substr(third, third)),
                               .fired = 1});
  const std::string out = fnhost::prometheus_text(metrics);
  if (!valid_utf8(out)) std::abort();
  // Outside comments, a line is `name{label="value",...} number`: unescaped quotes pair up and
  // no raw newline sits inside a value (the split into lines would have cut it).
  size_t start = 0;
  while (start < out.size()) {
    const size_t end = out.find('\n', start);
    if (end == std::string::npos) std::abort();  // every line ends with a newline
    const std::string_view line(out.data() + start, end - start);
    start = end + 1;
    if (line.empty() || line[0] == '#') continue;
    bool in_value = false;
    for (size_t i = 0; i < line.size(); ++i) {
      if (in_value && line[i] == '\\') {
        if (i + 1 >= line.size()) std::abort();
        const char escaped = line[++i];
        if (escaped != '\\' && escaped != '"' && escaped != 'n') std::abort();
      } else if (line[i] == '"') {
        in_value = !in_value;
      }
    }
    if (in_value) std::abort();
  }
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
// Internal (src/common/short_text.hpp).
// A string of at most N bytes kept inline: copying an invocation id into a queued record costs
// no allocation (a std::string keeps only 15 bytes inline; an id has 25).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <string_view>

namespace fnhost::detail {

template <size_t N>
class ShortText {
 public:
  ShortText() = default;
  // Keeps the first N bytes of `text`.
  explicit ShortText(std::string_view text) : size_(std::min(text.size(), N)) {
    std::memcpy(bytes_.data(), text.data(), size_);
  }
  [[nodiscard]] std::string_view view() const { return {bytes_.data(), size_}; }

 private:
  std::array<char, N> bytes_{};
  size_t size_ = 0;
};

}  // namespace fnhost::detail

// SPDX-License-Identifier: Apache-2.0
// A SpanSink fake that keeps owned copies of the spans it receives, for tests of tracing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include "fnhost/tracing.hpp"

namespace fnhost::testing {

struct CapturedSpan {
  std::string name;
  InvocationSpan span;
  SpanKind kind = SpanKind::kInternal;
  absl::Time start;
  absl::Time end;
  SpanStatusCode status = SpanStatusCode::kUnset;
  std::string status_message;
  std::map<std::string, std::string> strings;
  std::map<std::string, int64_t> numbers;
  std::map<std::string, bool> flags;
};

class CaptureSpanSink final : public SpanSink {
 public:
  void export_span(const SpanRecord& record) override {
    CapturedSpan copy{.name = std::string(record.name),
                      .span = record.span,
                      .kind = record.kind,
                      .start = record.start,
                      .end = record.end,
                      .status = record.status,
                      .status_message = std::string(record.status_message)};
    for (const SpanAttribute& attribute : record.attributes) {
      const std::string key(attribute.key);
      if (const auto* text = std::get_if<std::string_view>(&attribute.value)) {
        copy.strings[key] = std::string(*text);
      } else if (const auto* number = std::get_if<int64_t>(&attribute.value)) {
        copy.numbers[key] = *number;
      } else {
        copy.flags[key] = std::get<bool>(attribute.value);
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    spans_.push_back(std::move(copy));
  }
  [[nodiscard]] std::vector<CapturedSpan> spans() const {
    std::lock_guard<std::mutex> lock(mu_);
    return spans_;
  }
  [[nodiscard]] std::size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return spans_.size();
  }
  // The spans named `name`, in export order.
  [[nodiscard]] std::vector<CapturedSpan> named(const std::string& name) const {
    std::vector<CapturedSpan> out;
    for (const CapturedSpan& span : spans()) {
      if (span.name == name) out.push_back(span);
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<CapturedSpan> spans_;
};

}  // namespace fnhost::testing

// SPDX-License-Identifier: Apache-2.0
// START, END and REPORT records per invocation, in the spirit of Lambda's (HostOptions::
// invocation_logs): an InvocationObserver, so the invocation path does nothing for them when
// they are off.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "fnhost/observability.hpp"

namespace fnhost::detail {

class InvocationReports final : public InvocationObserver {
 public:
  // Where records go: level, function, invocation id, message, and the invocation's span
  // (null when untraced).
  using Writer = std::function<void(LogLevel, std::string_view, std::string_view, std::string_view,
                                    const InvocationSpan*)>;
  explicit InvocationReports(Writer writer) : writer_(std::move(writer)) {}

  void on_started(const StartedInvocation& started) override;
  void on_finished(const FinishedInvocation& finished) override;

  // Whole milliseconds billed for `duration`: rounded up, at least 1 (Lambda's rule).
  static int64_t billed_ms(absl::Duration duration);
  // The REPORT message of `finished`.
  static std::string report(const FinishedInvocation& finished);

 private:
  Writer writer_;
};

}  // namespace fnhost::detail

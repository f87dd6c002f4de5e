// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the W3C Trace Context headers (src/observability/trace_context.cpp). The
// input is a traceparent value, '\n', then a tracestate value. Any bytes either parse or fail
// with InvalidArgument and a short message; a parsed context is valid, formats to a 55-character
// version 00 header that parses back to the same ids and sampled bit, and carries a tracestate
// of at most 32 members that parses back to itself (or none when the tracestate was invalid).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fnhost/trace.hpp"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

// 64 quoted bytes, each at most 4 characters (\xNN), plus the explanation.
void check_error(const absl::Status& status) {
  check(status.code() == absl::StatusCode::kInvalidArgument);
  check(status.message().size() <= 64 * 4 + 200);
}

// A normalised tracestate: parses back to itself, has no empty members and at most 32.
void check_normalised(const std::string& tracestate) {
  const absl::StatusOr<std::string> again = fnhost::parse_tracestate(tracestate);
  check(again.ok() && *again == tracestate);
  if (tracestate.empty()) return;
  const auto commas = static_cast<size_t>(std::count(tracestate.begin(), tracestate.end(), ','));
  check(commas + 1 <= fnhost::kMaxTracestateMembers);
  check(tracestate.front() != ',' && tracestate.back() != ',');
  check(tracestate.find(",,") == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const std::string_view traceparent = input.substr(0, newline);
  const std::string_view tracestate =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

  // The list on its own: normalised, or refused.
  const absl::StatusOr<std::string> state = fnhost::parse_tracestate(tracestate);
  if (state.ok()) {
    check_normalised(*state);
  } else {
    check_error(state.status());
  }

  const absl::StatusOr<fnhost::TraceContext> context =
      fnhost::parse_trace_context(traceparent, tracestate);
  if (!context.ok()) {
    check_error(context.status());
    check(!fnhost::parse_traceparent(traceparent).ok());
    return 0;
  }
  check(context->valid());
  // An invalid tracestate is dropped, never the traceparent.
  check(context->tracestate == (state.ok() ? *state : std::string()));
  check_normalised(context->tracestate);

  const std::string header = fnhost::format_traceparent(*context);
  check(header.size() == fnhost::kTraceparentSize);
  check(header.compare(0, 3, "00-") == 0);
  const absl::StatusOr<fnhost::TraceContext> again = fnhost::parse_traceparent(header);
  check(again.ok());
  check(again->trace_id == context->trace_id && again->span_id == context->span_id);
  check(again->flags == (context->flags & fnhost::kTraceFlagSampled));
  check(fnhost::format_traceparent(*again) == header);
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for read_destination_record, which decodes attributes any publisher can set:
// any event either decodes or fails with InvalidArgument naming an attribute; and an outcome
// made from fuzzed parts (make_destination_event) always decodes back to those parts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "delivery/destination_record.hpp"
#include "fnhost/delivery.hpp"
#include "fnhost/event.hpp"

namespace {

// Splits the input at '\n' into parts, reused as names and values.
std::vector<std::string> parts_of(std::string_view input) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= input.size() && parts.size() < 32) {
    const size_t end = input.find('\n', start);
    const size_t stop = end == std::string_view::npos ? input.size() : end;
    parts.emplace_back(input.substr(start, stop - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return parts;
}

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string> parts = parts_of(input);

  // Any attributes: decoded, or refused by name.
  fnhost::Event event;
  for (size_t i = 0; i + 1 < parts.size(); i += 2) {
    event.extensions.emplace_back(parts[i], parts[i + 1]);
  }
  const absl::StatusOr<fnhost::DestinationRecord> read = fnhost::read_destination_record(event);
  if (!read.ok()) {
    check(read.status().code() == absl::StatusCode::kInvalidArgument);
    check(read.status().message().size() < 200);
  }

  // An outcome made from fuzzed parts decodes back to them.
  fnhost::Event original{.id = parts.empty() ? "" : parts[0],
                         .topic = parts.size() > 1 ? parts[1] : "",
                         .data = std::string(input)};
  const bool success = !input.empty() && (input[0] & 1) != 0;
  const std::string result = parts.size() > 2 ? parts[2] : "";
  const absl::Status error = absl::InternalError(parts.size() > 3 ? parts[3] : "x");
  const absl::Time first = absl::FromUnixSeconds(static_cast<int64_t>(size) * 1000);
  const fnhost::detail::OutcomeFacts facts{.success = success,
                                           .function = "f",
                                           .attempts = static_cast<int>(size % 101),
                                           .first_accepted = first,
                                           .last_attempt = first + absl::Milliseconds(size),
                                           .result = &result,
                                           .error = &error};
  const fnhost::Event outcome = fnhost::detail::make_destination_event(original, facts, "dest");
  const absl::StatusOr<fnhost::DestinationRecord> back = fnhost::read_destination_record(outcome);
  check(back.ok());
  check(back->success == success);
  check(back->attempts == facts.attempts);
  check(back->first_accepted == first && back->last_attempt == facts.last_attempt);
  check(back->original.id == original.id && back->original.topic == original.topic);
  check(back->original.data == original.data);
  check(back->original.extensions.empty());
  if (success) {
    check(back->result == result);
  } else {
    check(back->error == error);
  }
  return 0;
}

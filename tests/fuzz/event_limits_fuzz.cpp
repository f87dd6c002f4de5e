// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the event size checks every admission runs
// (src/security/event_validation.cpp), with the topic validator publish runs first. The input
// picks limits and builds an event — data, attributes, extensions of any bytes — and the checks
// must agree with a plain reference: refused exactly when some size is over its limit, with the
// right reason, and a message of bounded size whatever the attribute names hold.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "routing/topic.hpp"
#include "security/event_validation.hpp"

namespace {

using fnhost::Event;
using fnhost::HostLimits;
using fnhost::detail::EventRefusal;

void check(bool condition) {
  if (!condition) std::abort();
}

// The reference: what the limits say, spelled out without shortcuts.
EventRefusal expected_refusal(const Event& event, const HostLimits& limits, bool sync) {
  const int64_t payload = sync ? limits.max_sync_payload_bytes : limits.max_async_payload_bytes;
  if (static_cast<int64_t>(event.data.size()) > payload) return EventRefusal::kPayloadTooLarge;
  if (static_cast<int64_t>(event.extensions.size()) > limits.max_extensions) {
    return EventRefusal::kAttributeTooLarge;
  }
  const auto over = [&](const std::string& value) {
    return static_cast<int64_t>(value.size()) > limits.max_attribute_bytes;
  };
  if (over(event.id) || over(event.source) || over(event.type) || over(event.subject) ||
      over(event.datacontenttype)) {
    return EventRefusal::kAttributeTooLarge;
  }
  for (const auto& [name, value] : event.extensions) {
    if (over(name) || over(value)) return EventRefusal::kAttributeTooLarge;
  }
  return EventRefusal::kNone;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  FuzzedDataProvider input(bytes, size);
  HostLimits limits;
  limits.max_sync_payload_bytes = input.ConsumeIntegralInRange<int64_t>(1, 512);
  limits.max_async_payload_bytes = input.ConsumeIntegralInRange<int64_t>(1, 512);
  limits.max_attribute_bytes = input.ConsumeIntegralInRange<int64_t>(1, 128);
  limits.max_extensions = input.ConsumeIntegralInRange<int64_t>(0, 8);
  const bool sync = input.ConsumeBool();
  Event event;
  event.id = input.ConsumeRandomLengthString(256);
  event.source = input.ConsumeRandomLengthString(256);
  event.type = input.ConsumeRandomLengthString(256);
  event.subject = input.ConsumeRandomLengthString(256);
  event.datacontenttype = input.ConsumeRandomLengthString(256);
  event.topic = input.ConsumeRandomLengthString(256);
  const int extensions = input.ConsumeIntegralInRange<int>(0, 12);
  for (int i = 0; i < extensions; ++i) {
    std::string name = input.ConsumeRandomLengthString(256);
    std::string value = input.ConsumeRandomLengthString(256);
    event.extensions.emplace_back(std::move(name), std::move(value));
  }
  event.data = input.ConsumeRemainingBytesAsString();

  EventRefusal refusal = EventRefusal::kNone;
  const absl::Status status = fnhost::detail::check_event(event, limits, sync, &refusal);
  check(refusal == expected_refusal(event, limits, sync));
  check(status.ok() == (refusal == EventRefusal::kNone));
  if (!status.ok()) {
    check(status.code() == absl::StatusCode::kInvalidArgument);
    // At most 64 bytes of a name, each escaped as at most 4 characters, and fixed text.
    check(status.message().size() <= 64 * 4 + 160);
  }
  int64_t counted =
      static_cast<int64_t>(event.data.size() + event.id.size() + event.source.size() +
                           event.type.size() + event.subject.size() + event.datacontenttype.size() +
                           event.topic.size() + event.idempotency_key.size());
  for (const auto& [name, value] : event.extensions) {
    counted += static_cast<int64_t>(name.size() + value.size());
  }
  check(fnhost::detail::event_bytes(event) == counted);

  const absl::Status topic = fnhost::detail::validate_topic(event.topic);
  if (!topic.ok()) {
    check(topic.code() == absl::StatusCode::kInvalidArgument);
    check(topic.message().size() <= 64 * 4 + 160);
  }
  return 0;
}

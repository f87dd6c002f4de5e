// SPDX-License-Identifier: Apache-2.0
// File: fnhost/event.hpp
// `Event`: the CloudEvents-shaped envelope every invocation receives — `id`, `source`, `type`,
// `subject`, `time`, `datacontenttype`, extension attributes — plus a routing `topic` and the
// payload bytes in `data`. A plain aggregate: build it with designated initializers.
//
//   fnhost::Event event{.type = "image.uploaded", .data = R"({"key":"cat.png"})"};
//   fnhost::Event bytes = fnhost::Event::with_data("raw payload");
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace fnhost {

struct Event {
  // CloudEvents `id`: unique per source. May be empty for direct invocations.
  std::string id;
  // CloudEvents `source`: URI-reference of the producer.
  std::string source;
  // CloudEvents `type`, e.g. "com.example.order.created".
  std::string type;
  // CloudEvents `subject`: what in the source the event is about.
  std::string subject;
  // CloudEvents `time`; absl::InfinitePast() when not set.
  absl::Time time = absl::InfinitePast();
  // CloudEvents `datacontenttype`, e.g. "application/json".
  std::string datacontenttype;
  // CloudEvents extension attributes as (name, value) pairs.
  std::vector<std::pair<std::string, std::string>> extensions;
  // Routing topic that triggers match against.
  std::string topic;
  // The payload bytes.
  std::string data;
  // Optional: events with the same key for the same function within its idempotency_window
  // run once; a duplicate is answered with the first outcome (see FunctionSpec). At most 256
  // bytes.
  std::string idempotency_key;

  // An event that carries only `data`.
  static Event with_data(std::string data) {
    Event event;
    event.data = std::move(data);
    return event;
  }

  // Whether every attribute but `data` is unset (as after with_data()). The host stores such
  // an event as its payload alone. A field added to Event must be checked here too.
  [[nodiscard]] bool carries_only_data() const {
    return id.empty() && source.empty() && type.empty() && subject.empty() &&
           time == absl::InfinitePast() && datacontenttype.empty() && extensions.empty() &&
           topic.empty() && idempotency_key.empty();
  }

  // The value of extension `name`, if present.
  std::optional<std::string_view> extension(std::string_view name) const {
    for (const auto& [key, value] : extensions) {
      if (key == name) return std::string_view(value);
    }
    return std::nullopt;
  }
};

}  // namespace fnhost

// SPDX-License-Identifier: Apache-2.0
// Stream entries: parsing replies, and the entry <-> event field mapping.
#include "entries.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <set>

#include "absl/time/time.h"
#include "connection.hpp"
#include "fmt/format.h"

namespace fnhost::redis::detail {
namespace {

constexpr size_t kMaxExtensionName = 64;

absl::Status invalid_field(std::string_view entry_id, std::string_view field,
                           std::string_view problem) {
  const std::string_view shown = field.substr(0, 64);
  return absl::InvalidArgumentError(fmt::format(
      "stream entry {}: field \"{}\"{}: {}", entry_id, shown,
      field.size() > shown.size() ? fmt::format(" ({} bytes)", field.size()) : "", problem));
}

}  // namespace

bool is_extension_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxExtensionName &&
         std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); });
}

std::vector<StreamEntry> parse_entries(const redisReply* entries) {
  std::vector<StreamEntry> parsed;
  parsed.reserve(size_of(entries));
  for (size_t i = 0; i < size_of(entries); ++i) {
    const redisReply* item = element(entries, i);
    StreamEntry entry{.id = text_of(element(item, 0))};
    if (entry.id.empty()) continue;
    const redisReply* fields = element(item, 1);
    entry.deleted = is_nil(fields);
    for (size_t f = 0; f + 1 < size_of(fields); f += 2) {
      entry.fields.emplace_back(text_of(element(fields, f)), text_of(element(fields, f + 1)));
    }
    parsed.push_back(std::move(entry));
  }
  return parsed;
}

std::vector<StreamEntry> parse_read_reply(const redisReply* reply) {
  // [[stream, entries]] for the one stream read.
  return parse_entries(element(element(reply, 0), 1));
}

absl::StatusOr<Event> event_of_entry(const StreamEntry& entry, std::string_view stream,
                                     std::string_view topic) {
  Event event{.id = entry.id,
              .source = std::string(stream),
              .topic = std::string(topic),
              .idempotency_key = entry.id};
  std::set<std::string_view> seen;
  for (const auto& [name, value] : entry.fields) {
    if (!seen.insert(name).second) return invalid_field(entry.id, name, "appears twice");
    if (name == "data") {
      event.data = value;
    } else if (name == "type") {
      event.type = value;
    } else if (name == "subject") {
      event.subject = value;
    } else if (name == "datacontenttype") {
      event.datacontenttype = value;
    } else if (name == "time") {
      std::string error;
      if (!absl::ParseTime(absl::RFC3339_full, value, &event.time, &error)) {
        return invalid_field(entry.id, name, "not an RFC 3339 time: " + error);
      }
    } else if (name == "id" || name == "source" || name == "specversion") {
      return invalid_field(entry.id, name, "reserved (the connector sets it)");
    } else if (!is_extension_name(name)) {
      return invalid_field(entry.id, name, "an extension name is 1..64 of [a-z0-9]");
    } else {
      event.extensions.emplace_back(name, value);
    }
  }
  return event;
}

Fields fields_of_event(const Event& event) {
  Fields fields;
  fields.emplace_back("data", event.data);
  const auto add_if_set = [&fields](std::string_view name, const std::string& value) {
    if (!value.empty()) fields.emplace_back(std::string(name), value);
  };
  add_if_set("type", event.type);
  add_if_set("subject", event.subject);
  add_if_set("datacontenttype", event.datacontenttype);
  if (event.time != absl::InfinitePast()) {
    fields.emplace_back("time",
                        absl::FormatTime(absl::RFC3339_full, event.time, absl::UTCTimeZone()));
  }
  add_if_set("eventid", event.id);
  add_if_set("eventsource", event.source);
  add_if_set("topic", event.topic);
  // An extension named like a field written above would make the entry unreadable (a field
  // given twice); the attribute wins.
  for (const auto& [name, value] : event.extensions) {
    const bool taken = std::any_of(fields.begin(), fields.end(),
                                   [&name](const auto& field) { return field.first == name; });
    if (!taken) fields.emplace_back(name, value);
  }
  return fields;
}

}  // namespace fnhost::redis::detail

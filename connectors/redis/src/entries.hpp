// SPDX-License-Identifier: Apache-2.0
// Internal: stream entries as replies carry them, and the mapping between entries and events.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "fnhost/event.hpp"

struct redisReply;

namespace fnhost::redis::detail {

using Fields = std::vector<std::pair<std::string, std::string>>;

struct StreamEntry {
  std::string id;
  Fields fields;
  // The entry was deleted from the stream while it was pending (its fields come back nil).
  bool deleted = false;
};

// The entries of an XRANGE-shaped array ([[id, [field, value, ...]], ...]).
[[nodiscard]] std::vector<StreamEntry> parse_entries(const redisReply* entries);
// The entries of an XREADGROUP reply for one stream (nil when BLOCK timed out).
[[nodiscard]] std::vector<StreamEntry> parse_read_reply(const redisReply* reply);

// The event for `entry` of `stream`: field `data` is the data; `type`, `subject`,
// `datacontenttype` and `time` (RFC 3339) those attributes; every other field an extension,
// whose name must be 1..64 of [a-z0-9] and not id, source or specversion. `id` and
// `idempotency_key` are the entry id, `source` is the stream name, `topic` is `topic`.
// InvalidArgument naming the field for an entry that breaks these rules (a repeated field too).
[[nodiscard]] absl::StatusOr<Event> event_of_entry(const StreamEntry& entry,
                                                   std::string_view stream, std::string_view topic);

// The fields that store `event` in a stream: `data`, then `type`, `subject`, `datacontenttype`
// and `time` (RFC 3339) when set, `eventid`, `eventsource` and `topic` for its id, source and
// topic when set, then every extension by its own name.
[[nodiscard]] Fields fields_of_event(const Event& event);

// Whether `name` may be an extension attribute: 1..64 of [a-z0-9].
[[nodiscard]] bool is_extension_name(std::string_view name);

}  // namespace fnhost::redis::detail

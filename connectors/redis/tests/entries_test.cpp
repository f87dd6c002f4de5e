// SPDX-License-Identifier: Apache-2.0
// The entry <-> event field mapping (no server needed).
#include "entries.hpp"

#include <catch2/catch.hpp>

#include "testing/host_helpers.hpp"

namespace fnhost::redis::detail {
namespace {

TEST_CASE("an entry becomes an event: data, attributes, extensions, id as idempotency key",
          "[redis][entries]") {
  const StreamEntry entry{.id = "1700000000000-3",
                          .fields = {{"data", "hello"},
                                     {"type", "order.created"},
                                     {"subject", "order/7"},
                                     {"datacontenttype", "text/plain"},
                                     {"time", "2024-01-02T03:04:05Z"},
                                     {"tenant", "acme"}}};
  absl::StatusOr<Event> event = event_of_entry(entry, "orders", "orders/new");
  REQUIRE(event.ok());
  CHECK(event->id == "1700000000000-3");
  CHECK(event->idempotency_key == "1700000000000-3");
  CHECK(event->source == "orders");
  CHECK(event->topic == "orders/new");
  CHECK(event->data == "hello");
  CHECK(event->type == "order.created");
  CHECK(event->subject == "order/7");
  CHECK(event->datacontenttype == "text/plain");
  CHECK(event->time == absl::FromUnixSeconds(1704164645));
  CHECK(event->extension("tenant") == "acme");
  CHECK(event->extensions.size() == 1);
}

TEST_CASE("an entry with a bad field is refused naming the field", "[redis][entries]") {
  const auto refusal = [](Fields fields) {
    return event_of_entry(StreamEntry{.id = "1-1", .fields = std::move(fields)}, "s", "").status();
  };
  for (const char* bad : {"User_Id", "with space", "id", "source", "specversion", ""}) {
    absl::Status status = refusal({{bad, "x"}});
    INFO(bad << " -> " << status.ToString());
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(fnhost::testing::message_contains(status, "1-1"));
  }
  CHECK(refusal({{"a", "1"}, {"a", "2"}}).code() == absl::StatusCode::kInvalidArgument);
  CHECK(fnhost::testing::message_contains(refusal({{"time", "yesterday"}}), "RFC 3339"));
  CHECK(refusal({{std::string(65, 'a'), "x"}}).code() == absl::StatusCode::kInvalidArgument);
  CHECK(refusal({{std::string(64, 'a'), "x"}}).ok());
}

TEST_CASE("an event becomes fields that read back as the same event", "[redis][entries]") {
  const Event original{.id = "e-1",
                       .source = "shop",
                       .type = "order.paid",
                       .time = absl::FromUnixSeconds(1704164645),
                       .extensions = {{"tenant", "acme"}, {"data", "shadowed"}},
                       .topic = "orders/paid",
                       .data = "payload"};
  const Fields fields = fields_of_event(original);
  CHECK(fields.front() == std::pair<std::string, std::string>("data", "payload"));
  absl::StatusOr<Event> back = event_of_entry(StreamEntry{.id = "9-9", .fields = fields}, "s", "");
  REQUIRE(back.ok());
  CHECK(back->data == "payload");
  CHECK(back->type == "order.paid");
  CHECK(back->time == original.time);
  CHECK(back->extension("tenant") == "acme");
  CHECK(back->extension("eventid") == "e-1");
  CHECK(back->extension("eventsource") == "shop");
  CHECK(back->extension("topic") == "orders/paid");
}

}  // namespace
}  // namespace fnhost::redis::detail

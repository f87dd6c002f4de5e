// SPDX-License-Identifier: Apache-2.0
// The rules that decide each PUBACK, without a broker.
#include "inflight_table.hpp"

#include <catch2/catch.hpp>

namespace fnhost::mqtt::detail {
namespace {

using Arrival = InflightTable::Arrival;

TEST_CASE("A settled QoS 1 message owes its PUBACK when connected and a dropped one owes none",
          "[mqtt][inflight]") {
  InflightTable table;
  table.add(1, 10, "t", 7);
  table.add(2, 11, "t", 8);
  table.add(3, 0, "t", 9);  // QoS 0
  CHECK(table.unsettled_owed() == 2);
  CHECK(table.settle(1, /*acknowledge=*/true, /*connected=*/true) == std::optional<uint16_t>(10));
  CHECK(table.settle(2, /*acknowledge=*/false, /*connected=*/true) == std::nullopt);
  CHECK(table.settle(3, true, true) == std::nullopt);
  CHECK(table.size() == 0);
  // Once dropped, the broker's next delivery of packet 11 is a new message.
  CHECK(table.arrive(11, "t", 8) == Arrival::kNew);
}

TEST_CASE("A redelivery of a running message is not new and one settled offline is acked",
          "[mqtt][inflight]") {
  InflightTable table;
  table.add(1, 10, "t", 7);
  CHECK(table.arrive(10, "t", 7) == Arrival::kStillRunning);
  CHECK(table.settle(1, true, /*connected=*/false) == std::nullopt);
  CHECK(table.size() == 1);
  CHECK(table.unsettled_owed() == 0);
  CHECK(table.arrive(10, "t", 7) == Arrival::kAckNow);
  CHECK(table.size() == 0);
}

TEST_CASE("A packet id reused for another message makes the old entry owe nothing",
          "[mqtt][inflight]") {
  InflightTable table;
  table.add(1, 10, "t", 7);
  CHECK(table.arrive(10, "other", 7) == Arrival::kNew);
  table.add(2, 10, "other", 7);
  CHECK(table.settle(1, true, true) == std::nullopt);
  CHECK(table.settle(2, true, true) == std::optional<uint16_t>(10));
}

TEST_CASE("Losing the session voids every PUBACK and entries not redelivered are forgotten",
          "[mqtt][inflight]") {
  InflightTable table;
  table.add(1, 10, "t", 7);
  table.add(2, 11, "t", 8);
  CHECK(table.settle(2, true, false) == std::nullopt);
  table.forget_session();
  CHECK(table.size() == 1);  // the running one, still to settle
  CHECK(table.unsettled_owed() == 0);
  CHECK(table.settle(1, true, true) == std::nullopt);

  InflightTable resumed;
  resumed.add(1, 10, "t", 7);
  CHECK(resumed.settle(1, true, false) == std::nullopt);
  resumed.forget_unredelivered();
  CHECK(resumed.size() == 0);
}

}  // namespace
}  // namespace fnhost::mqtt::detail

// SPDX-License-Identifier: Apache-2.0
// Internal: the thread that reads entries (own pending first, then new ones, and what
// XAUTOCLAIM reclaims), turns them into events and offers them to the host, never holding more
// than max_in_flight; and reconnects with backoff when the connection is lost.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "connection.hpp"
#include "entries.hpp"
#include "flow.hpp"
#include "fnhost/host.hpp"
#include "fnhost/redis/stream_trigger.hpp"

namespace fnhost::redis::detail {

// Creates the group unless it exists (BUSYGROUP is fine). FailedPrecondition or Unavailable.
[[nodiscard]] absl::Status ensure_group(Connection& connection,
                                        const StreamTriggerOptions& options);

class Reader {
 public:
  // `connection` is connected (start() made it, to report a bad server at once).
  Reader(Host& host, const StreamTriggerOptions& options, std::shared_ptr<Flow> flow,
         std::unique_ptr<Connection> connection);

  // Runs until the flow's stop_reading is set. Entries it holds (refused for now, not yet
  // offered again) are then left pending and released.
  void run();

 private:
  using SteadyTime = std::chrono::steady_clock::time_point;

  // One round: offer held entries, or reclaim, or read. Unavailable/FailedPrecondition when a
  // command failed (the caller backs off and reconnects).
  absl::Status step();
  absl::Status read_own_pending(int64_t free_slots);
  absl::Status read_new(int64_t free_slots);
  absl::Status reclaim(int64_t free_slots);
  // Admits and offers entries just received.
  void take(std::vector<StreamEntry> entries, bool redelivered);
  // Offers one admitted event to the host; false when refused for now (it is then held).
  bool offer(const Event& event);
  // Offers held entries in order while the host takes them.
  void offer_held();
  // Waits until `until`, an entry leaves flight (true), or stop.
  bool wait_for_room(SteadyTime until);
  // After a failure: back off (cut short by stop), reconnect, re-create the group if asked,
  // and read own pending entries again. False once stopping.
  bool recover();
  [[nodiscard]] bool stopping();
  [[nodiscard]] int64_t free_slots();

  Host& host_;
  const StreamTriggerOptions& options_;
  std::shared_ptr<Flow> flow_;
  std::unique_ptr<Connection> connection_;
  // Where reading this consumer's own pending entries (XREADGROUP from an id) has got to;
  // empty once they are all read and new entries (">") are read instead.
  std::string own_pending_cursor_ = "0";
  std::string claim_cursor_ = "0-0";
  SteadyTime next_claim_;
  // Events the host refused for now (ResourceExhausted, Unavailable, NotFound), in read order.
  std::deque<Event> held_;
  SteadyTime next_offer_;
  std::chrono::milliseconds offer_backoff_{1};
  absl::Duration reconnect_backoff_;
};

}  // namespace fnhost::redis::detail

// SPDX-License-Identifier: Apache-2.0
// Internal: the thread that acknowledges settled entries (XACK), sending dead-lettered ones to
// the dead-letter stream first, and reconnects with backoff when the connection is lost.
#pragma once

#include <memory>
#include <vector>

#include "connection.hpp"
#include "flow.hpp"
#include "fnhost/redis/stream_trigger.hpp"

namespace fnhost::redis::detail {

class Acknowledger {
 public:
  Acknowledger(const StreamTriggerOptions& options, std::shared_ptr<Flow> flow);

  // Runs until the flow's stop_acking is set and the settled entries got their last try.
  void run();

 private:
  // Acknowledges `batch`; false (the batch untouched) when the connection failed.
  bool acknowledge(const std::vector<SettledEntry>& batch);
  // Waits the reconnect backoff (cut short by stop_acking); false once stopping.
  bool back_off();

  const StreamTriggerOptions& options_;
  std::shared_ptr<Flow> flow_;
  Connection connection_;
  absl::Duration backoff_;
  // The first connection is made lazily, at the first acknowledgement: not a reconnect.
  bool connected_before_ = false;
};

}  // namespace fnhost::redis::detail

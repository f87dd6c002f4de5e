// SPDX-License-Identifier: Apache-2.0
// Acknowledger: batches of settled entries become one pipelined round trip — one XACK for the
// successes, and a MULTI/XADD/XACK/EXEC per dead-lettered entry so its dead-letter record and
// its acknowledgement happen together or not at all.
#include "acknowledger.hpp"

#include <hiredis/hiredis.h>

#include <chrono>
#include <string>
#include <utility>

#include "absl/time/clock.h"

namespace fnhost::redis::detail {
namespace {

Command dead_letter_record(const StreamTriggerOptions& options, const SettledEntry& entry,
                           const Fields& fields) {
  Command xadd = {"XADD", options.dead_letter_stream, "*"};
  for (const auto& [name, value] : fields) {
    xadd.push_back(name);
    xadd.push_back(value);
  }
  const std::string code = std::to_string(static_cast<int>(entry.error_code));
  for (const std::string& word :
       {std::string("error"), entry.error_message, std::string("errorcode"), code,
        std::string("attempts"), std::to_string(entry.attempts), std::string("sourcestream"),
        options.stream, std::string("sourceid"), entry.id, std::string("group"), options.group}) {
    xadd.push_back(word);
  }
  return xadd;
}

bool has_error_element(const redisReply* reply) {
  for (size_t i = 0; i < size_of(reply); ++i) {
    if (element(reply, i)->type == REDIS_REPLY_ERROR) return true;
  }
  return false;
}

}  // namespace

Acknowledger::Acknowledger(const StreamTriggerOptions& options, std::shared_ptr<Flow> flow)
    : options_(options),
      flow_(std::move(flow)),
      connection_(options.server),
      backoff_(options.reconnect_backoff_initial) {}

void Acknowledger::run() {
  for (;;) {
    std::vector<SettledEntry> batch;
    bool last_try = false;
    {
      MutexLock lock(flow_->mu);
      while (flow_->settled.empty() && !flow_->stop_acking) flow_->settled_changed.wait(flow_->mu);
      last_try = flow_->stop_acking;
      batch.assign(std::make_move_iterator(flow_->settled.begin()),
                   std::make_move_iterator(flow_->settled.end()));
      flow_->settled.clear();
    }
    if (batch.empty()) return;  // stopping with nothing left
    while (!acknowledge(batch)) {
      if (last_try || !back_off()) {
        // Not acknowledged: the entries stay pending in the group, for a consumer to reclaim.
        std::vector<std::string> ids;
        for (const SettledEntry& entry : batch) ids.push_back(entry.id);
        flow_->counters.left_pending.fetch_add(static_cast<int64_t>(ids.size()),
                                               std::memory_order_relaxed);
        flow_->release(ids);
        if (last_try) return;
        break;
      }
    }
  }
}

bool Acknowledger::acknowledge(const std::vector<SettledEntry>& batch) {
  if (!connection_.is_connected()) {
    if (absl::Status connected = connection_.ensure_connected(); !connected.ok()) {
      flow_->counters.errors.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (connected_before_) flow_->counters.reconnects.fetch_add(1, std::memory_order_relaxed);
    connected_before_ = true;
  }
  Command ack_succeeded = {"XACK", options_.stream, options_.group};
  std::vector<Command> commands;
  std::vector<std::string> released;
  int64_t succeeded = 0;
  int64_t dead_lettered = 0;
  int64_t left = 0;
  {
    MutexLock lock(flow_->mu);
    for (const SettledEntry& entry : batch) {
      released.push_back(entry.id);
      switch (entry.outcome) {
        case Settlement::kSucceeded:
          ack_succeeded.push_back(entry.id);
          ++succeeded;
          break;
        case Settlement::kDeadLettered: {
          ++dead_lettered;
          if (options_.dead_letter_stream.empty()) {
            ack_succeeded.push_back(entry.id);
            break;
          }
          const auto found = flow_->in_flight.find(entry.id);
          commands.push_back({"MULTI"});
          commands.push_back(dead_letter_record(
              options_, entry, found != flow_->in_flight.end() ? found->second : Fields{}));
          commands.push_back({"XACK", options_.stream, options_.group, entry.id});
          commands.push_back({"EXEC"});
          break;
        }
        case Settlement::kDropped:
          // The host let go of it (shutting down): leave it pending for another consumer.
          ++left;
          break;
      }
    }
  }
  if (ack_succeeded.size() > 3) commands.push_back(std::move(ack_succeeded));
  if (!commands.empty()) {
    absl::StatusOr<std::vector<Reply>> replies = connection_.run_all(commands);
    if (!replies.ok()) {
      flow_->counters.errors.fetch_add(1, std::memory_order_relaxed);
      if (replies.status().code() == absl::StatusCode::kUnavailable) return false;
      // The server refused a command (the group was deleted, the dead-letter key holds another
      // type): retrying cannot help; what it did not acknowledge stays pending.
      left += succeeded + dead_lettered;
      succeeded = 0;
      dead_lettered = 0;
    } else {
      for (const Reply& reply : *replies) {
        if (has_error_element(reply.get())) {
          flow_->counters.errors.fetch_add(1, std::memory_order_relaxed);
        }
      }
    }
  }
  backoff_ = options_.reconnect_backoff_initial;
  Counters& counters = flow_->counters;
  counters.succeeded.fetch_add(succeeded, std::memory_order_relaxed);
  counters.dead_lettered.fetch_add(dead_lettered, std::memory_order_relaxed);
  counters.acked.fetch_add(succeeded + dead_lettered, std::memory_order_relaxed);
  counters.left_pending.fetch_add(left, std::memory_order_relaxed);
  flow_->release(released);
  return true;
}

bool Acknowledger::back_off() {
  const auto until = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(backoff_);
  backoff_ = std::min(backoff_ * 2, options_.reconnect_backoff_max);
  MutexLock lock(flow_->mu);
  while (!flow_->stop_acking) {
    if (!flow_->settled_changed.wait_until(flow_->mu, until)) break;
  }
  return !flow_->stop_acking;
}

}  // namespace fnhost::redis::detail

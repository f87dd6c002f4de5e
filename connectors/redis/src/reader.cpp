// SPDX-License-Identifier: Apache-2.0
// Reader: the loop that keeps up to max_in_flight entries with the host.
#include "reader.hpp"

#include <pthread.h>

#include <algorithm>
#include <utility>

#include "fmt/format.h"

namespace fnhost::redis::detail {
namespace {

constexpr std::chrono::milliseconds kMaxOfferBackoff{100};

SettledCallback settle_into(std::shared_ptr<Flow> flow, std::string id) {
  return [flow = std::move(flow), id = std::move(id)](const SettledEvent& settled) mutable {
    const absl::string_view message = settled.error.message();
    flow->settle({.id = std::move(id),
                  .outcome = settled.outcome,
                  .error_code = settled.error.code(),
                  .error_message = std::string(message.data(), message.size()),
                  .attempts = settled.attempts});
  };
}

// A refusal worth offering again later: the function's queue is full, the host is shutting
// down (stop() will leave the entry pending), or the function is being replaced.
bool is_temporary(absl::StatusCode code) {
  return code == absl::StatusCode::kResourceExhausted || code == absl::StatusCode::kUnavailable ||
         code == absl::StatusCode::kNotFound;
}

std::string milliseconds_of(absl::Duration duration) {
  return std::to_string(std::max<int64_t>(1, absl::ToInt64Milliseconds(duration)));
}

}  // namespace

absl::Status ensure_group(Connection& connection, const StreamTriggerOptions& options) {
  absl::StatusOr<Reply> created = connection.run(
      {"XGROUP", "CREATE", options.stream, options.group, options.group_start_id, "MKSTREAM"});
  if (created.ok()) return absl::OkStatus();
  const absl::string_view message = created.status().message();
  if (message.substr(0, 9) == "BUSYGROUP") return absl::OkStatus();
  return created.status();
}

Reader::Reader(Host& host, const StreamTriggerOptions& options, std::shared_ptr<Flow> flow,
               std::unique_ptr<Connection> connection)
    : host_(host),
      options_(options),
      flow_(std::move(flow)),
      connection_(std::move(connection)),
      next_claim_(std::chrono::steady_clock::now()),
      next_offer_(std::chrono::steady_clock::now()),
      reconnect_backoff_(options.reconnect_backoff_initial) {}

void Reader::run() {
  pthread_setname_np(pthread_self(), "fnhost-redis-r");
  while (!stopping()) {
    if (absl::Status status = step(); !status.ok()) {
      flow_->counters.errors.fetch_add(1, std::memory_order_relaxed);
      if (!recover()) break;
    }
  }
  // Held entries were never accepted by the host: they stay pending for a consumer to reclaim.
  std::vector<std::string> left;
  for (const Event& event : held_) left.push_back(event.id);
  held_.clear();
  flow_->counters.left_pending.fetch_add(static_cast<int64_t>(left.size()),
                                         std::memory_order_relaxed);
  flow_->release(left);
  flow_->reading.store(false, std::memory_order_release);
}

bool Reader::stopping() {
  MutexLock lock(flow_->mu);
  return flow_->stop_reading;
}

int64_t Reader::free_slots() {
  return std::max<int64_t>(0, options_.max_in_flight - flow_->in_flight_count());
}

absl::Status Reader::step() {
  offer_held();
  if (!held_.empty()) {
    // A settlement may have made room in the function's queue: offer again at once.
    if (wait_for_room(next_offer_)) next_offer_ = std::chrono::steady_clock::now();
    return absl::OkStatus();
  }
  int64_t free = free_slots();
  if (free == 0) {
    wait_for_room(std::chrono::steady_clock::now() + std::chrono::seconds(1));
    return absl::OkStatus();
  }
  if (!own_pending_cursor_.empty()) return read_own_pending(free);
  if (options_.claim_idle > absl::ZeroDuration() &&
      std::chrono::steady_clock::now() >= next_claim_) {
    if (absl::Status reclaimed = reclaim(free); !reclaimed.ok()) return reclaimed;
    free = free_slots();
    if (free == 0 || !held_.empty()) return absl::OkStatus();
  }
  return read_new(free);
}

absl::Status Reader::read_own_pending(int64_t free_slots) {
  absl::StatusOr<Reply> reply = connection_->run(
      {"XREADGROUP", "GROUP", options_.group, options_.consumer, "COUNT",
       std::to_string(free_slots), "STREAMS", options_.stream, own_pending_cursor_});
  if (!reply.ok()) return reply.status();
  std::vector<StreamEntry> entries = parse_read_reply(reply->get());
  if (entries.empty()) {
    own_pending_cursor_.clear();  // all read: from now on, new entries
    return absl::OkStatus();
  }
  own_pending_cursor_ = entries.back().id;
  // Deleted from the stream while pending: nothing to process, only the pending record to drop.
  Command ack_deleted = {"XACK", options_.stream, options_.group};
  for (const StreamEntry& entry : entries) {
    if (entry.deleted) ack_deleted.push_back(entry.id);
  }
  if (ack_deleted.size() > 3) {
    if (absl::StatusOr<Reply> acked = connection_->run(ack_deleted); !acked.ok()) {
      return acked.status();
    }
  }
  take(std::move(entries), /*redelivered=*/true);
  return absl::OkStatus();
}

absl::Status Reader::read_new(int64_t free_slots) {
  absl::StatusOr<Reply> reply =
      connection_->run({"XREADGROUP", "GROUP", options_.group, options_.consumer, "COUNT",
                        std::to_string(free_slots), "BLOCK", milliseconds_of(options_.read_block),
                        "STREAMS", options_.stream, ">"});
  if (!reply.ok()) return reply.status();
  take(parse_read_reply(reply->get()), /*redelivered=*/false);
  return absl::OkStatus();
}

absl::Status Reader::reclaim(int64_t free_slots) {
  absl::StatusOr<Reply> reply = connection_->run(
      {"XAUTOCLAIM", options_.stream, options_.group, options_.consumer,
       milliseconds_of(options_.claim_idle), claim_cursor_, "COUNT", std::to_string(free_slots)});
  if (!reply.ok()) return reply.status();
  // [next cursor, entries, ids of pending entries deleted from the stream (Redis drops those)].
  std::string cursor = text_of(element(reply->get(), 0));
  claim_cursor_ = cursor.empty() ? "0-0" : cursor;
  const auto now = std::chrono::steady_clock::now();
  // A full scan ends with cursor 0-0; then wait an interval. Otherwise continue next round.
  next_claim_ =
      claim_cursor_ == "0-0" ? now + absl::ToChronoNanoseconds(options_.claim_interval) : now;
  std::vector<StreamEntry> entries = parse_entries(element(reply->get(), 1));
  const int64_t before = flow_->counters.read.load(std::memory_order_relaxed);
  take(std::move(entries), /*redelivered=*/true);
  flow_->counters.reclaimed.fetch_add(flow_->counters.read.load(std::memory_order_relaxed) - before,
                                      std::memory_order_relaxed);
  return absl::OkStatus();
}

void Reader::take(std::vector<StreamEntry> entries, bool redelivered) {
  Counters& counters = flow_->counters;
  for (StreamEntry& entry : entries) {
    if (entry.deleted) continue;
    // The fields are kept only to copy them to the dead-letter stream.
    Fields kept = options_.dead_letter_stream.empty() ? Fields{} : entry.fields;
    if (!flow_->admit(entry.id, std::move(kept))) continue;  // already working on it
    counters.read.fetch_add(1, std::memory_order_relaxed);
    if (redelivered) counters.redelivered.fetch_add(1, std::memory_order_relaxed);
    absl::StatusOr<Event> event = event_of_entry(entry, options_.stream, options_.topic);
    if (!event.ok()) {
      counters.invalid.fetch_add(1, std::memory_order_relaxed);
      const absl::string_view message = event.status().message();
      flow_->settle({.id = entry.id,
                     .outcome = Settlement::kDeadLettered,
                     .error_code = event.status().code(),
                     .error_message = std::string(message.data(), message.size())});
      continue;
    }
    // Keep read order: once something is held, later entries wait behind it.
    if (!held_.empty() || !offer(*event)) held_.push_back(*std::move(event));
  }
}

bool Reader::offer(const Event& event) {
  SettledCallback on_settled = settle_into(flow_, event.id);
  const absl::Status offered =
      options_.function.empty()
          ? host_.publish(event, std::move(on_settled))
          : host_.invoke_async(options_.function, event, std::move(on_settled));
  if (offered.ok()) {
    offer_backoff_ = std::chrono::milliseconds(1);
    return true;
  }
  if (is_temporary(offered.code())) {
    flow_->counters.refused.fetch_add(1, std::memory_order_relaxed);
    next_offer_ = std::chrono::steady_clock::now() + offer_backoff_;
    offer_backoff_ = std::min(offer_backoff_ * 2, kMaxOfferBackoff);
    return false;
  }
  // Refused for good (too large, not permitted, chained too deep): it can never run.
  const absl::string_view message = offered.message();
  flow_->settle({.id = event.id,
                 .outcome = Settlement::kDeadLettered,
                 .error_code = offered.code(),
                 .error_message = std::string(message.data(), message.size())});
  return true;
}

void Reader::offer_held() {
  while (!held_.empty() && std::chrono::steady_clock::now() >= next_offer_) {
    if (!offer(held_.front())) return;
    held_.pop_front();
  }
}

bool Reader::wait_for_room(SteadyTime until) {
  MutexLock lock(flow_->mu);
  if (flow_->stop_reading) return false;
  return flow_->in_flight_changed.wait_until(flow_->mu, until);
}

bool Reader::recover() {
  connection_->close();
  for (;;) {
    const auto until =
        std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(reconnect_backoff_);
    reconnect_backoff_ = std::min(reconnect_backoff_ * 2, options_.reconnect_backoff_max);
    {
      MutexLock lock(flow_->mu);
      while (!flow_->stop_reading && flow_->in_flight_changed.wait_until(flow_->mu, until)) {
      }
      if (flow_->stop_reading) return false;
    }
    absl::Status ready = connection_->ensure_connected();
    if (ready.ok() && options_.create_group) ready = ensure_group(*connection_, options_);
    if (ready.ok()) break;
    flow_->counters.errors.fetch_add(1, std::memory_order_relaxed);
    connection_->close();
  }
  flow_->counters.reconnects.fetch_add(1, std::memory_order_relaxed);
  reconnect_backoff_ = options_.reconnect_backoff_initial;
  // A read whose reply was lost delivered entries to this consumer: read them back.
  own_pending_cursor_ = "0";
  return true;
}

}  // namespace fnhost::redis::detail

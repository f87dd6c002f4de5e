// SPDX-License-Identifier: Apache-2.0
// The registry: functions by name, their versions, and their counters. Lookups on the hot path
// (admission) are lock-free (FunctionTable::find); changes hold registration_mu_ and never run
// user code under it (provisioned instances are initialised before it is taken, and retired
// versions are deleted after it is released).
#include <algorithm>
#include <memory>
#include <utility>

#include "common/status_macros.hpp"
#include "fmt/format.h"
#include "host/host_core.hpp"
#include "host/messages.hpp"
#include "observability/redaction.hpp"
#include "platform/deadline.hpp"

namespace fnhost {

using detail::FunctionSlot;
using detail::FunctionVersion;
using detail::MutexLock;

const FunctionVersion* HostCore::publish(FunctionSlot& slot,
                                         std::unique_ptr<FunctionVersion> version,
                                         int64_t provisioned) {
  version->slot = &slot;
  slot.live_instances.fetch_add(provisioned, std::memory_order_relaxed);
  slot.max_concurrency.store(version->spec.max_concurrency);
  slot.max_queued.store(version->spec.max_queued);
  slot.rate_gate.configure(version->spec.rate_limit);
  slot.set_retry_policy(version->spec.retry);
  slot.set_secrets(detail::secret_values(version->spec));
  slot.idempotency_window_ns.store(detail::saturated_ns(version->spec.idempotency_window));
  version->max_event_age_ns = detail::saturated_ns(version->spec.retry.max_event_age);
  version->has_destination = !version->spec.on_success.empty() || !version->spec.on_failure.empty();
  const int64_t number = version->number;
  // A registration after remove_function takes the name back: admissions count again.
  slot.state.fetch_and(~FunctionSlot::kRemoved);
  const FunctionVersion* replaced = ring_.swap_latest(slot, version.release());
  slot.live_version.store(number);
  // A higher concurrency limit may let queued invocations start now.
  schedule(slot);
  if (replaced == nullptr) return nullptr;
  return replaced->retire() ? replaced : nullptr;
}

absl::StatusOr<const detail::Principal*> HostCore::identity_for(const FunctionSpec& spec,
                                                                const detail::Principal* owner) {
  if (spec.identity.empty()) return owner;
  // Through a Caller, a function may only run as its owner: naming another principal would let
  // a caller borrow rights it does not have.
  if (owner != nullptr && spec.identity != owner->name) {
    return absl::PermissionDeniedError(fmt::format(
        "function {}: principal {} may not give it identity {}; leave identity empty or name "
        "the principal itself",
        detail::quoted(spec.name), detail::quoted(owner->name), detail::quoted(spec.identity)));
  }
  absl::StatusOr<detail::Principal*> identity = principals_.intern(spec.identity);
  if (!identity.ok()) return identity.status();
  return *identity;
}

absl::Status HostCore::register_function(FunctionSpec spec, const detail::Principal* owner) {
  FNHOST_RETURN_IF_ERROR(validate_function_spec(spec));
  absl::StatusOr<const detail::Principal*> identity = identity_for(spec, owner);
  if (!identity.ok()) return identity.status();
  if (!accepting_.load()) return detail::unavailable_after_shutdown("register_function");
  const auto already_exists = [&] {
    return absl::AlreadyExistsError(
        fmt::format("function {} is already registered; use update_function to replace it",
                    detail::quoted(spec.name)));
  };
  if (has_function(spec.name)) return already_exists();
  auto version = std::make_unique<FunctionVersion>();
  const int wanted = spec.min_instances;
  version->spec = std::move(spec);
  version->number = 1;
  version->identity = *identity;
  // Provisioned instances run user code (init): outside every lock.
  int64_t provisioned = 0;
  FNHOST_RETURN_IF_ERROR(provision(*version, wanted, &provisioned));

  const FunctionVersion* replaced = nullptr;
  {
    MutexLock lock(registration_mu_);
    // Re-checked under the lock: shutdown closes every slot under it, so a slot made after
    // that would accept invocations nobody drains.
    if (!accepting_.load()) return detail::unavailable_after_shutdown("register_function");
    FunctionSlot* slot = table_.find(version->spec.name);
    if (slot != nullptr && slot->live_version.load() != 0) return already_exists();
    if (slot == nullptr) {
      auto fresh = std::make_unique<FunctionSlot>();
      fresh->name = version->spec.name;
      fresh->index = static_cast<int>(table_.slots().size());
      fresh->host = this;
      slot = table_.insert(std::move(fresh));
    }
    // A removed name registered again starts over at version 1 (its counters carry on).
    slot->version_numbers.store(version->number);
    replaced = publish(*slot, std::move(version), provisioned);
  }
  delete replaced;
  return absl::OkStatus();
}

absl::Status HostCore::update_function(FunctionSpec spec, const detail::Principal* owner) {
  FNHOST_RETURN_IF_ERROR(validate_function_spec(spec));
  absl::StatusOr<const detail::Principal*> identity = identity_for(spec, owner);
  if (!identity.ok()) return identity.status();
  if (!accepting_.load()) return detail::unavailable_after_shutdown("update_function");
  const auto not_found = [&] {
    return absl::NotFoundError(
        fmt::format("function {} is not registered; use register_function to add it",
                    detail::quoted(spec.name)));
  };
  FunctionSlot* slot = table_.find(spec.name);
  if (slot == nullptr || slot->live_version.load() == 0) return not_found();
  auto version = std::make_unique<FunctionVersion>();
  const int wanted = spec.min_instances;
  version->spec = std::move(spec);
  version->identity = *identity;
  // The number is taken once, before init runs, so init sees the number it is published under.
  version->number = slot->version_numbers.fetch_add(1) + 1;
  int64_t provisioned = 0;
  FNHOST_RETURN_IF_ERROR(provision(*version, wanted, &provisioned));

  std::unique_ptr<FunctionVersion> superseded;
  const FunctionVersion* replaced = nullptr;
  {
    MutexLock lock(registration_mu_);
    if (!accepting_.load()) return detail::unavailable_after_shutdown("update_function");
    if (slot->live_version.load() == 0) return not_found();
    if (version->number < slot->live_version.load()) {
      // A concurrent update that took a later number published first: this one counts as
      // published and at once replaced by it (no invocation could have started in between).
      superseded = std::move(version);
    } else {
      replaced = publish(*slot, std::move(version), provisioned);
    }
  }
  delete replaced;
  // Its provisioned instances never counted in the slot; their destructors run here.
  return absl::OkStatus();
}

const FunctionVersion* HostCore::release_removed(FunctionSlot& slot) {
  const uint64_t word = slot.state.load();
  // kRemoved stops admissions, so once the queue is empty it stays empty until a new
  // registration (which needs this lock) clears the flag.
  if (!FunctionSlot::is_removed(word) || FunctionSlot::queued_of(word) != 0) return nullptr;
  const FunctionVersion* last = ring_.swap_latest(slot, nullptr);
  if (last == nullptr) return nullptr;
  return last->retire() ? last : nullptr;
}

void HostCore::release_if_removed(FunctionSlot& slot) {
  if (!FunctionSlot::is_removed(slot.state.load())) return;
  const FunctionVersion* released = nullptr;
  {
    MutexLock lock(registration_mu_);
    released = release_removed(slot);
  }
  delete released;
}

absl::Status HostCore::remove_function(std::string_view name) {
  const FunctionVersion* released = nullptr;
  {
    MutexLock lock(registration_mu_);
    FunctionSlot* slot = table_.find(name);
    if (slot == nullptr || slot->live_version.load() == 0) return detail::not_registered(name);
    slot->live_version.store(0);
    slot->state.fetch_or(FunctionSlot::kRemoved);
    // With nothing queued the last version goes now (its idle instances with it; running
    // invocations keep it pinned until they end); otherwise when the queue empties.
    released = release_removed(*slot);
  }
  delete released;
  return absl::OkStatus();
}

bool HostCore::has_function(std::string_view name) const {
  const FunctionSlot* slot = table_.find(name);
  return slot != nullptr && slot->live_version.load() != 0;
}

std::vector<std::string> HostCore::function_names() const {
  std::vector<std::string> names;
  {
    MutexLock lock(registration_mu_);
    for (const auto& slot : table_.slots()) {
      if (slot->live_version.load() != 0) names.push_back(slot->name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<FunctionSlot*> HostCore::all_slots() const {
  std::vector<FunctionSlot*> slots;
  MutexLock lock(registration_mu_);
  for (const auto& slot : table_.slots()) slots.push_back(slot.get());
  return slots;
}

absl::StatusOr<FunctionStats> HostCore::function_stats(std::string_view name) const {
  const FunctionSlot* slot = table_.find(name);
  const int64_t version = slot != nullptr ? slot->live_version.load() : 0;
  if (version == 0) return detail::not_registered(name);
  const auto relaxed = [](const std::atomic<int64_t>& counter) {
    return counter.load(std::memory_order_relaxed);
  };
  const auto summary = [](const detail::DurationHistogram& histogram) {
    static const std::vector<int64_t> bounds_ns = [] {
      std::vector<int64_t> bounds;
      for (const absl::Duration bound : kDurationBucketBounds) {
        bounds.push_back(absl::ToInt64Nanoseconds(bound));
      }
      bounds.push_back(detail::HistogramSnapshot::kNoUpperBound);
      return bounds;
    }();
    const detail::HistogramSnapshot snapshot = histogram.snapshot();
    const detail::HistogramSummary raw = snapshot.summary();
    return DurationSummary{.count = raw.count,
                           .p50 = absl::Nanoseconds(raw.p50),
                           .p90 = absl::Nanoseconds(raw.p90),
                           .p99 = absl::Nanoseconds(raw.p99),
                           .max = absl::Nanoseconds(raw.max),
                           .sum = absl::Nanoseconds(snapshot.sum()),
                           .buckets = snapshot.cumulative_at(bounds_ns)};
  };
  FunctionStats stats;
  stats.name = slot->name;
  stats.version = version;
  // Read before what they are derived from, so a racing reader never sees more ended than
  // accepted.
  stats.events_succeeded = relaxed(slot->events_succeeded);
  stats.events_dead_lettered = relaxed(slot->events_dead_lettered);
  // Likewise what is subtracted from the invocations before them (admission counts the
  // invocation first).
  const int64_t sync_invocations = slot->sync_invocations.load(std::memory_order_acquire);
  const int64_t readmissions = slot->readmissions.load(std::memory_order_acquire);
  stats.invocations = relaxed(slot->invocations);
  stats.successes = relaxed(slot->sync_successes) + stats.events_succeeded;
  stats.errors = relaxed(slot->errors);
  stats.throttles = relaxed(slot->throttles);
  stats.timeouts = relaxed(slot->timeouts);
  stats.cold_starts = relaxed(slot->cold_starts);
  stats.late_results = relaxed(slot->late_results);
  stats.validation_failures = relaxed(slot->validation_failures);
  stats.rate_limited = relaxed(slot->rate_limited);
  stats.dropped = relaxed(slot->dropped);
  const uint64_t word = slot->state.load(std::memory_order_relaxed);
  stats.in_flight = FunctionSlot::running_of(word);
  stats.queued = FunctionSlot::queued_of(word);
  if (stats.queued > 0) {
    stats.oldest_queued_age =
        absl::Nanoseconds(std::max<int64_t>(0, coarse_now_ns() - relaxed(slot->head_accepted_ns)));
  }
  stats.instances = relaxed(slot->live_instances);
  stats.events_accepted =
      stats.invocations - sync_invocations - readmissions + relaxed(slot->accepted_waiting);
  stats.events_pending = std::max<int64_t>(
      0, stats.events_accepted - stats.events_succeeded - stats.events_dead_lettered);
  stats.retries = relaxed(slot->retries);
  stats.throttle_requeues = relaxed(slot->throttle_requeues);
  stats.duplicates = relaxed(slot->duplicates);
  stats.dead_letters_lost = relaxed(slot->dead_letters_lost);
  stats.destination_errors = relaxed(slot->destination_errors);
  stats.redriven = relaxed(slot->redriven);
  stats.duration = summary(slot->duration);
  stats.init_duration = summary(slot->init_duration);
  return stats;
}

HostMetrics HostCore::metrics() const {
  HostMetrics metrics;
  metrics.time = wall_now();
  std::vector<std::string> names = function_names();
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    // Removed since the names were read: it is simply not in this snapshot.
    absl::StatusOr<FunctionStats> stats = function_stats(name);
    if (stats.ok()) metrics.functions.push_back(*std::move(stats));
  }
  metrics.executor = executor->stats();
  metrics.router = router_stats();
  metrics.triggers = triggers();
  metrics.schedules = schedules();
  metrics.telemetry = telemetry_stats();
  metrics.limits = limit_stats();
  metrics.access = access_stats();
  return metrics;
}

}  // namespace fnhost

// SPDX-License-Identifier: Apache-2.0
// Schedules: functions invoked by the clock. Each schedule is a timer of the host's timer
// service, armed at the steady time matching its next fire time. The timer thread (or a
// ManualClock's advance()) only pins the schedule and hands the fire to the executor; there the
// fire builds its event, queues the invocation (unless the previous run has not ended and
// overlap is kSkip) and re-arms for the first fire time after both this one and now — so after
// a stall it fires once and counts what it passed over as missed.
#include "routing/schedules.hpp"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "host/host_core.hpp"
#include "host/messages.hpp"

namespace fnhost {

using detail::FunctionSlot;
using detail::MutexLock;
using detail::quoted;
using detail::Schedule;

namespace {

// After a stall, cron fire times passed over are counted one by one, at most this many per
// fire (a rate's are computed at once).
constexpr int64_t kMaxCountedMisses = 100'000;

// The fire times of `expression` in (fire_time, now]: the ones one fire stands in for.
int64_t count_missed(const ScheduleExpression& expression, absl::Time start, absl::Time fire_time,
                     absl::Time now) {
  if (now <= fire_time) return 0;
  if (expression.is_rate()) return (now - fire_time) / expression.period();
  int64_t missed = 0;
  for (absl::Time at = expression.next_fire(fire_time, start);
       at <= now && missed < kMaxCountedMisses; at = expression.next_fire(at, start)) {
    ++missed;
  }
  return missed;
}

// A schedule reference held by a fire on its way through the executor; released even if the
// executor destroys the task without running it.
class SchedulePin {
 public:
  explicit SchedulePin(Schedule* schedule) : schedule_(schedule) {}
  SchedulePin(SchedulePin&& other) noexcept : schedule_(std::exchange(other.schedule_, nullptr)) {}
  SchedulePin& operator=(SchedulePin&&) = delete;
  SchedulePin(const SchedulePin&) = delete;
  SchedulePin& operator=(const SchedulePin&) = delete;
  ~SchedulePin() {
    if (schedule_ != nullptr) schedule_->release();
  }
  Schedule& operator*() const { return *schedule_; }

 private:
  Schedule* schedule_;
};

}  // namespace

absl::StatusOr<TriggerId> HostCore::schedule(ScheduleSpec spec, const detail::Principal* owner) {
  if (!accepting_.load()) return detail::unavailable_after_shutdown("schedule");
  absl::StatusOr<ScheduleExpression> expression = ScheduleExpression::parse(spec.expression);
  if (!expression.ok()) {
    return absl::InvalidArgumentError(fmt::format("ScheduleSpec for function {}: {}",
                                                  quoted(spec.function),
                                                  detail::std_view(expression.status().message())));
  }
  if (spec.function.empty()) {
    return absl::InvalidArgumentError("ScheduleSpec: function must name a registered function");
  }
  absl::StatusOr<FunctionSlot*> found = registered_slot(spec.function);
  if (!found.ok()) return found.status();
  FunctionSlot* slot = *found;
  const absl::Time start = wall_now();
  auto created = std::make_unique<Schedule>(router_.allocate_id(), *std::move(expression),
                                            std::move(spec.function), slot, std::move(spec.event),
                                            spec.overlap, start, this);
  created->principal = owner;
  created->on_due = &HostCore::on_schedule_due;
  created->on_taken = &HostCore::on_schedule_taken;
  created->next_fire = created->expression.next_fire(start, start);
  created->shown_next_fire = created->next_fire;
  const TriggerId id = created->id;
  MutexLock lock(schedules_mu_);
  if (schedules_stopped_) return detail::unavailable_after_shutdown("schedule");
  if (schedules_.size() >= detail::Router::kMaxTriggers) {
    return absl::ResourceExhaustedError(fmt::format(
        "a host holds at most {} schedules; remove some first", detail::Router::kMaxTriggers));
  }
  Schedule* schedule = created.release();
  schedules_.emplace(id, schedule);
  arm_schedule(*schedule);
  return id;
}

void HostCore::arm_schedule(Schedule& schedule) {
  if (schedule.next_fire == absl::InfiniteFuture()) return;
  int64_t due_ns = 0;
  if (manual_clock_ != nullptr) {
    // Exact: the manual clock's steady and wall readings move together.
    due_ns = detail::ManualClockAccess::steady_ns_at(*manual_clock_, schedule.next_fire);
  } else {
    const absl::Duration until = std::max(schedule.next_fire - absl::Now(), absl::ZeroDuration());
    due_ns = detail::platform::now_ns() + absl::ToInt64Nanoseconds(until);
  }
  schedule.long_lived = true;
  timers_.schedule(&schedule, due_ns);
}

void HostCore::on_schedule_taken(detail::TimerNode* node) {
  Schedule* schedule = Schedule::of(node);
  schedule->add_reference();
  schedule->host->schedule_handoffs_.fetch_add(1);
}

void HostCore::on_schedule_due(detail::TimerNode* node) {
  Schedule* schedule = Schedule::of(node);
  HostCore* host = schedule->host;
  host->run_off_timer(
      [pin = SchedulePin(schedule)]() mutable { (*pin).host->fire_schedule(*pin); });
  // Last access to the host: stop_schedules() waits for this count.
  host->schedule_handoffs_.fetch_sub(1);
}

void HostCore::fire_schedule(Schedule& schedule) {
  absl::Time fire_time;
  int64_t number = 0;
  {
    MutexLock lock(schedules_mu_);
    if (schedule.removed || schedules_stopped_) return;
    fire_time = schedule.next_fire;
    number = ++schedule.fire_number;
  }
  const absl::Time now = wall_now();
  const absl::Time next = schedule.expression.next_fire(std::max(fire_time, now), schedule.start);
  const int64_t missed = count_missed(schedule.expression, schedule.start, fire_time, now);
  if (missed > 0) schedule.missed.fetch_add(missed, std::memory_order_relaxed);
  // The run is claimed before the next fire is armed, so a next fire that comes at once (a
  // manual clock advanced again) sees it running; the next fire is armed before this one's
  // counters move, so whoever sees them move can advance a manual clock to the next fire time;
  // and ScheduleInfo::next_fire moves after them, so whoever sees it move sees them.
  const bool skip = schedule.overlap == OverlapPolicy::kSkip && schedule.running.load() > 0;
  if (!skip) {
    // The run's reference, dropped by Schedule::run_ended when the invocation ends.
    schedule.running.fetch_add(1);
    schedule.add_reference();
  }
  {
    MutexLock lock(schedules_mu_);
    if (!schedule.removed && !schedules_stopped_) {
      schedule.next_fire = next;
      arm_schedule(schedule);
    }
  }
  if (skip) {
    schedule.skipped.fetch_add(1, std::memory_order_relaxed);
  } else {
    queue_run(schedule, fire_time, number);
  }
  MutexLock lock(schedules_mu_);
  if (!schedule.removed && !schedules_stopped_) schedule.shown_next_fire = schedule.next_fire;
}

void HostCore::queue_run(Schedule& schedule, absl::Time fire_time, int64_t number) {
  Event event = schedule.event_template;
  event.time = fire_time;
  if (event.id.empty()) event.id = fmt::format("{}-{}", schedule.id, number);
  if (event.type.empty()) event.type = "fnhost.schedule";
  if (event.source.empty()) event.source = fmt::format("fnhost/schedule/{}", schedule.id);
  FunctionSlot& slot = *schedule.slot;
  Admission admission{.owned = &event,
                      .on_end = &Schedule::run_ended,
                      .on_end_context = &schedule,
                      .lineage = {.principal = schedule.principal}};
  absl::Status admitted = admit_to(slot, admission);
  if (admitted.ok()) {
    schedule.fired.fetch_add(1, std::memory_order_relaxed);
    // A duplicate of the template's idempotency key queued nothing: its run is over.
    if (admission.duplicate) Schedule::run_ended(&schedule);
    return;
  }
  // Never the last reference: the fire's pin holds one.
  Schedule::run_ended(&schedule);
  schedule.refused.fetch_add(1, std::memory_order_relaxed);
  if (has_observers()) notify_refused(slot.name, admitted, /*is_async=*/true);
  if (options.log_sink != nullptr) {
    log(LogLevel::kWarning, slot.name, "",
        fmt::format("schedule {} ({}): fire refused: {}", schedule.id, schedule.expression.text(),
                    admitted.ToString()));
  }
}

bool HostCore::remove_schedule(TriggerId id) {
  Schedule* removed = nullptr;
  {
    MutexLock lock(schedules_mu_);
    auto it = schedules_.find(id);
    if (it == schedules_.end()) return false;
    removed = it->second;
    schedules_.erase(it);
    removed->removed = true;
    // False if it is firing: that fire finds it removed (or, past that check, queues one last
    // invocation) and does not re-arm.
    timers_.unlink(removed);
  }
  removed->release();
  return true;
}

void HostCore::stop_schedules() {
  {
    MutexLock lock(schedules_mu_);
    schedules_stopped_ = true;
    for (const auto& [id, schedule] : schedules_) {
      timers_.unlink(schedule);
      schedule->next_fire = absl::InfiniteFuture();
      schedule->shown_next_fire = absl::InfiniteFuture();
    }
  }
  // A timer taken out to fire just before is moments from handing its fire to the executor
  // (where it finds the schedules stopped); after that the timer service holds no schedule.
  detail::Backoff backoff;
  while (schedule_handoffs_.load() != 0) backoff.pause();
}

std::vector<ScheduleInfo> HostCore::schedules() const {
  std::vector<ScheduleInfo> infos;
  {
    MutexLock lock(schedules_mu_);
    infos.reserve(schedules_.size());
    for (const auto& [id, schedule] : schedules_) {
      infos.push_back({.id = id,
                       .expression = schedule->expression.text(),
                       .function = schedule->function_name,
                       .next_fire = schedule->shown_next_fire,
                       .fired = schedule->fired.load(std::memory_order_relaxed),
                       .skipped = schedule->skipped.load(std::memory_order_relaxed),
                       .missed = schedule->missed.load(std::memory_order_relaxed),
                       .refused = schedule->refused.load(std::memory_order_relaxed)});
    }
  }
  std::sort(infos.begin(), infos.end(),
            [](const ScheduleInfo& a, const ScheduleInfo& b) { return a.id < b.id; });
  return infos;
}

}  // namespace fnhost

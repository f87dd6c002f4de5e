// SPDX-License-Identifier: Apache-2.0
// ManualClock: the time advanced so far, and the timer services advance() fires.
#include "fnhost/clock.hpp"

#include <algorithm>
#include <vector>

#include "common/sync.hpp"
#include "host/clock_access.hpp"
#include "host/timer_service.hpp"

namespace fnhost {

struct ManualClock::Registry {
  // Held while advance() fires, so a host cannot detach (and go away) in the middle of it.
  detail::Mutex mu;
  std::vector<detail::TimerService*> timers ABSL_GUARDED_BY(mu);
};

std::shared_ptr<ManualClock> ManualClock::create(absl::Time start) {
  return std::shared_ptr<ManualClock>(new ManualClock(start));
}

ManualClock::ManualClock(absl::Time start)
    : start_(start), registry_(std::make_unique<Registry>()) {}

ManualClock::~ManualClock() = default;

void ManualClock::advance(absl::Duration by) {
  constexpr absl::Duration kMaxStep = absl::Hours(24 * 365 * 100);
  const int64_t step = absl::ToInt64Nanoseconds(std::clamp(by, absl::ZeroDuration(), kMaxStep));
  elapsed_ns_.fetch_add(step);
  detail::MutexLock lock(registry_->mu);
  for (detail::TimerService* timers : registry_->timers) timers->fire_due();
}

namespace detail {

void ManualClockAccess::attach(fnhost::ManualClock& clock, TimerService* timers) {
  MutexLock lock(clock.registry_->mu);
  clock.registry_->timers.push_back(timers);
}

void ManualClockAccess::detach(fnhost::ManualClock& clock, TimerService* timers) {
  MutexLock lock(clock.registry_->mu);
  std::vector<TimerService*>& all = clock.registry_->timers;
  all.erase(std::remove(all.begin(), all.end(), timers), all.end());
}

}  // namespace detail
}  // namespace fnhost

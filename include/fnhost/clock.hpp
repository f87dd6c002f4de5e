// SPDX-License-Identifier: Apache-2.0
// File: fnhost/clock.hpp
// `ManualClock`: a clock that stands still until the program moves it, for tests of anything
// timed — schedules, invocation deadlines, Context::remaining(). A host given one in
// HostOptions::clock reads all its time from it and starts no timer thread: advance() fires,
// on the calling thread, every timer of every host using the clock that became due. Timers only
// hand work to the host's executor; with a ManualExecutor the test then pumps it.
//
//   auto clock = fnhost::ManualClock::create();
//   auto executor = std::make_shared<fnhost::ManualExecutor>();
//   auto host = fnhost::Host::create({.executor = executor, .clock = clock}).value();
//   ...  // register a function, schedule it every minute
//   clock->advance(absl::Minutes(1));  // the schedule fires: an invocation is queued
//   executor->run_pending();           // ... and runs here
//
// Everything time-related then follows the clock only: an invocation's deadline passes when
// advance() reaches it, however long the handler really runs, and a schedule fires only when
// advance() reaches its fire time. (shutdown()'s timeout and the executor's own timing stay in
// real time: a drain must end even if nobody advances the clock.)
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/time/time.h"

namespace fnhost {

namespace detail {
class TimerService;
struct ManualClockAccess;
}  // namespace detail

// A clock moved by hand. Shared by the hosts that use it (HostOptions::clock); outlives them
// through their references. Thread-safe: every method may be called from any thread.
class ManualClock {
 public:
  // 2026-01-01T00:00:00Z, the default start.
  static constexpr int64_t kDefaultStartUnixSeconds = 1'767'225'600;

  // Creates a clock whose wall time is `start`. Never fails; allocates once.
  [[nodiscard]] static std::shared_ptr<ManualClock> create(
      absl::Time start = absl::FromUnixSeconds(kDefaultStartUnixSeconds));

  ManualClock(const ManualClock&) = delete;
  ManualClock& operator=(const ManualClock&) = delete;
  ~ManualClock();

  // The wall time: start + everything advance() added. Never blocks.
  [[nodiscard]] absl::Time now() const { return start_ + absl::Nanoseconds(elapsed_ns_.load()); }

  // Moves time forward by `by` (a negative duration counts as zero; at most 100 years per
  // call), then fires, on this thread, every timer that became due of every host using this
  // clock: invocation deadlines (waiters are answered at once) and schedules (their fires are
  // handed to the host's executor). Handlers and callbacks never run here, except when an
  // executor refuses work (it was shut down), as on the host's timer thread. Blocks while
  // another thread's advance() fires timers, and a host using this clock is not destroyed
  // while advance() fires its timers. Must not be called from code a timer runs.
  void advance(absl::Duration by);

 private:
  friend struct detail::ManualClockAccess;
  struct Registry;

  explicit ManualClock(absl::Time start);

  const absl::Time start_;
  std::atomic<int64_t> elapsed_ns_{0};
  // The timer services of the hosts using this clock (a host attaches in its constructor and
  // detaches in its destructor).
  std::unique_ptr<Registry> registry_;
};

}  // namespace fnhost

// SPDX-License-Identifier: Apache-2.0
// AutoscalingExecutor::Impl, the monitor thread: runs while work waits behind busy workers,
// judges workers blocked from their CPU clocks, and adds workers for the waiting work.
#include <algorithm>
#include <cstdint>

#include "common/sync.hpp"
#include "executor/autoscaling_impl.hpp"
#include "fmt/format.h"
#include "platform/deadline.hpp"
#include "platform/platform.hpp"

namespace fnhost {

void AutoscalingExecutor::Impl::request_monitor() {
  // seq_cst: pairs with the monitor's "un-publish, then re-check pending_" when it retires.
  if (monitor_active.load()) return;
  MutexLock lock(monitor_mu);
  if (monitor_stop) return;
  monitor_wanted = true;
  monitor_active.store(true);
  if (!monitor_running) {
    monitor_thread.join();  // a previous monitor that retired
    monitor_running = true;
    absl::Status started = monitor_thread.start(64 * 1024, [this] { monitor_main(); });
    if (!started.ok()) {
      monitor_running = false;
      monitor_active.store(false);
    }
  } else {
    monitor_cv.notify_one();
  }
}

void AutoscalingExecutor::Impl::monitor_main() {
  platform::set_current_thread_name(fmt::format("{}mon", options.thread_name_prefix));
  // The monitor creates most workers, which start with its nice value: give it the right one.
  if (options.nice) platform::set_current_thread_nice(*options.nice);
  const int64_t base_interval = detail::saturated_ns(options.monitor_interval);
  int quiet_ticks = 0;
  int backoff = 1;
  int64_t last_progress_ns = platform::now_ns();
  int64_t stall_wait_ns = detail::kStallNs;
  uint64_t last_seq_sum = 0;
  for (;;) {
    {
      MutexLock lock(monitor_mu);
      if (monitor_stop) break;
      if (!monitor_wanted) {
        // Nothing waits: sleep without a timer; exit after idle_timeout.
        const auto deadline = detail::steady_deadline_after(options.idle_timeout);
        while (!monitor_wanted && !monitor_stop) {
          if (!monitor_cv.wait_until(monitor_mu, deadline)) break;
        }
        if (monitor_stop) break;
        if (!monitor_wanted) {
          monitor_running = false;
          monitor_active.store(false);
          return;
        }
        quiet_ticks = 0;
        backoff = 1;
        last_progress_ns = platform::now_ns();
        stall_wait_ns = detail::kStallNs;
      } else {
        const auto deadline = detail::steady_deadline_after(options.monitor_interval * backoff);
        while (!monitor_stop && monitor_cv.wait_until(monitor_mu, deadline)) {
        }
        if (monitor_stop) break;
      }
    }
    const int64_t now = platform::now_ns();
    uint64_t seq_sum = 0;
    const int acted = tick(now, base_interval, seq_sum);
    if (seq_sum != last_seq_sum) {
      last_seq_sum = seq_sum;
      last_progress_ns = now;
      stall_wait_ns = detail::kStallNs;
    } else if (pending_count() > 0 && now - last_progress_ns >= stall_wait_ns) {
      // Nothing started or finished for a while although work waits: add a thread, and
      // wait longer before the next one (.NET's starvation rule).
      add_workers(1);
      last_progress_ns = now;
      stall_wait_ns = std::min<int64_t>(stall_wait_ns * 2, 1'000'000'000);
    }
    if (acted > 0 || blocked.load() > 0) {
      quiet_ticks = 0;
      backoff = 1;
    } else if (++quiet_ticks >= detail::kQuietTicksBeforeBackoff) {
      quiet_ticks = 0;
      backoff = std::min(backoff * 2, detail::kMaxMonitorBackoff);
    }
    if (!has_watched_work()) {
      MutexLock lock(monitor_mu);
      monitor_wanted = false;
      monitor_active.store(false);
      // Re-check after un-publishing: a submit (or a batch) that saw monitor_active just
      // before the store skipped its request.
      if (has_watched_work()) {
        monitor_wanted = true;
        monitor_active.store(true);
      }
    }
  }
  MutexLock lock(monitor_mu);
  monitor_running = false;
  monitor_active.store(false);
}

int AutoscalingExecutor::Impl::tick(int64_t now, int64_t interval_ns, uint64_t& seq_sum) {
  const int high_water = slot_high_water.load();
  // Are short tasks flowing? Then a worker caught asleep is most likely waiting a moment on a
  // lock the others take too (the allocator's, the address-space lock, a spin lock's yield,
  // a lock whose holder was preempted on a loaded machine): no worker is judged blocked, so
  // the pool does not grow and add to the contention (issue 7: no-op tasks from four
  // producers grew it to 256). A task that blocks for long while short ones flow still gets
  // a thread at once from a BlockingScope.
  int observed = 0;  // live workers not parked
  int64_t done = 0;  // tasks finished by any worker, ever
  for (int i = 0; i < high_water; ++i) {
    const WorkerSlot& slot = slots[i];
    done += slot.completed.load(std::memory_order_relaxed) +
            slot.failed.load(std::memory_order_relaxed);
    if (slot.live.load() && !slot.parked.load()) ++observed;
  }
  const int64_t finished = done - monitor_seen_done;
  monitor_seen_done = done;
  const bool short_tasks = finished >= detail::kShortTasksPerWorker * std::max(observed, 1);

  int fresh = 0;         // busy in a task with no verdict yet
  int long_blocked = 0;  // judged blocked, in the same task as at the last tick
  int hinted = 0;        // in a BlockingScope
  for (int i = 0; i < high_water; ++i) {
    WorkerSlot& slot = slots[i];
    if (!slot.live.load() || slot.parked.load()) {
      slot.seen_valid = false;
      slot.suspect_ticks = 0;
      continue;
    }
    // In the same task since the last tick while holding tasks (or trusted with them as the
    // batch role's holder): they go back to the queue, for other workers.
    const uint64_t seq_now = slot.task_seq.load();
    const bool same_task = (seq_now & 1) != 0 && seq_now == slot.batch_seen_seq;
    slot.batch_seen_seq = seq_now;
    if (same_task && (detail::held_unclaimed(slot.held.load()) > 0 || holds_batch_role(slot))) {
      give_back(slot);
    }
    if (slot.marks.load(std::memory_order_relaxed) & detail::kHintedBlocked) ++hinted;
    seq_sum += slot.task_seq.load(std::memory_order_relaxed);
    const int64_t tid = slot.tid.load();
    if (tid == 0) continue;
    if (slot.probe_tid != tid) {
      slot.probe.open(tid, slot.cpu_clock.load());
      slot.probe_tid = tid;
      slot.seen_valid = false;
    }
    int64_t cpu_ns = 0;
    if (!slot.probe.available() || !slot.probe.cpu_time_ns(cpu_ns)) continue;
    if (!slot.seen_valid && (slot.task_seq.load(std::memory_order_relaxed) & 1) != 0) {
      ++fresh;
    }
    const uint64_t parks = slot.parks.load(std::memory_order_relaxed);
    const uint64_t judged_seq = slot.task_seq.load();
    if (slot.seen_valid && parks != slot.seen_parks) {
      // It parked since the last sample: the time it spent idle is not time blocked in a
      // task. Start a new interval.
      slot.seen_valid = false;
      slot.suspect_ticks = 0;
    }
    if (slot.seen_valid && now - slot.seen_wall_ns >= interval_ns / 2) {
      const int64_t wall = now - slot.seen_wall_ns;
      const int64_t busy = cpu_ns - slot.seen_cpu_ns;
      // Little CPU over the tick and not runnable now: looks blocked. Little CPU but
      // runnable: preempted by other work, and another thread would not help. Asleep on a
      // contended mutex (most often the allocator's arena lock, whose holder a loaded or
      // oversubscribed machine preempted): waiting its turn, and another thread would only
      // queue for the same lock (on a VM whose vCPUs were being stolen, W7 grew the pool to
      // its 256 threads this way).
      const bool looks_blocked = !short_tasks && busy * detail::kBlockedShareDivisor < wall &&
                                 (judged_seq & 1) != 0 && !slot.probe.is_runnable() &&
                                 !slot.probe.waits_for_lock();
      // A worker can be caught asleep after a tick of little CPU on a short wait other
      // threads would share: a contended lock (the allocator's, a spin lock's yield), or the
      // address-space lock while a new thread's first allocation maps its malloc arena (that
      // one often lasts milliseconds while other threads fault pages in). Another thread
      // would only add to that contention, so the verdict needs kBlockedTicks blocked-looking
      // ticks in a row. Until then the worker counts as fresh (no verdict yet).
      slot.suspect_ticks = looks_blocked ? slot.suspect_ticks + 1 : 0;
      const bool is_blocked = slot.suspect_ticks >= detail::kBlockedTicks;
      if (looks_blocked && !is_blocked) ++fresh;
      // Blocked in one task since the last tick: a long block, not short tasks that each
      // sleep a little (those get a thread per blocked worker, without growth).
      if (is_blocked && judged_seq == slot.seen_seq) ++long_blocked;
      const bool marked = (slot.marks.load() & detail::kDetectedBlocked) != 0;
      if (is_blocked && !marked) {
        set_mark(slot, detail::kDetectedBlocked);
        // The task may have ended and the worker parked (clearing its marks) between the
        // verdict and the mark: then the mark would outlive the block. Take it back.
        if (slot.task_seq.load() != judged_seq || slot.parked.load()) {
          clear_mark(slot, detail::kDetectedBlocked);
        }
      }
      if (!is_blocked && marked) clear_mark(slot, detail::kDetectedBlocked);
    }
    slot.seen_cpu_ns = cpu_ns;
    slot.seen_wall_ns = now;
    slot.seen_seq = judged_seq;
    slot.seen_parks = parks;
    slot.seen_valid = true;
  }
  int64_t waiting = pending_count();
  // Trusted to the batch role's holder, which was seen making progress.
  if (searching.load() >= detail::kBatchRole) waiting -= detail::kBatchTasks;
  if (waiting <= 0) {
    unjudged.store(0, std::memory_order_relaxed);
    return 0;
  }
  const int not_running = blocked.load() + stuck.load();
  // While work waits behind blocked workers, workers added last tick that are already busy
  // most likely block too (they run the same kind of work): count them, and add kBlockedGrowth
  // workers for each, instead of waiting two ticks for each verdict. Only for long blocks (or
  // declared ones) filling the CPUs: a few workers caught waiting on a lock among computing
  // ones, or short sleeping tasks, must not start a growth that feeds on itself.
  const int likely_blocked = long_blocked + hinted + stuck.load() >= cpus
                                 ? detail::kBlockedGrowth * (not_running + fresh)
                                 : 0;
  int want = std::max(cpus - effective_running(), likely_blocked);
  want = static_cast<int>(std::min<int64_t>(want, waiting));
  unjudged.store(not_running > 0 ? fresh + std::max(want, 0) : 0, std::memory_order_relaxed);
  if (want <= 0) return 0;
  add_workers(want);
  return want;
}

}  // namespace fnhost

// SPDX-License-Identifier: Apache-2.0
// The autoscaling executor. Design (see research/executor-prior-art.md §10):
//  - One lock-free MPMC queue of tasks and an exact count of accepted-but-not-started tasks
//    (`pending_`); the count, never try_dequeue()==false, is the sleep predicate.
//  - Worker states: active (running tasks or looking for one), at most one searcher spinning
//    briefly before parking, and parked (each on its own condition variable, LIFO, so hot
//    threads are reused and cold ones time out).
//  - "Effective running" = active - blocked - stuck. Submit wakes or creates a worker only when
//    no one is searching and effective running < cpus; otherwise the task waits and, if workers
//    are busy, the monitor is asked to look for blocked ones.
//  - The monitor thread runs only while work waits behind busy workers. Each tick it reads the
//    CPU clock of each active worker: one that used under 20% of the tick and is not runnable
//    now is blocked (sleeping, in I/O, on a lock); one that is runnable was merely preempted
//    and another thread would not help. (Scheduler statistics lag by a scheduler tick for a
//    running thread, too coarse for 1 ms decisions; the CPU clock is exact.) A verdict needs
//    two such ticks in a row (five in a new thread's first task), time parked does not count,
//    and while short tasks flow (4+ finished per worker per tick) nobody is judged blocked: a
//    worker caught asleep then waits on a lock the others share, and more threads would only
//    add contention (issue 7). It then adds workers for the waiting work, doubling the pool
//    per tick only while long blocks fill the CPUs. Where threads cannot be observed, a watchdog
//    adds one thread per stalled interval.
//  - A worker narrows (parks) at a task boundary when effective running > cpus, so threads added
//    for blocked work do not oversubscribe the CPUs once the blocking ends.
//  - Lost wake-ups are excluded by "publish, then re-check" on both sides with seq_cst
//    operations: submit increments pending_ then reads the worker counts; a parking worker
//    updates the counts then reads pending_.
//  - Stats consistency: the live thread count and the spawned count share one atomic word
//    (`population`), so no snapshot shows a thread alive that is not yet counted spawned;
//    a thread stops counting alive before it counts reclaimed, and stats() reads reclaimed
//    before the word. See ExecutorStats for the relations this guarantees.
#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "concurrentqueue/concurrentqueue.h"
#include "fmt/format.h"
#include "common/sync.hpp"
#include "fnhost/executor.hpp"
#include "platform/deadline.hpp"
#include "platform/platform.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace fnhost {

namespace detail {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

constexpr uint32_t kDetectedBlocked = 1;  // set by the monitor from scheduler statistics
constexpr uint32_t kHintedBlocked = 2;    // set by the worker inside a BlockingScope
constexpr uint32_t kStuck = 4;            // set by the host when the task overran its deadline
constexpr uint32_t kInTask = 8;           // set by the worker while it runs a task
constexpr uint32_t kBlockedMarks = kDetectedBlocked | kHintedBlocked;

// Impl::population holds the live thread count in its low bits and the spawned count above,
// so one atomic operation moves both (max_threads <= 4096 fits the low field).
constexpr int64_t kSpawnedUnit = int64_t{1} << 16;
constexpr int64_t kThreadsMask = kSpawnedUnit - 1;

// pending_ carries this bit once shutdown began, so a submit that raced with it is refused.
constexpr int64_t kStoppedBit = int64_t{1} << 62;

// How long the single searcher spins for new work before parking. It starts at the minimum
// (until work shows that spinning pays, it only burns CPU: a service that runs one task and
// goes idle pays 10 us, not more) and adapts: a worker woken soon after parking doubles it
// (work arrives at intervals a slightly longer spin would have caught, e.g. a paced stream),
// one that slept long halves it.
constexpr int64_t kMinSearchSpinNs = 10'000;
constexpr int64_t kSearchSpinNs = kMinSearchSpinNs;
constexpr int64_t kMaxSearchSpinNs = 120'000;
constexpr int64_t kShortParkNs = 200'000;
constexpr int64_t kLongParkNs = 2'000'000;
// A worker whose on-CPU + run-queue share of a monitor tick is below 1/kBlockedShareDivisor is
// counted as blocked.
constexpr int64_t kBlockedShareDivisor = 5;
// Tasks are "short" when a tick saw at least this many finish per busy worker (each took under
// a quarter of the interval): work is flowing, and a worker that looks blocked is most likely
// waiting a moment on a lock the other workers also take, not blocked in I/O.
constexpr int64_t kShortTasksPerWorker = 4;
// Consecutive blocked-looking ticks before a worker counts as blocked (see tick()).
constexpr int kBlockedTicks = 2;
constexpr int kFirstTaskBlockedTicks = 5;
// Quiet ticks before the monitor's interval doubles (up to kMaxMonitorBackoff times).
constexpr int kQuietTicksBeforeBackoff = 50;
constexpr int kMaxMonitorBackoff = 10;
// With work waiting and no task starting or ending for this long, add a thread (the fallback
// for blocked workers that scheduler statistics cannot see, and for tasks that busy-wait on
// each other).
constexpr int64_t kStallNs = 50'000'000;

}  // namespace

struct alignas(kCacheLine) WorkerSlot {
  AutoscalingExecutor::Impl* owner = nullptr;
  int index = 0;

  // Written by the worker, read by the monitor and the host.
  std::atomic<uint64_t> task_seq{0};  // odd while a task runs
  std::atomic<uint32_t> marks{0};
  std::atomic<int64_t> tid{0};
  std::atomic<int64_t> cpu_clock{0};
  std::atomic<int64_t> completed{0};  // single writer: the worker
  std::atomic<int64_t> failed{0};     // single writer: the worker
  std::atomic<bool> parked{false};
  std::atomic<uint64_t> parks{0};      // times parked; single writer: the worker
  std::atomic<uint64_t> start_seq{0};  // task_seq when the current thread started
  std::atomic<bool> live{false};
  int hint_depth = 0;  // BlockingScope nesting; the worker only

  Mutex park_mu;
  CondVar park_cv;
  bool wake_signal ABSL_GUARDED_BY(park_mu) = false;

  // Monitor-private.
  platform::ThreadProbe probe;
  int64_t probe_tid = 0;
  int64_t seen_cpu_ns = 0;
  int64_t seen_wall_ns = 0;
  bool seen_valid = false;
  uint64_t seen_seq = 0;
  uint64_t seen_parks = 0;
  int suspect_ticks = 0;  // consecutive ticks it looked blocked

  // Lifecycle, guarded by Impl::slots_mu. A worker can exit before its spawner has stored its
  // handle; then the spawner, not the worker, frees the slot.
  platform::Thread thread;
  bool handle_stored = false;
  bool exited_early = false;
};

namespace {
thread_local WorkerSlot* tls_worker = nullptr;
}  // namespace

}  // namespace detail

using detail::CondVar;
using detail::kCacheLine;
using detail::Mutex;
using detail::MutexLock;
using detail::WorkerSlot;
namespace platform = detail::platform;

struct AutoscalingExecutor::Impl {
  explicit Impl(ExecutorOptions resolved)
      : options(std::move(resolved)),
        cpus(options.cpu_count),
        slots(new WorkerSlot[static_cast<size_t>(options.max_threads)]) {
    for (int i = 0; i < options.max_threads; ++i) {
      slots[i].owner = this;
      slots[i].index = i;
    }
    MutexLock lock(slots_mu);
    free_slots.reserve(static_cast<size_t>(options.max_threads));
    for (int i = options.max_threads - 1; i >= 0; --i) free_slots.push_back(i);
    MutexLock idle_lock(idle_mu);
    idle_stack.reserve(static_cast<size_t>(options.max_threads));
  }

  const ExecutorOptions options;
  const int cpus;
  moodycamel::ConcurrentQueue<Task> queue;

  alignas(kCacheLine) std::atomic<int64_t> pending{0};
  alignas(kCacheLine) std::atomic<int> searching{0};
  std::atomic<int64_t> search_spin_ns{detail::kSearchSpinNs};  // relaxed: a tuning hint
  // Read on every submit, written on state transitions only: one shared line.
  alignas(kCacheLine) std::atomic<int> active{0};  // alive and not parked (incl. starting)
  std::atomic<int> idle{0};
  // Live threads (incl. being created) | spawned * kSpawnedUnit; see thread_count().
  std::atomic<int64_t> population{0};
  std::atomic<int> blocked{0};
  std::atomic<int> stuck{0};
  std::atomic<bool> monitor_active{false};
  // Busy workers the monitor has no verdict on yet (first seen this tick, or just added for
  // blocked work). While work waits behind blocked workers they most likely block too, so
  // narrowing does not count them as computing.
  std::atomic<int> unjudged{0};
  alignas(kCacheLine) std::atomic<int> spawn_debt{0};
  std::atomic<int64_t> reclaimed{0};
  std::atomic<int64_t> discarded{0};
  // Workers running a task that counts as computing (kInTask and no blocked/stuck mark).
  std::atomic<int> computing{0};
  std::atomic<int64_t> peak_threads{0};
  std::atomic<int64_t> peak_running{0};
  std::atomic<int> slot_high_water{0};  // slots [0, high water) may be live

  std::unique_ptr<WorkerSlot[]> slots;
  Mutex slots_mu;
  std::vector<int> free_slots ABSL_GUARDED_BY(slots_mu);
  bool slots_closed ABSL_GUARDED_BY(slots_mu) = false;  // shutdown joined every thread
  int spawns_in_progress ABSL_GUARDED_BY(slots_mu) = 0;
  Mutex idle_mu;
  std::vector<WorkerSlot*> idle_stack ABSL_GUARDED_BY(idle_mu);

  int64_t monitor_seen_done = 0;  // monitor-private: tasks finished at the last tick

  Mutex monitor_mu;
  CondVar monitor_cv;
  bool monitor_wanted ABSL_GUARDED_BY(monitor_mu) = false;
  bool monitor_running ABSL_GUARDED_BY(monitor_mu) = false;
  bool monitor_stop ABSL_GUARDED_BY(monitor_mu) = false;
  platform::Thread monitor_thread ABSL_GUARDED_BY(monitor_mu);

  // Tasks accepted and not yet finished (queued or running): wait_idle()'s predicate. A task
  // that submits another does so before it finishes, so a chain never reads 0 in between.
  alignas(kCacheLine) std::atomic<int64_t> outstanding{0};
  std::atomic<int> idle_waiters{0};
  Mutex idle_wait_mu;
  CondVar idle_wait_cv;

  // Set by stop(): workers destroy the tasks they dequeue instead of running them.
  std::atomic<bool> discarding{false};

  Mutex shutdown_mu;
  CondVar shutdown_cv;
  bool shut_down ABSL_GUARDED_BY(shutdown_mu) = false;
  bool shutdown_done ABSL_GUARDED_BY(shutdown_mu) = false;

  enum class ParkOutcome { kWork, kRetired, kStop };

  // ---------------------------------------------------------------------------------------
  int64_t pending_count() const { return pending.load() & ~detail::kStoppedBit; }
  bool is_stopping() const { return (pending.load() & detail::kStoppedBit) != 0; }
  int effective_running() const { return active.load() - blocked.load() - stuck.load(); }
  int thread_count() const { return static_cast<int>(population.load() & detail::kThreadsMask); }
  // Whether the calling thread is one of this executor's workers (so it runs one of its tasks).
  bool on_own_worker() const {
    return detail::tls_worker != nullptr && detail::tls_worker->owner == this;
  }

  static void raise_peak(std::atomic<int64_t>& peak, int64_t value) {
    int64_t seen = peak.load(std::memory_order_relaxed);
    while (value > seen && !peak.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
    }
  }

  // Adjusts blocked/stuck/computing for a slot whose marks went from `before` to `after`.
  // Every change of a slot's marks is one atomic read-modify-write that returns `before`, so
  // the counts follow the marks exactly.
  void account_marks(uint32_t before, uint32_t after) {
    const auto category = [](uint32_t marks) {
      if (marks & detail::kStuck) return 2;
      return (marks & detail::kBlockedMarks) ? 1 : 0;
    };
    const auto is_computing = [&](uint32_t marks) {
      return (marks & detail::kInTask) != 0 && category(marks) == 0;
    };
    const int was = category(before);
    const int now = category(after);
    if (was != now) {
      if (was == 1) blocked.fetch_sub(1);
      if (was == 2) stuck.fetch_sub(1);
      if (now == 1) blocked.fetch_add(1);
      if (now == 2) stuck.fetch_add(1);
    }
    const bool was_computing = is_computing(before);
    const bool now_computing = is_computing(after);
    if (now_computing && !was_computing) {
      raise_peak(peak_running, computing.fetch_add(1) + 1);
    } else if (was_computing && !now_computing) {
      computing.fetch_sub(1);
    }
  }
  void set_mark(WorkerSlot& slot, uint32_t mark) {
    const uint32_t before = slot.marks.fetch_or(mark);
    account_marks(before, before | mark);
  }
  void clear_mark(WorkerSlot& slot, uint32_t mark) {
    const uint32_t before = slot.marks.fetch_and(~mark);
    account_marks(before, before & ~mark);
  }

  // ---------------------------------------------------------------------------------------
  absl::Status submit(Task task) {
    if (!task) {
      // Running it would call through a null pointer on a worker and end the process.
      return absl::InvalidArgumentError("AutoscalingExecutor: task is empty");
    }
    bool spawned_for_this = false;
    if ((population.load(std::memory_order_relaxed) & detail::kThreadsMask) == 0 &&
        !is_stopping()) {
      // Scale from zero: make sure a thread exists before publishing, so a task is never
      // accepted by an executor that cannot run it.
      spawned_for_this = spawn_worker();
      if (!spawned_for_this && thread_count() == 0) {
        return absl::ResourceExhaustedError(
            "AutoscalingExecutor: no worker thread is alive and none can be created");
      }
    }
    outstanding.fetch_add(1);
    const int64_t before = pending.fetch_add(1);
    if (before & detail::kStoppedBit) {
      pending.fetch_sub(1);
      finish_outstanding();
      return absl::UnavailableError("AutoscalingExecutor: shut down; task not accepted");
    }
    queue.enqueue(std::move(task));
    if (spawned_for_this) {
      // The thread started for this very task will find it, unless it already looked, found
      // nothing and parked, or even retired (it re-checks pending_ after counting itself idle
      // or gone; we read idle and threads after publishing: one of us sees the other). Do not
      // start a second thread otherwise: that would double every burst that starts from zero.
      if (idle.load() > 0) {
        wake_one();
      } else if (thread_count() == 0) {
        notify_work();
      }
    } else {
      notify_work();
    }
    return absl::OkStatus();
  }

  // Called after work was published: brings one more worker to it if that helps.
  void notify_work() {
    if (searching.load() > 0) return;
    if (effective_running() >= cpus) {
      request_monitor();
      return;
    }
    if (idle.load() > 0 && wake_one()) return;
    if (!spawn_worker()) request_monitor();
  }

  // Pops the most recently parked worker and wakes it. The counts move at the pop, so two
  // wakers never pick the same worker and a woken worker is counted active at once.
  bool wake_one() {
    WorkerSlot* slot = nullptr;
    {
      MutexLock lock(idle_mu);
      if (idle_stack.empty()) return false;
      slot = idle_stack.back();
      idle_stack.pop_back();
      // active++ before idle--: a notifier reading both never sees this worker in neither
      // state, which would make it create a thread for work a woken worker is about to take.
      active.fetch_add(1);
      idle.fetch_sub(1);
    }
    MutexLock lock(slot->park_mu);
    slot->wake_signal = true;
    slot->park_cv.notify_one();
    return true;
  }

  // Starts one worker if below max_threads; returns whether one was started.
  bool spawn_worker() {
    // Counted alive and spawned in one step, before the thread exists: it can run (and show in
    // `busy`) before this function returns.
    int64_t word = population.load();
    do {
      if ((word & detail::kThreadsMask) >= options.max_threads) return false;
    } while (!population.compare_exchange_weak(word, word + 1 + detail::kSpawnedUnit));
    raise_peak(peak_threads, (word & detail::kThreadsMask) + 1);
    int index = -1;
    detail::Backoff backoff;
    while (index < 0) {
      {
        MutexLock lock(slots_mu);
        if (slots_closed) {
          population.fetch_sub(1 + detail::kSpawnedUnit);
          return false;
        }
        if (!free_slots.empty()) {
          index = free_slots.back();
          free_slots.pop_back();
          // A slot freed by an exited worker still holds its thread handle: join it (it has
          // returned from its body, so this does not wait for long) before reuse.
          slots[index].thread.join();
          slots[index].handle_stored = false;
          slots[index].exited_early = false;
          slots[index].live.store(true);
          ++spawns_in_progress;
          break;
        }
      }
      // No free slot although we hold a thread count below max_threads: a retiring worker
      // gave back its count and is a few instructions from giving back its slot. Wait for it
      // rather than refuse a thread the executor may have.
      backoff.pause();
    }
    active.fetch_add(1);
    WorkerSlot& slot = slots[index];
    raise_high_water(index + 1);
    // Thread creation is slow (tens of microseconds): outside the lock.
    platform::Thread thread;
    absl::Status started = thread.start(options.stack_size, [this, &slot] { worker_main(slot); });
    {
      MutexLock lock(slots_mu);
      --spawns_in_progress;
      if (started.ok()) {
        slot.thread = std::move(thread);
        slot.handle_stored = true;
        if (slot.exited_early) free_slots.push_back(index);
      } else {
        free_slots.push_back(index);
      }
    }
    if (!started.ok()) {
      slot.live.store(false);
      active.fetch_sub(1);
      // Not alive and never spawned: both counts go back together.
      population.fetch_sub(1 + detail::kSpawnedUnit);
      spawn_debt.store(0);
      return false;
    }
    return true;
  }

  void raise_high_water(int value) {
    int seen = slot_high_water.load();
    while (value > seen && !slot_high_water.compare_exchange_weak(seen, value)) {
    }
  }

  // Starts up to `limit` workers owed by the monitor. New workers call this too, so a large
  // burst of thread creation fans out as a tree instead of one serial loop.
  void spawn_from_debt(int limit) {
    for (int i = 0; i < limit; ++i) {
      int debt = spawn_debt.load();
      do {
        if (debt <= 0) return;
      } while (!spawn_debt.compare_exchange_weak(debt, debt - 1));
      if (!spawn_worker()) {
        spawn_debt.store(0);
        return;
      }
    }
  }

  // Brings `count` more workers to waiting work: parked ones first, then new threads.
  void add_workers(int count) {
    while (count > 0 && idle.load() > 0 && wake_one()) --count;
    if (count <= 0) return;
    const int room = options.max_threads - thread_count();
    count = std::min(count, room);
    if (count <= 0) return;
    spawn_debt.fetch_add(count - 1);
    if (!spawn_worker()) spawn_debt.store(0);
  }

  // ---------------------------------------------------------------------------------------
  void worker_main(WorkerSlot& slot) {
    detail::tls_worker = &slot;
    platform::set_current_thread_name(fmt::format("{}{}", options.thread_name_prefix, slot.index));
    // Our own priority, not the one of whichever thread created us (it passed its nice on).
    if (options.nice) platform::set_current_thread_nice(*options.nice);
    slot.start_seq.store(slot.task_seq.load(std::memory_order_relaxed));
    slot.cpu_clock.store(platform::current_thread_cpu_clock());
    slot.tid.store(platform::current_thread_id());
    spawn_from_debt(2);

    moodycamel::ConsumerToken token(queue);
    Task task;
    ParkOutcome outcome = ParkOutcome::kWork;
    detail::Backoff backoff;
    for (;;) {
      if (queue.try_dequeue(token, task)) {
        backoff = {};
        // More work waits: if no monitor watches over it, bring a worker or the monitor now.
        // (A submit that saw a searcher relied on it; the searcher may have given up and
        // come here through park's re-check, and this task may block.)
        if (pending.fetch_sub(1) > 1 && !monitor_active.load()) notify_work();
        run_or_discard(slot, task);
        if (effective_running() - unjudged.load(std::memory_order_relaxed) > cpus &&
            pending_count() > 0) {
          // Narrowing: too many workers compute at once (blocked ones woke up); this one
          // steps aside at a task boundary. The monitor wakes it if the others block.
          request_monitor();
          outcome = park(slot, /*narrowing=*/true);
          if (outcome != ParkOutcome::kWork) break;
        }
        continue;
      }
      if (pending_count() > 0) {
        // Published but not yet visible in the queue (the producer is between its count
        // increment and its enqueue): the task is moments away.
        backoff.pause();
        continue;
      }
      if (is_stopping()) {
        outcome = ParkOutcome::kStop;
        break;
      }
      if (search(token, task)) {
        pending.fetch_sub(1);
        if (pending_count() > 0) notify_work();
        run_or_discard(slot, task);
        continue;
      }
      outcome = park(slot, /*narrowing=*/false);
      if (outcome != ParkOutcome::kWork) break;
    }
    exit_worker(slot, outcome);
  }

  void run_or_discard(WorkerSlot& slot, Task& task) {
    if (discarding.load(std::memory_order_relaxed)) {
      discard(task);
    } else {
      run_task(slot, task);
    }
  }

  // Destroys a dequeued task unrun (stop()).
  void discard(Task& task) {
    task = nullptr;
    discarded.fetch_add(1, std::memory_order_relaxed);
    finish_outstanding();
  }

  void run_task(WorkerSlot& slot, Task& task) {
    const uint64_t seq = slot.task_seq.load(std::memory_order_relaxed);
    slot.task_seq.store(seq + 1, std::memory_order_relaxed);
    set_mark(slot, detail::kInTask);
    bool threw = false;
    try {
      task();
    } catch (...) {
      // A raw task has no one to report to; the exception is dropped so it never reaches
      // the worker's frame, and counted. Host invocations catch and report their own.
      threw = true;
    }
    task = nullptr;  // captured state is destroyed inside the task's accounting window
    slot.task_seq.store(seq + 2, std::memory_order_release);
    std::atomic<int64_t>& count = threw ? slot.failed : slot.completed;
    count.store(count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    clear_mark(slot, detail::kInTask | detail::kStuck | detail::kHintedBlocked);
    finish_outstanding();
  }

  // One accepted task is over (ran, threw or was discarded); wakes wait_idle() at zero.
  void finish_outstanding() {
    // seq_cst pairs with wait_idle's "count myself a waiter, then read outstanding".
    if (outstanding.fetch_sub(1) == 1 && idle_waiters.load() > 0) {
      MutexLock lock(idle_wait_mu);
      idle_wait_cv.notify_all();
    }
  }

  // The single searcher spins briefly for new work; returns with `task` filled if it found
  // some. Others park at once: one spinner is enough on a small machine.
  bool search(moodycamel::ConsumerToken& token, Task& task) {
    int expected = 0;
    if (!searching.compare_exchange_strong(expected, 1)) return false;
    const int64_t give_up = platform::now_ns() + search_spin_ns.load(std::memory_order_relaxed);
    bool found = false;
    for (int round = 0;; ++round) {
      if (pending_count() > 0 && queue.try_dequeue(token, task)) {
        found = true;
        break;
      }
      if (is_stopping() && pending_count() == 0) break;
      if ((round & 63) == 63 && platform::now_ns() >= give_up) break;
      detail::cpu_relax();
    }
    searching.store(0);
    return found;
  }

  // Parks the worker until woken or idle_timeout passes. Returns whether to work, or to exit
  // because it retired after idle_timeout or because shutdown left nothing to do. The worker
  // is counted active again on return.
  ParkOutcome park(WorkerSlot& slot, bool narrowing) {
    if (slot.marks.load() & detail::kDetectedBlocked) clear_mark(slot, detail::kDetectedBlocked);
    {
      MutexLock lock(idle_mu);
      idle_stack.push_back(&slot);
      // idle++ before active--, as in wake_one: a parking worker is never in neither state (a
      // snapshot may show it in both for a moment; ExecutorStats allows that).
      idle.fetch_add(1);
      active.fetch_sub(1);
    }
    slot.parks.store(slot.parks.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    slot.parked.store(true);
    const int64_t parked_at = platform::now_ns();
    for (;;) {
      // Re-check after publishing that we park: a submit that missed us saw pending_ first.
      const bool work_waits = pending_count() > 0 && searching.load() == 0 &&
                              (!narrowing || effective_running() < cpus);
      if ((work_waits || is_stopping()) && unpark_self(slot)) break;
      narrowing = false;

      const bool may_exit = thread_count() > options.min_threads;
      bool signaled = false;
      {
        MutexLock lock(slot.park_mu);
        if (may_exit) {
          const auto deadline = detail::steady_deadline_after(options.idle_timeout);
          while (!slot.wake_signal && slot.park_cv.wait_until(slot.park_mu, deadline)) {
          }
        } else {
          while (!slot.wake_signal) slot.park_cv.wait(slot.park_mu);
        }
        signaled = std::exchange(slot.wake_signal, false);
      }
      if (signaled) {
        adapt_search_spin(platform::now_ns() - parked_at);
        break;
      }
      // Timed out. Leave the idle stack unless a waker popped us meanwhile (then its signal
      // is on the way: wait for it).
      if (!unpark_self(slot)) {
        MutexLock lock(slot.park_mu);
        while (!slot.wake_signal) slot.park_cv.wait(slot.park_mu);
        slot.wake_signal = false;
        break;
      }
      if (try_retire()) {
        slot.parked.store(false);
        return ParkOutcome::kRetired;
      }
      // Could not retire (min_threads, or work arrived): park again.
      {
        MutexLock lock(idle_mu);
        idle_stack.push_back(&slot);
        idle.fetch_add(1);
        active.fetch_sub(1);
      }
    }
    slot.parked.store(false);
    return is_stopping_and_drained() ? ParkOutcome::kStop : ParkOutcome::kWork;
  }

  bool is_stopping_and_drained() const { return is_stopping() && pending_count() == 0; }

  void adapt_search_spin(int64_t parked_ns) {
    const int64_t spin = search_spin_ns.load(std::memory_order_relaxed);
    if (parked_ns < detail::kShortParkNs) {
      search_spin_ns.store(std::min(spin * 2, detail::kMaxSearchSpinNs), std::memory_order_relaxed);
    } else if (parked_ns > detail::kLongParkNs) {
      search_spin_ns.store(std::max(spin / 2, detail::kMinSearchSpinNs), std::memory_order_relaxed);
    }
  }

  // Removes `slot` from the idle stack if it is still there and counts it active again.
  bool unpark_self(WorkerSlot& slot) {
    MutexLock lock(idle_mu);
    auto it = std::find(idle_stack.begin(), idle_stack.end(), &slot);
    if (it == idle_stack.end()) return false;
    idle_stack.erase(it);
    active.fetch_add(1);
    idle.fetch_sub(1);
    return true;
  }

  // An active worker that timed out decides to exit. folly's protocol: decrement, then
  // re-check for work that slipped in, and back out if there is some.
  bool try_retire() {
    int64_t word = population.load();
    do {
      if ((word & detail::kThreadsMask) <= options.min_threads) return false;
    } while (!population.compare_exchange_weak(word, word - 1));
    if (pending_count() > 0 && !is_stopping()) {
      population.fetch_add(1);
      return false;
    }
    // After the thread count went down: every snapshot has spawned >= threads + reclaimed.
    reclaimed.fetch_add(1);
    return true;
  }

  void exit_worker(WorkerSlot& slot, ParkOutcome outcome) {
    // A retired worker gave back its thread count in try_retire; one leaving at shutdown
    // gives it back here. Both were counted active.
    if (outcome != ParkOutcome::kRetired) population.fetch_sub(1);
    const uint32_t marks = slot.marks.exchange(0);
    account_marks(marks, 0);
    active.fetch_sub(1);
    detail::tls_worker = nullptr;
    slot.tid.store(0);
    {
      // The handle stays in the slot until it is reused or the executor is destroyed;
      // joining then waits only for this thread's last instructions.
      MutexLock lock(slots_mu);
      if (slot.handle_stored) {
        free_slots.push_back(slot.index);
      } else {
        slot.exited_early = true;
      }
    }
    slot.live.store(false);  // last: shutdown treats a non-live slot as joinable at once
  }

  // ---------------------------------------------------------------------------------------
  void request_monitor() {
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

  void monitor_main() {
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
      if (pending_count() == 0) {
        MutexLock lock(monitor_mu);
        monitor_wanted = false;
        monitor_active.store(false);
        // Re-check after un-publishing: a submit that saw monitor_active just before the
        // store skipped its request.
        if (pending_count() > 0) {
          monitor_wanted = true;
          monitor_active.store(true);
        }
      }
    }
    MutexLock lock(monitor_mu);
    monitor_running = false;
    monitor_active.store(false);
  }

  // One monitor pass: classify active workers as blocked or computing, then add workers for
  // waiting work. Returns how many workers it added.
  int tick(int64_t now, int64_t interval_ns, uint64_t& seq_sum) {
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
        // runnable: preempted by other work, and another thread would not help.
        const bool looks_blocked = !short_tasks && busy * detail::kBlockedShareDivisor < wall &&
                                   (judged_seq & 1) != 0 && !slot.probe.is_runnable();
        // A worker can be caught asleep after a tick of little CPU on a short wait other
        // threads would share: a contended lock (the allocator's, a spin lock's yield), or the
        // address-space lock while a new thread's first allocation maps its malloc arena (that
        // one often lasts milliseconds while other threads fault pages in). Another thread
        // would only add to that contention, so the verdict needs blocked-looking ticks in a
        // row: two, or more in a new thread's first task. Until then the worker counts as
        // fresh (no verdict yet).
        slot.suspect_ticks = looks_blocked ? slot.suspect_ticks + 1 : 0;
        const bool first_task = judged_seq == slot.start_seq.load(std::memory_order_relaxed) + 1;
        const int ticks_needed =
            first_task ? detail::kFirstTaskBlockedTicks : detail::kBlockedTicks;
        const bool is_blocked = slot.suspect_ticks >= ticks_needed;
        if (looks_blocked && !is_blocked) ++fresh;
        // Blocked in one task since the last tick: a long block, not short tasks that each
        // sleep a little (those get a thread per blocked worker, without doubling).
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
    const int64_t waiting = pending_count();
    if (waiting == 0) {
      unjudged.store(0, std::memory_order_relaxed);
      return 0;
    }
    const int not_running = blocked.load() + stuck.load();
    // While work waits behind blocked workers, workers added last tick that are already busy
    // most likely block too (they run the same kind of work): count them, so the pool about
    // doubles per tick instead of waiting a tick for each verdict. Only for long blocks (or
    // declared ones) filling the CPUs: a few workers caught waiting on a lock among computing
    // ones, or short sleeping tasks, must not start a doubling that feeds on itself.
    const int likely_blocked =
        long_blocked + hinted + stuck.load() >= cpus ? not_running + fresh : 0;
    int want = std::max(cpus - effective_running(), likely_blocked);
    want = static_cast<int>(std::min<int64_t>(want, waiting));
    unjudged.store(not_running > 0 ? fresh + std::max(want, 0) : 0, std::memory_order_relaxed);
    if (want <= 0) return 0;
    add_workers(want);
    return want;
  }

  // ---------------------------------------------------------------------------------------
  // shutdown() and stop(): stop accepting, drain (run or, with `discard`, destroy) the queue,
  // join. A second call waits for the first to finish.
  absl::Status shutdown(bool discard) {
    if (on_own_worker()) {
      return absl::FailedPreconditionError(fmt::format(
          "AutoscalingExecutor: {}() called from one of its own tasks, which it would wait for; "
          "call it from a thread outside the executor",
          discard ? "stop" : "shutdown"));
    }
    if (discard) discarding.store(true);
    {
      MutexLock lock(shutdown_mu);
      if (shut_down) {
        while (!shutdown_done) shutdown_cv.wait(shutdown_mu);
        return absl::OkStatus();
      }
      shut_down = true;
    }
    pending.fetch_or(detail::kStoppedBit);
    if (discard) discard_queued();
    join_all();
    {
      MutexLock lock(shutdown_mu);
      shutdown_done = true;
      shutdown_cv.notify_all();
    }
    return absl::OkStatus();
  }

  // stop(): destroys every queued task here, beside workers doing the same with what they take.
  void discard_queued() {
    Task task;
    detail::Backoff backoff;
    while (pending_count() > 0) {
      if (queue.try_dequeue(task)) {
        pending.fetch_sub(1);
        discard(task);
        backoff = {};
      } else {
        // Counted but not yet enqueued by a submit that raced with the stop: moments away.
        // (Or a worker took it and is discarding it.)
        backoff.pause();
      }
    }
  }

  void join_all() {
    // Wake everyone: parked workers see the stop flag, run what is left, and exit.
    for (;;) {
      if (!wake_one()) break;
    }
    if (pending_count() > 0 && thread_count() == 0) spawn_worker();
    // Wait for the workers to drain the queue and exit, waking any that park meanwhile.
    // Shutdown is rare, so a short poll here is simpler than another wake-up channel.
    for (;;) {
      while (wake_one()) {
      }
      if (!any_live_worker()) {
        if (pending_count() > 0) {
          // Every worker retired just before the last tasks arrived: run them on a new one.
          spawn_worker();
        } else {
          MutexLock lock(slots_mu);
          if (!any_live_worker() && spawns_in_progress == 0) {
            slots_closed = true;
            for (int i = 0; i < options.max_threads; ++i) slots[i].thread.join();
            break;
          }
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    {
      MutexLock lock(monitor_mu);
      monitor_stop = true;
      monitor_cv.notify_all();
    }
    platform::Thread monitor;
    {
      MutexLock lock(monitor_mu);
      monitor = std::move(monitor_thread);
    }
    monitor.join();
  }

  // wait_idle(): until no task is queued or running, or `deadline` (nullopt: forever).
  bool wait_idle_until(std::optional<std::chrono::steady_clock::time_point> deadline) {
    if (outstanding.load() == 0) return true;
    idle_waiters.fetch_add(1);
    bool idle_now = true;
    {
      MutexLock lock(idle_wait_mu);
      while (outstanding.load() != 0) {
        if (!deadline) {
          idle_wait_cv.wait(idle_wait_mu);
        } else if (!idle_wait_cv.wait_until(idle_wait_mu, *deadline)) {
          idle_now = outstanding.load() == 0;
          break;
        }
      }
    }
    idle_waiters.fetch_sub(1);
    return idle_now;
  }

  bool any_live_worker() const {
    const int high_water = slot_high_water.load();
    for (int i = 0; i < high_water; ++i) {
      if (slots[i].live.load()) return true;
    }
    return false;
  }

  ExecutorStats stats() const {
    ExecutorStats result;
    // Order matters (see ExecutorStats): reclaimed before the population word, so that
    // spawned >= threads + reclaimed holds in the snapshot. seq_cst loads keep the order.
    result.reclaimed = reclaimed.load();
    const int64_t word = population.load();
    result.threads = word & detail::kThreadsMask;
    result.spawned = word / detail::kSpawnedUnit;
    // A thread counted alive may not have raised the peak yet; it is a value threads had.
    result.peak_threads = std::max(peak_threads.load(), result.threads);
    result.idle = idle.load(std::memory_order_relaxed);
    result.busy = std::max<int64_t>(
        0, active.load(std::memory_order_relaxed) - searching.load(std::memory_order_relaxed));
    result.blocked = blocked.load(std::memory_order_relaxed);
    result.stuck = stuck.load(std::memory_order_relaxed);
    result.queued = pending_count();
    result.peak_running = peak_running.load(std::memory_order_relaxed);
    result.discarded = discarded.load(std::memory_order_relaxed);
    const int high_water = slot_high_water.load();
    for (int i = 0; i < high_water; ++i) {
      result.completed += slots[i].completed.load(std::memory_order_relaxed);
      result.failed += slots[i].failed.load(std::memory_order_relaxed);
    }
    return result;
  }
};

// -------------------------------------------------------------------------------------------
namespace {

absl::Status validate(const ExecutorOptions& options) {
  const auto invalid = [](std::string message) {
    return absl::InvalidArgumentError(fmt::format("ExecutorOptions: {}", message));
  };
  if (options.max_threads < 1 || options.max_threads > 4096) {
    return invalid(fmt::format("max_threads must be in 1..4096, got {}", options.max_threads));
  }
  if (options.min_threads < 0 || options.min_threads > options.max_threads) {
    return invalid(fmt::format("min_threads must be in 0..max_threads ({}), got {}",
                               options.max_threads, options.min_threads));
  }
  if (options.idle_timeout <= absl::ZeroDuration()) {
    return invalid(fmt::format("idle_timeout must be > 0, got {}",
                               absl::FormatDuration(options.idle_timeout)));
  }
  if (options.stack_size != 0 && options.stack_size < 64 * 1024) {
    return invalid(fmt::format("stack_size must be 0 (default) or >= 65536 bytes, got {}",
                               options.stack_size));
  }
  if (options.cpu_count < 0) {
    return invalid(fmt::format("cpu_count must be >= 0 (0 detects), got {}", options.cpu_count));
  }
  if (options.monitor_interval < absl::Microseconds(100) ||
      options.monitor_interval > absl::Seconds(1)) {
    return invalid(fmt::format("monitor_interval must be in 100us..1s, got {}",
                               absl::FormatDuration(options.monitor_interval)));
  }
  if (options.nice && (*options.nice < -20 || *options.nice > 19)) {
    return invalid(fmt::format("nice must be in -20..19 or unset, got {}", *options.nice));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<AutoscalingExecutor>> AutoscalingExecutor::create(
    ExecutorOptions options) {
  if (absl::Status status = validate(options); !status.ok()) return status;
  if (options.cpu_count == 0) options.cpu_count = platform::available_cpus();
  // Workers take the creator's priority, not that of whichever thread later makes them.
  if (!options.nice) options.nice = platform::current_thread_nice();
  auto impl = std::make_unique<Impl>(std::move(options));
  std::unique_ptr<AutoscalingExecutor> executor(new AutoscalingExecutor(std::move(impl)));
  for (int i = 0; i < executor->impl_->options.min_threads; ++i) {
    if (!executor->impl_->spawn_worker()) {
      // The executor's destructor joins the threads that did start.
      return absl::ResourceExhaustedError(
          fmt::format("AutoscalingExecutor: could not start min_threads ({}) threads: the "
                      "system refused a thread (lower min_threads or stack_size, or raise the "
                      "process's thread limit)",
                      executor->impl_->options.min_threads));
    }
  }
  return executor;
}

AutoscalingExecutor::AutoscalingExecutor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AutoscalingExecutor::~AutoscalingExecutor() {
  if (!impl_) return;
  const absl::Status status = impl_->shutdown(/*discard=*/false);
  // Refused only on one of our own workers: joining would wait for this very thread.
  assert(status.ok());
  (void)status;
}

absl::Status AutoscalingExecutor::submit(Task task) { return impl_->submit(std::move(task)); }

ExecutorStats AutoscalingExecutor::stats() const { return impl_->stats(); }

absl::Status AutoscalingExecutor::shutdown() { return impl_->shutdown(/*discard=*/false); }

absl::Status AutoscalingExecutor::stop() { return impl_->shutdown(/*discard=*/true); }

absl::Status AutoscalingExecutor::wait_idle() {
  if (impl_->on_own_worker()) {
    return absl::FailedPreconditionError(
        "AutoscalingExecutor: wait_idle() called from one of its own tasks, which counts as "
        "running: it would wait for itself");
  }
  impl_->wait_idle_until(std::nullopt);
  return absl::OkStatus();
}

bool AutoscalingExecutor::wait_idle_for(absl::Duration timeout) {
  if (impl_->on_own_worker()) return false;
  return impl_->wait_idle_until(detail::steady_deadline_after(timeout));
}

const ExecutorOptions& AutoscalingExecutor::options() const { return impl_->options; }

// -------------------------------------------------------------------------------------------
BlockingScope::BlockingScope() : worker_(detail::tls_worker) {
  auto* slot = static_cast<WorkerSlot*>(worker_);
  if (slot == nullptr) return;
  if (slot->hint_depth++ > 0) return;
  AutoscalingExecutor::Impl& impl = *slot->owner;
  impl.set_mark(*slot, detail::kHintedBlocked);
  if (impl.pending_count() > 0) impl.notify_work();
}

BlockingScope::~BlockingScope() {
  auto* slot = static_cast<WorkerSlot*>(worker_);
  if (slot == nullptr) return;
  if (--slot->hint_depth > 0) return;
  slot->owner->clear_mark(*slot, detail::kHintedBlocked);
}

ExecutorTraits AutoscalingExecutor::traits() const {
  return {.pumped = false, .tracks_stuck_tasks = true};
}

RunningTask AutoscalingExecutor::current_task() const {
  WorkerSlot* slot = detail::tls_worker;
  if (slot == nullptr || slot->owner != impl_.get()) return {};
  return {slot, slot->task_seq.load(std::memory_order_relaxed)};
}

void AutoscalingExecutor::mark_stuck(const RunningTask& task) {
  if (!task) return;
  // const_cast: the handle was made from one of this executor's own (mutable) slots.
  WorkerSlot& slot = *static_cast<WorkerSlot*>(const_cast<void*>(task.worker));
  if (slot.owner != impl_.get() || slot.task_seq.load() != task.sequence) return;
  Impl& impl = *impl_;
  impl.set_mark(slot, detail::kStuck);
  // The task may have ended between the check and the mark; its worker clears kStuck at the
  // end of a task, so undo only if we are sure it is gone.
  if (slot.task_seq.load() != task.sequence) {
    impl.clear_mark(slot, detail::kStuck);
    return;
  }
  if (impl.pending_count() > 0) impl.notify_work();
}

}  // namespace fnhost

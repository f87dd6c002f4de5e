// SPDX-License-Identifier: Apache-2.0
// AutoscalingExecutor::Impl: the state behind fnhost::AutoscalingExecutor, and WorkerSlot.
// Design (see research/executor-prior-art.md §10):
//  - One lock-free MPMC queue of tasks and an exact count of accepted-but-not-started tasks
//    (`pending_`); the count, never try_dequeue()==false, is the sleep predicate.
//  - Worker states: active (running tasks or looking for one), at most one searcher spinning
//    briefly before parking, and parked (each on its own condition variable, LIFO, so hot
//    threads are reused and cold ones time out).
//  - "Effective running" = active - blocked - stuck. Submit wakes or creates a worker only when
//    no one is searching (or the searcher has left earlier tasks waiting: it was preempted) and
//    effective running < cpus; otherwise the task waits and, if workers are busy, the monitor
//    is asked to look for blocked ones.
//  - The monitor thread runs only while work waits behind busy workers. Each tick it reads the
//    CPU clock of each active worker: one that used under 20% of the tick and is not runnable
//    now is blocked (sleeping, in I/O, on a lock); one that is runnable was merely preempted
//    and another thread would not help. (Scheduler statistics lag by a scheduler tick for a
//    running thread, too coarse for 1 ms decisions; the CPU clock is exact.) A verdict needs
//    two such ticks in a row (five in a new thread's first task), time parked does not count,
//    and while short tasks flow (4+ finished per worker per tick) nobody is judged blocked: a
//    worker caught asleep then waits on a lock the others share, and more threads would only
//    add contention (issue 7). It then adds workers for the waiting work, tripling the pool
//    per tick only while long blocks fill the CPUs. Where threads cannot be observed, a watchdog
//    adds one thread per stalled interval.
//  - Batches: in a dense stream of short tasks (found at once, ending within kShortTaskNs of
//    each other) one worker at a time holds the batch role: it takes up to kBatchTasks at once
//    (one pending_ update per batch, so the producer's next submit finds pending_'s line and the
//    queue's where it left them), waits kCoalesceNs for a batch to gather after draining the
//    queue, and submits trust it with fewer than kBatchTasks waiting tasks. Taken tasks are
//    "held": counted by their slot, not pending_. A holder that stays in one task for a whole
//    monitor tick, enters a BlockingScope or is marked stuck gives its held tasks back, ahead of
//    the queue, and the role with them: a task that waits for another one of its batch cannot
//    deadlock, and only one worker's batch can be held up at a time.
//  - A worker narrows (parks) at a task boundary when effective running > cpus, so threads added
//    for blocked work do not oversubscribe the CPUs once the blocking ends.
//  - Lost wake-ups are excluded by "publish, then re-check" on both sides with seq_cst
//    operations: submit increments pending_ then reads the worker counts; a parking worker
//    updates the counts then reads pending_.
//  - Stats consistency: the live thread count and the spawned count share one atomic word
//    (`population`), so no snapshot shows a thread alive that is not yet counted spawned;
//    a thread stops counting alive before it counts reclaimed, and stats() reads reclaimed
//    before the word. See ExecutorStats for the relations this guarantees.
//
// Impl's methods are defined by concept, one file each:
//   submit.cpp                submit: publish a task, wake or create a worker for it
//   spawning.cpp              worker threads: spawn, spawn debt, retire, exit
//   worker.cpp                the worker loop: run, search, park, narrow; marks accounting
//   batches.cpp               batches of short tasks: take, run held, give back; the role
//   monitor.cpp               the monitor thread: blocked verdicts, adding workers
//   lifecycle.cpp             construction, wait_idle, shutdown/stop, stats
//   autoscaling_executor.cpp  the public AutoscalingExecutor members and BlockingScope
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "common/sync.hpp"
#include "concurrentqueue/concurrentqueue.h"
#include "fnhost/executor.hpp"
#include "platform/platform.hpp"

namespace fnhost {

namespace detail {

inline constexpr uint32_t kDetectedBlocked = 1;  // set by the monitor from scheduler statistics
inline constexpr uint32_t kHintedBlocked = 2;    // set by the worker inside a BlockingScope
inline constexpr uint32_t kStuck = 4;  // set by the host when the task overran its deadline
// Set while the worker runs tasks back to back: from the first task it takes after parking
// until it parks again (a searcher spinning for the next task still counts: it keeps a CPU
// busy). Per task it touches no shared counter.
inline constexpr uint32_t kInRun = 8;
inline constexpr uint32_t kBlockedMarks = kDetectedBlocked | kHintedBlocked;

// Impl::population holds the live thread count in its low bits and the spawned count above,
// so one atomic operation moves both (max_threads <= 4096 fits the low field).
inline constexpr int64_t kSpawnedUnit = int64_t{1} << 16;
inline constexpr int64_t kThreadsMask = kSpawnedUnit - 1;

// pending_ carries this bit once shutdown began, so a submit that raced with it is refused.
inline constexpr int64_t kStoppedBit = int64_t{1} << 62;

// How long the single searcher spins for new work before parking. It starts at the minimum
// (until work shows that spinning pays, it only burns CPU: a service that runs one task and
// goes idle pays 10 us, not more) and adapts: a worker woken soon after parking doubles it
// (work arrives at intervals a slightly longer spin would have caught, e.g. a paced stream),
// one that slept long halves it.
inline constexpr int64_t kMinSearchSpinNs = 10'000;
inline constexpr int64_t kSearchSpinNs = kMinSearchSpinNs;
inline constexpr int64_t kMaxSearchSpinNs = 120'000;
inline constexpr int64_t kShortParkNs = 200'000;
inline constexpr int64_t kLongParkNs = 2'000'000;
// A worker whose on-CPU + run-queue share of a monitor tick is below 1/kBlockedShareDivisor is
// counted as blocked.
inline constexpr int64_t kBlockedShareDivisor = 5;
// Tasks are "short" when a tick saw at least this many finish per busy worker (each took under
// a quarter of the interval): work is flowing, and a worker that looks blocked is most likely
// waiting a moment on a lock the other workers also take, not blocked in I/O.
inline constexpr int64_t kShortTasksPerWorker = 4;
// Consecutive blocked-looking ticks before a worker counts as blocked (see tick()).
inline constexpr int kBlockedTicks = 2;
// While long blocks fill the CPUs, each tick adds this many workers per blocked (or not yet
// judged) one: the pool triples per tick, so a burst of blocking work from idle reaches its
// hundreds of threads in a few ticks, having waited kBlockedTicks for the first verdicts.
inline constexpr int kBlockedGrowth = 2;
// Quiet ticks before the monitor's interval doubles (up to kMaxMonitorBackoff times).
inline constexpr int kQuietTicksBeforeBackoff = 50;
inline constexpr int kMaxMonitorBackoff = 10;
// With work waiting and no task starting or ending for this long, add a thread (the fallback
// for blocked workers that scheduler statistics cannot see, and for tasks that busy-wait on
// each other).
inline constexpr int64_t kStallNs = 50'000'000;

// Values of Impl::searching: no searcher, the one spinning searcher, and from kBatchRole on the
// worker of index `searching - kBatchRole` holding the search role for its stream of batches.
inline constexpr int kSpinning = 1;
inline constexpr int kBatchRole = 2;
// Most tasks a worker takes from the queue at once.
inline constexpr uint32_t kBatchTasks = 16;
// Tasks count as short, and a worker takes them in batches, when they start and end on average
// within this of each other: batching longer ones would gain nothing and keep them from idle
// workers for longer.
inline constexpr int64_t kShortTaskNs = 2'000;
// Consecutive quickly found tasks before a worker starts taking batches.
inline constexpr int kDenseRun = 4;
// How long the search role's holder lets a batch gather after draining the queue: in a dense
// stream the producer meanwhile writes tasks into cache lines no consumer is reading.
inline constexpr int64_t kCoalesceNs = 4'000;

// WorkerSlot::held: the slot's batch as (size << 16) | next, next the first unclaimed index.
inline constexpr uint32_t held_word(uint32_t size, uint32_t next) { return (size << 16) | next; }
inline constexpr uint32_t held_size(uint32_t word) { return word >> 16; }
inline constexpr uint32_t held_next(uint32_t word) { return word & 0xffff; }
inline constexpr uint32_t held_unclaimed(uint32_t word) {
  return held_size(word) - held_next(word);
}

// A worker's view of its own stream, to decide whether to take batches. Worker-private.
struct StreamPace {
  bool batching = false;
  int quick_takes = 0;          // tasks in a row found waiting or after a short search
  int64_t first_quick_ns = 0;   // when the first of them was taken
  uint32_t batch_size = 0;      // tasks taken in the current batch
  int64_t batch_start_ns = 0;   // when it was taken
};

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
  std::atomic<uint64_t> parks{0};  // times parked; single writer: the worker
  std::atomic<bool> live{false};
  int hint_depth = 0;  // BlockingScope nesting; the worker only

  // The batch the worker took (see kBatchTasks): filled by the worker under batch_mu once the
  // previous one is claimed; each task claimed by one atomic step on `held`, by the worker to
  // run it or by give_back() (under batch_mu) to re-queue the rest.
  std::atomic<uint32_t> held{0};
  Mutex batch_mu;
  Task batch[kBatchTasks];
  uint64_t batch_seen_seq = 0;  // monitor-private: task_seq at the last tick

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

inline thread_local WorkerSlot* tls_worker = nullptr;

}  // namespace detail

using detail::CondVar;
using detail::kCacheLine;
using detail::Mutex;
using detail::MutexLock;
using detail::WorkerSlot;
namespace platform = detail::platform;

struct AutoscalingExecutor::Impl {
  explicit Impl(ExecutorOptions resolved);

  const ExecutorOptions options;
  const int cpus;
  moodycamel::ConcurrentQueue<Task> queue;

  alignas(kCacheLine) std::atomic<int64_t> pending{0};
  // Tasks given back from batches (give_back), counted in pending_: workers take them before the
  // queue's, so a task another one waits for does not queue again behind everything submitted
  // since. Rare; workers read the count (a line nobody writes meanwhile) before each take.
  alignas(kCacheLine) std::atomic<int64_t> returned_count{0};
  Mutex returned_mu;
  std::deque<Task> returned ABSL_GUARDED_BY(returned_mu);
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
  // Workers in a run of tasks that counts as computing (kInRun and no blocked/stuck mark).
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

  // Threads in wait_idle(). Workers read it when they run out of work (never per task).
  alignas(kCacheLine) std::atomic<int> idle_waiters{0};
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
  void account_marks(uint32_t before, uint32_t after);
  void set_mark(WorkerSlot& slot, uint32_t mark);
  void clear_mark(WorkerSlot& slot, uint32_t mark);

  // ---------------------------------------------------------------------------------------
  absl::Status submit(Task&& task);  // by reference: one move less per task

  // Called after work was published: brings one more worker to it if that helps. `backlog` is
  // how many tasks waited before it. The spinning searcher is trusted with one task (a backlog
  // wakes a parked worker despite it: the searcher was preempted), a batch role's holder with
  // fewer than kBatchTasks.
  void notify_work(int64_t backlog = 0);

  // Pops the most recently parked worker and wakes it. The counts move at the pop, so two
  // wakers never pick the same worker and a woken worker is counted active at once.
  bool wake_one();

  // Starts one worker if below max_threads; returns whether one was started.
  bool spawn_worker();

  void raise_high_water(int value);

  // Starts up to `limit` workers owed by the monitor. New workers call this too, so a large
  // burst of thread creation fans out as a tree instead of one serial loop.
  void spawn_from_debt(int limit);

  // Brings `count` more workers to waiting work: parked ones first, then new threads.
  void add_workers(int count);

  // ---------------------------------------------------------------------------------------
  void worker_main(WorkerSlot& slot);

  // A task's accounting window: the slot's sequence is odd from before the task leaves
  // pending_ until it has run (or been discarded) and its captures are destroyed.
  void begin_task(WorkerSlot& slot);
  void end_task(WorkerSlot& slot);

  // The worker stops counting as in a run of tasks (see kInRun).
  void leave_run(WorkerSlot& slot);

  void run_or_discard(WorkerSlot& slot, Task& task);

  // Destroys a dequeued task unrun (stop()).
  void discard(Task& task);

  void run_task(WorkerSlot& slot, Task& task);

  // Called where work may have run out (a worker found none, a refused submit, stop()):
  // wakes threads in wait_idle() to look again.
  void wake_idle_waiters();

  // The single searcher spins briefly for new work; returns with `task` filled if it found
  // some, `quick` telling whether within its first rounds. Others park at once: one spinner
  // (or the batch role's holder) is enough on a small machine.
  bool search(moodycamel::ConsumerToken& token, Task& task, bool& quick);

  // Whether this worker should step aside at a task boundary: too many compute at once.
  bool should_narrow() const {
    return effective_running() - unjudged.load(std::memory_order_relaxed) > cpus &&
           pending_count() > 0;
  }

  // Batches (batches.cpp). A found task feeds the worker's pace: a run of quickly found short
  // tasks switches it to batches.
  void note_quick_take(detail::StreamPace& pace);
  // Takes the next batch for a worker in batch mode, if it holds (or can take) the batch role;
  // first lets it gather if the last batch drained the queue. Returns how many it took; 0
  // leaves batch mode and the role.
  uint32_t take_batch(WorkerSlot& slot, moodycamel::ConsumerToken& token,
                      detail::StreamPace& pace);
  // The next task for a worker: a returned one first, else the queue's.
  bool dequeue(moodycamel::ConsumerToken& token, Task& task) {
    return (returned_count.load(std::memory_order_relaxed) > 0 && take_returned(task)) ||
           queue.try_dequeue(token, task);
  }
  bool take_returned(Task& task);
  // Claims and runs the next held task; false if none is left.
  bool run_held(WorkerSlot& slot);
  // Puts the slot's unclaimed tasks back in the queue and takes its search role back; returns
  // how many it re-queued. Any thread.
  uint32_t give_back(WorkerSlot& slot);
  // Takes the batch role unless another worker searches or holds it; true if it holds it.
  bool takes_batch_role(WorkerSlot& slot);
  void release_batch_role(WorkerSlot& slot);
  bool holds_batch_role(const WorkerSlot& slot) const {
    return searching.load(std::memory_order_relaxed) == detail::kBatchRole + slot.index;
  }
  // Tasks held in batches, summed over the slots (racy; the monitor's and stats' view).
  int64_t held_count() const;

  // Parks the worker until woken or idle_timeout passes. Returns whether to work, or to exit
  // because it retired after idle_timeout or because shutdown left nothing to do. The worker
  // is counted active again on return.
  ParkOutcome park(WorkerSlot& slot, bool narrowing);

  bool is_stopping_and_drained() const { return is_stopping() && pending_count() == 0; }

  void adapt_search_spin(int64_t parked_ns);

  // Removes `slot` from the idle stack if it is still there and counts it active again.
  bool unpark_self(WorkerSlot& slot);

  // An active worker that timed out decides to exit. folly's protocol: decrement, then
  // re-check for work that slipped in, and back out if there is some.
  bool try_retire();

  void exit_worker(WorkerSlot& slot, ParkOutcome outcome);

  // ---------------------------------------------------------------------------------------
  void request_monitor();

  // What the monitor watches over: queued tasks, held ones, and a batch role's holder (trusted
  // with tasks submits leave to it).
  bool has_watched_work() const {
    return pending_count() > 0 || held_count() > 0 ||
           searching.load() >= detail::kBatchRole;
  }

  void monitor_main();

  // One monitor pass: classify active workers as blocked or computing, then add workers for
  // waiting work. Returns how many workers it added.
  int tick(int64_t now, int64_t interval_ns, uint64_t& seq_sum);

  // ---------------------------------------------------------------------------------------
  // shutdown() and stop(): stop accepting, drain (run or, with `discard`, destroy) the queue,
  // join. A second call waits for the first to finish.
  absl::Status shutdown(bool discard);

  // stop(): destroys every queued task here, beside workers doing the same with what they take.
  void discard_queued();

  void join_all();

  // No task queued or running at one moment during the call. Reads pending_ and every slot's
  // sequence twice: a task is always counted in pending_ or shows in an odd sequence, and one
  // that started or ended between the reads changes its slot's sequence.
  bool is_idle() const;

  // wait_idle(): until no task is queued or running, or `deadline` (nullopt: forever).
  bool wait_idle_until(std::optional<std::chrono::steady_clock::time_point> deadline);

  bool any_live_worker() const;

  ExecutorStats stats() const;
};

}  // namespace fnhost

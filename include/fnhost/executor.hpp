// SPDX-License-Identifier: Apache-2.0
// File: fnhost/executor.hpp
// Executors run `fnhost::Task`s (move-only `void()` callables). Two implementations share the
// `Executor` interface:
//  - `AutoscalingExecutor`: a thread pool that starts from zero threads, adds threads when work
//    waits and no worker can take it — including when workers are blocked (sleeping, in I/O, on a
//    lock) — keeps CPU-bound work on about one thread per core, and reclaims idle threads after
//    `idle_timeout`. An idle executor makes no periodic wake-ups.
//  - `ManualExecutor`: queues tasks for a thread the program owns (a game loop) to run with
//    `run_one()` / `run_for(budget)`.
//
//   auto executor = fnhost::AutoscalingExecutor::create({.max_threads = 64}).value();
//   absl::Status accepted = executor->submit([] { do_work(); });
//   absl::Status idle = executor->wait_idle();   // everything ran; the executor stays usable
//   absl::Status done = executor->shutdown();    // runs what is queued, joins the threads
//
// A task that blocks for long can say so with `fnhost::BlockingScope`, so the executor adds a
// thread at once instead of detecting the block a millisecond later.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fnhost/task.hpp"

namespace fnhost {


// A point-in-time view of an executor's state. Each field is read atomically but without a
// common lock, in an order chosen so that these relations hold in every snapshot, even under
// load and while threads start, fail to start or exit:
//   threads <= peak_threads <= max_threads
//   spawned >= threads + reclaimed          (a thread is counted spawned before it is counted
//                                            alive, and stops being alive before it is counted
//                                            reclaimed; a failed creation is taken back)
//   completed, failed, discarded, spawned, reclaimed and the peaks never decrease from one
//   snapshot to the next (spawned excepted only while a failed creation is taken back)
// The instantaneous counts (busy, blocked, stuck, idle, queued) are each exact at some moment
// during the call, but not all at the same moment: `busy + idle` can differ from `threads` by
// the workers changing state, and a task can show in neither `queued` nor `busy` as it starts.
// To assert on several of them, wait until all hold at once rather than reading them once.
struct ExecutorStats {
  int64_t threads = 0;       // worker threads alive now, including ones being created
  int64_t busy = 0;          // workers running a task or about to take one
  int64_t blocked = 0;       // busy workers seen blocked (detected or BlockingScope)
  int64_t stuck = 0;         // busy workers whose task was declared stuck (past its deadline)
  int64_t idle = 0;          // workers parked waiting for work
  int64_t queued = 0;        // tasks submitted and not yet started
  int64_t spawned = 0;       // threads created (or being created) since construction
  int64_t reclaimed = 0;     // threads that exited after idle_timeout
  int64_t completed = 0;     // tasks that returned normally
  int64_t peak_threads = 0;  // highest `threads` seen
  // Highest number of workers at once running tasks while counted as computing: not inside a
  // BlockingScope, not marked stuck, and not detected blocked by the monitor. A worker counts
  // from the first task it takes until it finds no next one (so, between back-to-back tasks).
  // This is the count the executor keeps near cpu_count. A task that blocks without a BlockingScope
  // counts until the monitor sees it blocked (within about two monitor_intervals, and only while
  // work waits), so many short sleeping tasks can raise it above cpu_count; CPU-bound tasks do not.
  int64_t peak_running = 0;
  int64_t failed = 0;     // tasks that ended by throwing (the exception was dropped)
  int64_t discarded = 0;  // queued tasks destroyed unrun by stop()
};

// Identifies one task while it runs: which worker runs it and which of that worker's tasks it
// is, so a mark made after the task ended (a late deadline) finds nothing to mark. Empty
// (`!task`) when the calling thread is not running a task of the executor asked.
struct RunningTask {
  const void* worker = nullptr;
  uint64_t sequence = 0;
  explicit operator bool() const { return worker != nullptr; }
};

// What an executor can do beyond running tasks. A Host adapts to it; an executor a program
// supplies (a game engine's job system) declares what it implements.
struct ExecutorTraits {
  // Tasks run on a thread the program pumps (ManualExecutor::run_one / run_for). A Host then
  // runs one invocation per task, so one pump step is one invocation; otherwise a Host task
  // runs invocations back to back for up to about a millisecond.
  bool pumped = false;
  // current_task() and mark_stuck() are implemented. Without them a Host still answers a
  // timed-out caller at its deadline, but the executor does not learn that the thread is
  // stuck and so adds no thread to replace it.
  bool tracks_stuck_tasks = false;
};

// The interface `Host` runs invocations on. Implement submit, stats, help_one and shutdown;
// the rest have defaults that do nothing (see ExecutorTraits for what a Host loses then).
//
// Exceptions: a task that throws is caught on the executor's thread; the exception is dropped
// and the task counted in `ExecutorStats::failed` instead of `completed`. No exception ever
// leaves a worker thread or the thread pumping a ManualExecutor. (A Host's invocations catch and
// report their own exceptions before this.)
//
// wait_idle() and stop() are on the two executors below, not on this interface: an executor a
// program supplies could not implement them from the other methods, so a default would lie.
class Executor {
 public:
  virtual ~Executor() = default;

  // Queues `task` to run once, later, on one of the executor's threads. InvalidArgument if
  // `task` is empty (a default-constructed Task, nullptr or a null function pointer);
  // Unavailable after shutdown() or stop(); ResourceExhausted if the executor has no thread and
  // cannot create one. On error `task` is destroyed without running. Thread-safe; never blocks
  // on other tasks.
  [[nodiscard]] virtual absl::Status submit(Task task) = 0;

  // A snapshot of the executor's counters. Thread-safe, lock-free.
  [[nodiscard]] virtual ExecutorStats stats() const = 0;

  // Runs one queued task on the calling thread if this executor lets a waiting caller help
  // (ManualExecutor); returns whether a task ran. AutoscalingExecutor returns false at once.
  // Used by code that waits for work queued on the same executor (`Context::invoke`).
  virtual bool help_one() = 0;

  // Stops accepting tasks (tasks submitted by the draining tasks are refused too), runs every
  // task already queued, and returns when no task is left queued or running. Joins the executor's
  // threads. Idempotent: a second call returns OK at once. FailedPrecondition, doing nothing, when
  // called from one of this executor's own tasks (it would wait for itself).
  [[nodiscard]] virtual absl::Status shutdown() = 0;

  // What this executor implements beyond the required methods. Thread-safe, constant.
  [[nodiscard]] virtual ExecutorTraits traits() const { return {}; }

  // The task the calling thread is running for this executor; empty on any other thread.
  // Thread-safe, lock-free.
  [[nodiscard]] virtual RunningTask current_task() const { return {}; }

  // Declares `task` stuck (it overran its deadline and was asked to stop): its thread stops
  // counting as running, so an autoscaling executor replaces its capacity if work waits. The
  // mark clears when the task returns; a no-op if the task already ended or `task` is empty.
  // Thread-safe; never blocks; may be called from any thread.
  virtual void mark_stuck(const RunningTask& task) { (void)task; }
};

// Configuration of an AutoscalingExecutor. Validated by AutoscalingExecutor::create().
struct ExecutorOptions {
  // Threads kept alive when idle, 0..max_threads. 0 scales to zero.
  int min_threads = 0;
  // Hard cap on worker threads, 1..4096. Every worker counts against it, including blocked and
  // stuck ones: when all max_threads workers are blocked, further tasks wait in the queue.
  int max_threads = 256;
  // How long a parked worker waits for work before exiting (while threads > min_threads). > 0;
  // absl::InfiniteDuration() keeps every thread once created.
  absl::Duration idle_timeout = absl::Seconds(2);
  // Stack size of each worker thread in bytes; 0 takes the platform default. >= 64 KiB otherwise.
  std::size_t stack_size = 512 * 1024;
  // CPUs the executor may keep busy with computing workers; 0 detects the CPUs this process may
  // run on: its affinity mask, lowered to its cgroup v2 CPU quota rounded up (a container with
  // `cpu.max` "150000 100000" gets 2). CPU-bound work runs on about this many threads.
  int cpu_count = 0;
  // Worker threads are named `<thread_name_prefix><index>` where the platform allows.
  std::string thread_name_prefix = "fnhost-w";
  // How often the monitor looks for blocked workers while work waits, 100us..1s. The monitor
  // thread exists only while tasks run and sleeps without a timer when the executor is idle.
  absl::Duration monitor_interval = absl::Milliseconds(1);
  // Nice value of every worker (and of the monitor), -20..19. Unset: the nice value of the
  // thread that calls create(). Each worker sets it itself when it starts, so a worker does not
  // take the priority of whichever thread happened to create it (Linux passes a creating
  // thread's nice on to the new thread, and submit() or the monitor create workers). Linux only
  // (nice is per thread there); elsewhere ignored. Lowering a nice value below the creating
  // thread's needs CAP_SYS_NICE or RLIMIT_NICE; without it that worker keeps the inherited one.
  std::optional<int> nice;
};

namespace detail {
// Implementation types in src/executor, declared only to be named as friends below.
struct WorkerSlot;
struct RunningFrame;
}  // namespace detail

// The autoscaling thread pool. See the file comment for its policy.
class AutoscalingExecutor final : public Executor {
 public:
  // Creates an executor; starts `min_threads` workers. InvalidArgument names the bad option;
  // ResourceExhausted if the initial threads cannot be created (then none is left running).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<AutoscalingExecutor>> create(
      ExecutorOptions options = {});

  // Runs the queued tasks, then joins every thread (same as shutdown()). Must not run on one of
  // this executor's own threads.
  ~AutoscalingExecutor() override;
  AutoscalingExecutor(const AutoscalingExecutor&) = delete;
  AutoscalingExecutor& operator=(const AutoscalingExecutor&) = delete;

  // Lock-free: an enqueue and a few atomic operations; wakes one parked worker or creates a
  // thread only when no worker is looking for work. Tasks from one submitting thread are taken
  // in submission order (with max_threads = 1 they also start in it); across threads no order
  // is promised.
  [[nodiscard]] absl::Status submit(Task task) override;
  [[nodiscard]] ExecutorStats stats() const override;
  bool help_one() override { return false; }
  // See Executor::shutdown(). Blocks until the running tasks return.
  [[nodiscard]] absl::Status shutdown() override;

  // Like shutdown(), but destroys the queued tasks without running them (their captures are
  // released on the calling thread or a worker, outside any executor lock) and counts them in
  // `ExecutorStats::discarded`. Running tasks finish; their submits are refused. Joins every
  // thread. Idempotent; after shutdown() it does nothing. FailedPrecondition, doing nothing,
  // from one of this executor's own tasks. Blocks until the running tasks return.
  [[nodiscard]] absl::Status stop();

  // Blocks until no task is queued or running, including tasks submitted (by tasks or other
  // threads) while it waits. The executor keeps accepting and stays usable. Returns at once if
  // the executor is idle. FailedPrecondition from one of this executor's own tasks (that task
  // counts as running, so it would wait for itself). Thread-safe; any number of waiters.
  [[nodiscard]] absl::Status wait_idle();
  // Like wait_idle() but gives up after `timeout` (absl::InfiniteDuration() waits forever).
  // Returns whether the executor was idle; false at once from one of its own tasks.
  [[nodiscard]] bool wait_idle_for(absl::Duration timeout);

  // {.pumped = false, .tracks_stuck_tasks = true}.
  [[nodiscard]] ExecutorTraits traits() const override;
  [[nodiscard]] RunningTask current_task() const override;
  void mark_stuck(const RunningTask& task) override;

  // The options after defaults were resolved (cpu_count detected, nice captured).
  [[nodiscard]] const ExecutorOptions& options() const;

 private:
  struct Impl;
  // Implementation types in src/executor that name Impl.
  friend struct detail::WorkerSlot;
  friend class BlockingScope;

  explicit AutoscalingExecutor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Declares that the calling thread is about to block (sleep, I/O, wait on a lock) for the
// scope's lifetime. On an AutoscalingExecutor worker with work waiting, a replacement worker
// starts at once; elsewhere it does nothing. Nestable; cheap (a few atomic operations).
class BlockingScope {
 public:
  BlockingScope();
  ~BlockingScope();
  BlockingScope(const BlockingScope&) = delete;
  BlockingScope& operator=(const BlockingScope&) = delete;

 private:
  void* worker_;
};

// An executor pumped by a thread the program owns. submit() is thread-safe and never runs the
// task; run_one(), run_for(), run_queued() and run_pending() run tasks on the calling thread.
// Tasks submitted from one thread run in submission order. A task may call back into its
// executor (submit, run_one, stats); shutdown(), stop() and wait_idle() from one of its own
// tasks are refused with FailedPrecondition.
class ManualExecutor final : public Executor {
 public:
  ManualExecutor();
  // Destroys the still-queued tasks without running them; call run_pending() first to run them.
  ~ManualExecutor() override;
  ManualExecutor(const ManualExecutor&) = delete;
  ManualExecutor& operator=(const ManualExecutor&) = delete;

  // See Executor::submit(). Never blocks beyond a short lock.
  [[nodiscard]] absl::Status submit(Task task) override;
  [[nodiscard]] ExecutorStats stats() const override;
  bool help_one() override { return run_one(); }
  // Stops accepting and runs every queued task on the calling thread, then waits for tasks
  // other threads are running. FailedPrecondition from one of this executor's own tasks.
  [[nodiscard]] absl::Status shutdown() override;
  // {.pumped = true}: stuck tasks are not tracked (the pumping thread is the only thread).
  [[nodiscard]] ExecutorTraits traits() const override { return {.pumped = true}; }

  // Stops accepting and destroys the queued tasks without running them (outside the lock),
  // counting them in `ExecutorStats::discarded`; then waits for tasks other threads are running.
  // Idempotent. FailedPrecondition, doing nothing, from one of this executor's own tasks.
  [[nodiscard]] absl::Status stop();

  // Runs the oldest queued task, if any, on the calling thread; returns whether one ran.
  bool run_one();
  // Runs queued tasks until none is left or `budget` is spent (checked between tasks; a task
  // that started runs to its end). Returns how many ran. Does not wait for new tasks.
  // absl::InfiniteDuration() runs until the queue is empty.
  int run_for(absl::Duration budget);
  // Runs the tasks that were queued when it was called, oldest first, and returns how many ran.
  // Tasks queued meanwhile (by these tasks or other threads) wait for the next call, so a frame
  // of a game loop does a bounded amount of work even when tasks re-queue themselves.
  int run_queued();
  // Runs queued tasks, including ones they queue, until none is left. Returns how many ran.
  int run_pending();
  // Runs queued tasks on the calling thread, including ones they queue, and waits for tasks
  // other pumping threads are running, until no task is queued or running. The executor stays
  // usable. FailedPrecondition from one of its own tasks.
  [[nodiscard]] absl::Status wait_idle();
  // Like wait_idle() but gives up after `timeout` (checked between tasks, and while waiting for
  // other threads' tasks). Returns whether the executor was idle; false at once from one of
  // its own tasks.
  [[nodiscard]] bool wait_idle_for(absl::Duration timeout);
  // Tasks queued and not yet run.
  [[nodiscard]] int64_t queued() const;

 private:
  struct Impl;
  // Implementation type in src/executor that names Impl.
  friend struct detail::RunningFrame;

  std::unique_ptr<Impl> impl_;
};

}  // namespace fnhost

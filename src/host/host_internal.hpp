// SPDX-License-Identifier: Apache-2.0
// The host's internal types: a function's stable slot and its versions, instances, one
// invocation's record, and the shared completion state. Shared by host.cpp, context.cpp,
// completion.cpp and deadline_watcher.cpp; not installed.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "concurrentqueue/concurrentqueue.h"
#include "fnhost/detail/sync.hpp"
#include "fnhost/function.hpp"
#include "observability/histogram.hpp"
#include "fnhost/executor.hpp"

namespace fnhost {
struct HostCore;

namespace detail {

// Debian's Abseil has its own string_view; fmt and the public API speak std::string_view.
inline std::string_view std_view(absl::string_view view) { return {view.data(), view.size()}; }

// One initialised copy of a function version: what its init returned.
struct Instance {
  std::shared_ptr<void> state;
};

// An immutable registration of a function (one version) plus its pool of idle instances.
// Invocations hold a shared_ptr to the version they run on, so a hot swap or removal never
// pulls code from under a running handler.
struct FunctionVersion {
  FunctionSpec spec;
  int64_t number = 0;

  mutable SpinLock pool_mu;
  // LIFO: the most recently used (warmest) instance is reused first.
  mutable std::vector<std::unique_ptr<Instance>> idle_instances ABSL_GUARDED_BY(pool_mu);
  mutable std::atomic<int64_t> live_instances{0};
};

// Everything the host keeps for one function name, for the host's lifetime. Slots are never
// freed while the host lives (a removed name keeps its slot for re-registration and for the
// invocations still queued), which is what lets the hot path use raw slot pointers.
struct FunctionSlot {
  std::string name;
  int index = 0;
  HostCore* host = nullptr;

  // The latest published version, read lock-free when an invocation starts; kept after
  // removal so accepted invocations still run. Owned by `owner` (and, once replaced, by
  // `retired` until no invocation of this function runs), both under the registration mutex.
  std::atomic<const FunctionVersion*> latest{nullptr};
  std::shared_ptr<const FunctionVersion> owner;
  std::vector<std::shared_ptr<const FunctionVersion>> retired;
  // The current version's number; 0 when the function is not registered (never or removed).
  // What admission checks, so it never touches `latest`.
  std::atomic<int64_t> live_version{0};
  // Mirrors the current version's limits so admission reads plain atomics.
  std::atomic<int> max_concurrency{0};
  std::atomic<int> max_queued{0};
  // Whether its last invocation ran under HostCore::kShortInvocationNs: turns may then claim a
  // batch. Written only when it changes, so it stays a read-mostly line.
  std::atomic<bool> runs_short{false};
  std::atomic<int64_t> version_numbers{0};  // the last version number handed out

  // Accepted invocations waiting to start. Capacity 0: blocks are allocated on first use, not
  // ~2 KiB up front for every function.
  moodycamel::ConcurrentQueue<struct Invocation*> queue{0};
  // Queued invocations (low 32 bits) and running ones (high 32 bits) in one word, so a runner
  // checks the concurrency limit and claims an invocation in one step. An admission counts
  // itself before its record is in `queue`, so a claimer may have to wait a moment for it.
  alignas(kCacheLine) std::atomic<uint64_t> state{0};
  // Runner tasks submitted on this function's behalf that have not started: what the executor
  // sees of this function's backlog (see HostCore::add_runners).
  std::atomic<int> waiting_runners{0};
  std::atomic<bool> in_ring{false};  // listed in the host's round-robin ring
  // Admissions so far (numbers the invocations): on this line, which admission writes anyway,
  // not with the counters the workers write.
  std::atomic<int64_t> invocations{0};

  static constexpr uint64_t kOneRunning = uint64_t{1} << 32;
  static uint32_t queued_of(uint64_t word) { return static_cast<uint32_t>(word); }
  static uint32_t running_of(uint64_t word) { return static_cast<uint32_t>(word >> 32); }
  // How many queued invocations may start now under `limit` (0 = no limit).
  static int64_t startable(uint64_t word, int limit) {
    const int64_t queued = queued_of(word);
    if (limit <= 0) return queued;
    return std::max<int64_t>(0, std::min<int64_t>(queued, limit - int64_t{running_of(word)}));
  }

  // Counters (relaxed: metrics).
  alignas(kCacheLine) std::atomic<int64_t> successes{0};
  std::atomic<int64_t> errors{0};
  std::atomic<int64_t> throttles{0};
  std::atomic<int64_t> timeouts{0};
  std::atomic<int64_t> cold_starts{0};
  std::atomic<int64_t> late_results{0};
  std::atomic<int64_t> dropped{0};
  DurationHistogram duration;
  DurationHistogram init_duration;
};

// Cancellation of one invocation: a flag for polling, and a mutex and condition variable for
// handlers that sleep through CancellationToken::wait_for — created by the first such wait,
// since most invocations never wait and the record should stay small.
struct CancelState {
  struct Waiter {
    Mutex mu;
    CondVar cv;
  };

  std::atomic<bool> cancelled{false};
  std::atomic<Waiter*> waiter{nullptr};

  CancelState() = default;
  CancelState(const CancelState&) = delete;
  CancelState& operator=(const CancelState&) = delete;
  ~CancelState() { delete waiter.load(); }

  // Set the flag, then look for a waiter; a waiter installs itself, then checks the flag
  // (both seq_cst): either we see it and wake it, or it sees the flag.
  void cancel() {
    cancelled.store(true);
    if (Waiter* current = waiter.load()) {
      { MutexLock lock(current->mu); }
      current->cv.notify_all();
    }
  }
  Waiter& get_waiter() {
    Waiter* current = waiter.load();
    if (current != nullptr) return *current;
    auto* fresh = new Waiter();
    if (waiter.compare_exchange_strong(current, fresh)) return *fresh;
    delete fresh;
    return *current;
  }
};

// The answer to a synchronous invocation, delivered once.
class CompletionState {
 public:
  // Stores `result` and runs the callbacks; false (and nothing changes) if already complete.
  bool complete(Result result);
  bool is_ready() const { return ready_.load(std::memory_order_acquire); }
  const Result& wait() const;
  bool wait_until(std::chrono::steady_clock::time_point deadline) const;
  void add_callback(absl::AnyInvocable<void(const Result&)> callback);

 private:
  mutable Mutex mu_;
  mutable CondVar cv_;
  std::atomic<bool> ready_{false};
  // Written once under mu_ before ready_ is set (release); read freely once ready_ is seen.
  Result result_;
  std::vector<absl::AnyInvocable<void(const Result&)>> callbacks_ ABSL_GUARDED_BY(mu_);
};

// One invocation, from admission to its last reference. Reference-counted: the queue/runner,
// the deadline watcher, and the Context's nested calls each hold one while they use it.
//
// 192 bytes, grouped by who writes what: admission the first 64, the runner the rest. A
// record crosses from the admitting core to a worker's core, so every line it spans is a
// cache miss there; each field is written by whoever needs it (see begin_admission,
// begin_run), not all at once when the record is recycled. (Not alignas(64): aligned new
// takes glibc's memalign path, whose arena lock made workers sleep under load.)
struct Invocation {
  // Line 1: admission.
  FunctionSlot* slot = nullptr;
  uint64_t sequence = 0;  // per function; with the slot index, the invocation id
  // The event, compactly: most events carry only data, so the other attributes live in a
  // separate allocation only when set. execute() reassembles the Event the handler sees.
  std::string data;
  std::unique_ptr<Event> full_event;
  bool is_async = false;
  bool cold_start = false;
  // Exactly one of {handler result, deadline, shutdown} answers the invocation.
  std::atomic<bool> answered{false};
  std::atomic<int> references{1};

  // Line 2: admission (completion, cancel) and the runner.
  std::shared_ptr<CompletionState> completion;  // sync only
  CancelState cancel;
  // The version it runs on: the latest one when it starts. Kept alive by the slot while the
  // invocation counts as running.
  const FunctionVersion* version = nullptr;
  int64_t start_ns = 0;
  int64_t deadline_ns = 0;
  Instance* instance = nullptr;

  // Line 3: the runner and the deadline watcher.
  RunningTask worker;  // the executor task running it, for Executor::mark_stuck
  // Deadline watcher linkage, guarded by the watcher shard's lock.
  Invocation* watch_prev = nullptr;
  Invocation* watch_next = nullptr;
  int watch_shard = -1;  // -1 once unlinked
  int watch_home = 0;    // the shard watch() used; written by the running thread only
  Invocation* pool_next = nullptr;  // InvocationPool's free lists

  bool try_claim_answer() { return !answered.exchange(true, std::memory_order_acq_rel); }
  void add_reference() { references.fetch_add(1, std::memory_order_relaxed); }
  // Drops a reference; the last one returns the record to the InvocationPool.
  void release();

  // Admission's part of making a record new: the answer, cancellation and reference count.
  void begin_admission() {
    answered.store(false, std::memory_order_relaxed);
    cancel.cancelled.store(false, std::memory_order_relaxed);
    references.store(1, std::memory_order_relaxed);
  }
  // The runner's part, as the invocation starts on `runs_on`.
  void begin_run(const FunctionVersion* runs_on, int64_t start, int64_t deadline) {
    version = runs_on;
    start_ns = start;
    deadline_ns = deadline;
    instance = nullptr;
    cold_start = false;
  }
  // On recycling: lets go of what the record owns (payload, event, completion), keeping the
  // payload's capacity (bounded).
  void release_payload();
};

}  // namespace detail
}  // namespace fnhost

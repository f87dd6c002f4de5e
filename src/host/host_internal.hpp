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
#include "common/sync.hpp"
#include "concurrentqueue/concurrentqueue.h"
#include "fnhost/executor.hpp"
#include "fnhost/function.hpp"
#include "host/timer_service.hpp"
#include "observability/histogram.hpp"
#include "security/event_validation.hpp"
#include "security/rate_gate.hpp"

namespace fnhost {
struct HostCore;

namespace detail {

// Debian's Abseil has its own string_view; fmt and the public API speak std::string_view.
inline std::string_view std_view(absl::string_view view) { return {view.data(), view.size()}; }

// A caller-supplied name as a status message quotes it: in double quotes, and cut to a bounded
// prefix with its full length, so a hostile 64 MiB name never becomes a 64 MiB message.
std::string quoted(std::string_view name);

// One initialised copy of a function version: what its init returned.
struct Instance {
  InstanceState state;
};

struct FunctionSlot;
struct Principal;
class IdempotencyTable;

// The events of one batch invocation, shared with its retries.
using BatchItems = std::vector<std::shared_ptr<const Event>>;
// Items of a batch its handler failed (Context::fail_batch_item): index and error.
using ItemFailures = std::vector<std::pair<size_t, absl::Status>>;

// Where an asynchronous event stands across its attempts, handed from attempt to attempt; and
// what a handler's call passes to its callee (chain_depth, budget_ns).

struct Lineage {
  int64_t accepted_ns = 0;  // host coarse time when first accepted (set by admission if fresh)
  int64_t budget_ns = 0;    // each attempt's timeout is at most this; 0: no limit
  int32_t attempt = 1;      // this attempt's number
  int32_t throttles = 0;    // capacity refusals so far (they use no attempt)
  int32_t chain_depth = 0;  // calls between the outside caller and this invocation
  bool fresh = true;        // not yet accepted: admission counts it and stamps accepted_ns
  bool owns_key = false;    // holds its function's idempotency record for its key
  // Who it runs for (security/principals.hpp): the caller, a trigger's or schedule's owner, or
  // what its caller ran as; null: the host itself, which no policy restricts.
  const Principal* principal = nullptr;
};

// An immutable registration of a function (one version) plus its pool of idle instances.
//
// Lifetime: pinned by every invocation that runs (or is about to run) on it, and owned by its
// slot while it is the latest version. Once replaced (update_function) or released after
// remove_function it is retired, and the last unpin deletes it — with its idle instances, whose
// destructors close what init opened — so an always-busy function does not keep old versions.
struct FunctionVersion {
  FunctionSpec spec;
  int64_t number = 0;
  // spec.retry.max_event_age, for the check at each asynchronous start.
  int64_t max_event_age_ns = 0;
  // Whether spec.on_success or on_failure is set.
  bool has_destination = false;
  // What its handlers' Context calls run as: spec.identity, or the principal that registered it
  // through a Caller; null: each invocation's own principal.
  const Principal* identity = nullptr;
  // Set when published; instances count into its live_instances (FunctionStats::instances).
  FunctionSlot* slot = nullptr;

  mutable SpinLock pool_mu;
  // LIFO: the most recently used (warmest) instance is reused first.
  mutable std::vector<std::unique_ptr<Instance>> idle_instances ABSL_GUARDED_BY(pool_mu);

  FunctionVersion() = default;
  FunctionVersion(const FunctionVersion&) = delete;
  FunctionVersion& operator=(const FunctionVersion&) = delete;
  // Destroys the idle instances (user destructors may run here: never under an fnhost lock).
  ~FunctionVersion();

  // Pins `count` invocations to this version. Only under the host's ring lock, which retiring
  // the latest version also takes, so a version is never pinned after it was freed.
  void pin(int count) const { pins_.fetch_add(static_cast<uint64_t>(count)); }
  // Drops `count` pins; true when that was the last use of a retired version: the caller
  // deletes it.
  [[nodiscard]] bool unpin(int count) const {
    const uint64_t n = static_cast<uint64_t>(count);
    return pins_.fetch_sub(n) == (kRetired | n);
  }
  // Gives up the slot's ownership; true when nothing pins it: the caller deletes it.
  [[nodiscard]] bool retire() const { return pins_.fetch_or(kRetired) == 0; }

 private:
  static constexpr uint64_t kRetired = uint64_t{1} << 63;
  mutable std::atomic<uint64_t> pins_{0};
};

// Deletes `version` if `last_use` says it is no longer used (see FunctionVersion).
inline void delete_if_unused(const FunctionVersion* version, bool last_use) {
  if (last_use) delete version;
}

// Everything the host keeps for one function name, for the host's lifetime. Slots are never
// freed while the host lives (a removed name keeps its slot, ~1 KiB with its counters, plus its
// histograms' buckets once it has run, for re-registration and for the invocations still
// queued), which is what lets the hot path use raw slot pointers.
struct FunctionSlot {
  std::string name;
  int index = 0;
  HostCore* host = nullptr;

  ~FunctionSlot();

  // The latest published version, read when invocations are claimed (under the ring lock) and
  // by the registry (under the registration lock); kept after removal while invocations are
  // queued, so accepted invocations still run, then released. Owned as FunctionVersion says.
  std::atomic<const FunctionVersion*> latest{nullptr};
  // The current version's number; 0 when the function is not registered (never or removed).
  std::atomic<int64_t> live_version{0};
  // Mirrors the current version's limits so admission reads plain atomics.
  std::atomic<int> max_concurrency{0};
  std::atomic<int> max_queued{0};
  // FunctionSpec::rate_limit's bucket: every admission takes a token while it is limited.
  RateGate rate_gate;
  // Whether its last invocation ran under HostCore::kShortInvocationNs: turns may then claim a
  // batch. Written only when it changes, so it stays a read-mostly line.
  std::atomic<bool> runs_short{false};
  std::atomic<int64_t> version_numbers{0};  // the last version number handed out
  // Instances alive, of every version still alive (idle + busy).
  std::atomic<int64_t> live_instances{0};

  // Accepted invocations waiting to start. Capacity 0: blocks are allocated on first use, not
  // ~2 KiB up front for every function.
  moodycamel::ConcurrentQueue<struct Invocation*> queue{0};
  // Queued invocations (bits 0-30), a closed flag (bit 31) and running ones (bits 32-63) in one
  // word. Admission counts an invocation with a compare-and-swap that first checks the flag and
  // max_queued, so a refused invocation is never counted, not even for a moment; a runner
  // checks the concurrency limit and claims an invocation in one step. An admitted invocation
  // is counted just before its record is in `queue`, so a claimer may wait a moment for it.
  alignas(kCacheLine) std::atomic<uint64_t> state{0};
  // Runner tasks submitted on this function's behalf that have not started: what the executor
  // sees of this function's backlog (see HostCore::add_runners).
  std::atomic<int> waiting_runners{0};
  std::atomic<bool> in_ring{false};  // listed in the host's round-robin ring
  // Admissions so far (numbers the invocations), and asynchronous events accepted: on this
  // line, which admission writes anyway, not with the counters the workers write.
  std::atomic<int64_t> invocations{0};
  // Of those, synchronous ones and re-admissions of waiting events: FunctionStats derives the
  // asynchronous events accepted from these, so invoke_async pays no counter of its own.
  std::atomic<int64_t> sync_invocations{0};
  std::atomic<int64_t> readmissions{0};
  // Lineage::accepted_ns of the invocation queued into an empty queue or taken by a runner
  // last: FunctionStats::oldest_queued_age reads its age while invocations are queued.
  std::atomic<int64_t> head_accepted_ns{0};

  static constexpr uint64_t kQueuedMask = (uint64_t{1} << 30) - 1;
  // Set by remove_function (cleared by a new registration): admission answers NotFound, and
  // the queued count can only fall, so the last version is released once it reaches 0.
  static constexpr uint64_t kRemoved = uint64_t{1} << 30;
  // Set by shutdown: admission refuses from then on.
  static constexpr uint64_t kClosed = uint64_t{1} << 31;
  static constexpr uint64_t kOneRunning = uint64_t{1} << 32;
  static uint32_t queued_of(uint64_t word) { return static_cast<uint32_t>(word & kQueuedMask); }
  static uint32_t running_of(uint64_t word) { return static_cast<uint32_t>(word >> 32); }
  static bool is_closed(uint64_t word) { return (word & kClosed) != 0; }
  static bool is_removed(uint64_t word) { return (word & kRemoved) != 0; }
  // How many queued invocations may start now under `limit` (0 = no limit).
  static int64_t startable(uint64_t word, int limit) {
    const int64_t queued = queued_of(word);
    if (limit <= 0) return queued;
    return std::max<int64_t>(0, std::min<int64_t>(queued, limit - int64_t{running_of(word)}));
  }

  // Counters (relaxed: metrics). Successes of asynchronous events and of synchronous calls are
  // apart, so an event's success costs one increment; FunctionStats::successes adds them.
  alignas(kCacheLine) std::atomic<int64_t> sync_successes{0};
  std::atomic<int64_t> events_succeeded{0};
  std::atomic<int64_t> errors{0};
  std::atomic<int64_t> throttles{0};
  std::atomic<int64_t> timeouts{0};
  std::atomic<int64_t> cold_starts{0};
  std::atomic<int64_t> late_results{0};
  std::atomic<int64_t> validation_failures{0};
  std::atomic<int64_t> rate_limited{0};
  std::atomic<int64_t> dropped{0};
  DurationHistogram duration;
  DurationHistogram init_duration;
  // Reliable delivery's counters (see FunctionStats).
  std::atomic<int64_t> events_dead_lettered{0};
  std::atomic<int64_t> dead_letters_lost{0};
  std::atomic<int64_t> retries{0};
  std::atomic<int64_t> throttle_requeues{0};
  // Events accepted straight into the retry queue (a fan-out its queue refused).
  std::atomic<int64_t> accepted_waiting{0};
  std::atomic<int64_t> duplicates{0};
  std::atomic<int64_t> destination_errors{0};
  std::atomic<int64_t> redriven{0};

  // The current version's retry policy and idempotency window, for the paths that hold no
  // version: re-queueing a refused event, admitting an event with a key.
  RetryPolicy retry_policy() const {
    SpinLockHolder lock(policy_mu);
    return retry_policy_;
  }
  void set_retry_policy(const RetryPolicy& policy) {
    SpinLockHolder lock(policy_mu);
    retry_policy_ = policy;
  }
  std::atomic<int64_t> idempotency_window_ns{0};
  // Created by the first event with an idempotency key; owned.
  std::atomic<IdempotencyTable*> idempotency{nullptr};
  IdempotencyTable& idempotency_table();
  // The current version's secret env values (FunctionSpec::secret_env), longest first, for
  // redacting this function's log records; null when it has none.
  std::shared_ptr<const std::vector<std::string>> secrets() const {
    SpinLockHolder lock(policy_mu);
    return secrets_;
  }
  void set_secrets(std::shared_ptr<const std::vector<std::string>> secrets) {
    SpinLockHolder lock(policy_mu);
    secrets_ = std::move(secrets);
  }

 private:
  mutable SpinLock policy_mu;
  RetryPolicy retry_policy_ ABSL_GUARDED_BY(policy_mu);
  std::shared_ptr<const std::vector<std::string>> secrets_ ABSL_GUARDED_BY(policy_mu);
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
  using Callback = absl::AnyInvocable<void(const Result&)>;
  using Callbacks = std::vector<Callback>;

  // Stores `result`, wakes waiters and runs the callbacks on this thread; false (and nothing
  // changes) if already complete.
  bool complete(Result result);
  // Stores `result` and wakes waiters, but hands the callbacks (user code) back to the caller
  // to run elsewhere with run_callbacks(): the timer thread answers a deadline on time and
  // never runs user code. Empty if already complete or none were registered.
  Callbacks complete_without_callbacks(Result result);
  // Runs callbacks taken by complete_without_callbacks(); an exception one throws is dropped.
  void run_callbacks(Callbacks& callbacks) const;
  bool is_ready() const { return ready_.load(std::memory_order_acquire); }
  const Result& wait() const;
  bool wait_until(std::chrono::steady_clock::time_point deadline) const;
  void add_callback(Callback callback);
  // The result for `Completion::get() &&`: moved out when the caller holds the only
  // Completion handle (nobody else can read it), copied otherwise. Waits for it first.
  Result take() const;

  // Completion handles referring to this state (the host's own reference is not one).
  void add_handle() const { handles_.fetch_add(1, std::memory_order_relaxed); }
  void drop_handle() const { handles_.fetch_sub(1, std::memory_order_acq_rel); }

 private:
  bool store(Result& result, Callbacks& callbacks);

  mutable Mutex mu_;
  mutable CondVar cv_;
  std::atomic<bool> ready_{false};
  mutable std::atomic<int> handles_{0};
  // Written once under mu_ before ready_ is set (release); read freely once ready_ is seen
  // (take() moves it out only for the last handle).
  mutable Result result_;
  Callbacks callbacks_ ABSL_GUARDED_BY(mu_);
};

// One invocation, from admission to its last reference. Reference-counted: the queue/runner,
// a firing deadline, shutdown, and the Context's nested calls each hold one while they use it.
//
// Its deadline timer is its base (the timer service links records, not wrappers). Fields are
// grouped by writer: the timer links, admission, then the runner. A record crosses from the
// admitting core to a worker's core, so each field is written by whoever needs it (see
// begin_admission, begin_claim, begin_run), not all at once when the record is recycled.
// (Not alignas(64): aligned new takes glibc's memalign path, whose arena lock made workers
// sleep under load.)
struct Invocation : TimerNode {
  // Where an invocation is between being claimed by a runner and ending. The runner moves it
  // kClaimed -> kRunning to start it; after the shutdown deadline, shutdown moves a claimed one
  // kClaimed -> kAbandoned (dropped, never runs). One compare-and-swap decides, so shutdown's
  // report says exactly which invocations never ran.
  enum Stage : int { kClaimed = 0, kRunning = 1, kAbandoned = 2 };

  // Admission.
  FunctionSlot* slot = nullptr;
  uint64_t sequence = 0;  // per function; with the slot index, the invocation id
  // The event, compactly: most events carry only data, so the other attributes live in a
  // separate allocation only when set, shared and immutable (publish gives every subscriber
  // the same one). execute() hands the handler `*event`, or an Event around `data`.
  std::string data;
  std::shared_ptr<const Event> event;
  // A batch invocation's events (then `event` is the batch's summary), and the items its
  // handler failed; null otherwise.
  std::shared_ptr<const BatchItems> batch;
  std::unique_ptr<ItemFailures> item_failures;
  bool is_async = false;
  bool cold_start = false;
  // Only with observers installed: whether its records and span are kept, decided as it is
  // admitted on the telemetry queue's fill then. (Beside the other flags: no padding of its own.)
  bool keeps_records = false;
  // Bytes it counts against HostLimits::max_queued_bytes until it is taken from its queue.
  int64_t queued_bytes = 0;
  Lineage lineage;
  // Calls its handler made through Context (HostLimits::max_calls_per_invocation).
  int64_t context_calls = 0;
  // Exactly one of {handler result, deadline, shutdown} answers the invocation, and says so
  // here (an Answer), so the runner can tell observers how it ended.
  enum Answer : uint8_t { kUnanswered = 0, kByResult, kByTimeout, kByShutdown };
  std::atomic<uint8_t> answered{kUnanswered};
  std::atomic<int> references{1};
  std::atomic<int> stage{kClaimed};
  // Set once the result or timeout answer reached the caller: what shutdown waits for before
  // it reports an invocation that ended during the shutdown as completed.
  std::atomic<bool> delivered{false};

  std::shared_ptr<CompletionState> completion;  // sync only
  CancelState cancel;
  // The runner: the version it runs on, pinned from its claim until it ends.
  const FunctionVersion* version = nullptr;
  int64_t start_ns = 0;
  int64_t deadline_ns = 0;
  Instance* instance = nullptr;
  RunningTask worker;  // the executor task running it, for Executor::mark_stuck
  // Only with observers installed: when it was admitted (0 when nothing will read it), and the
  // init it ran (cold start).
  int64_t admitted_ns = 0;
  int64_t init_ns = 0;  // the init it ran (a cold start)
  // With tracing on: its span, set as it starts (begin_span). A new trace's ids are drawn only
  // when something first reads them (traced_span()): under load most spans are dropped unread,
  // and drawing them is a good part of what tracing costs an invocation. The span is allocated
  // by the record's first traced run and kept while the record is recycled, so a record that is
  // never traced (every record with tracing off) does not carry its 72 bytes.
  bool traced = false;
  enum SpanIds : uint8_t { kSpanIdsReady = 0, kSpanIdsPending = 1, kSpanIdsDrawing = 2 };
  mutable std::atomic<uint8_t> span_ids{kSpanIdsReady};
  std::unique_ptr<InvocationSpan> span;
  Invocation* pool_next = nullptr;  // InvocationPool's free lists
  // Called once with `on_end_context` as the last reference goes, however the invocation ended
  // (result, timeout, refusal to run, drop at shutdown): how a schedule knows its previous run
  // is over. Set by admission (null for most); must be short and run no user code: it may run
  // on the timer thread.
  void (*on_end)(void* context) = nullptr;
  void* on_end_context = nullptr;

  static Invocation* of(TimerNode* node) { return static_cast<Invocation*>(node); }

  bool try_claim_answer(Answer by) {
    uint8_t expected = kUnanswered;
    return answered.compare_exchange_strong(expected, by, std::memory_order_acq_rel);
  }
  void add_reference() { references.fetch_add(1, std::memory_order_relaxed); }
  // Drops a reference; the last one returns the record to the InvocationPool.
  void release();

  // Admission's part of making a record new: the answer, cancellation and reference count.
  void begin_admission() {
    answered.store(kUnanswered, std::memory_order_relaxed);
    cancel.cancelled.store(false, std::memory_order_relaxed);
    references.store(1, std::memory_order_relaxed);
  }
  // The runner's part as it claims the invocation, pinned to `pinned`.
  void begin_claim(const FunctionVersion* pinned) {
    version = pinned;
    context_calls = 0;
    stage.store(kClaimed, std::memory_order_relaxed);
    delivered.store(false, std::memory_order_relaxed);
  }
  // The runner's part as the invocation starts.
  void begin_run(int64_t start, int64_t deadline) {
    start_ns = start;
    deadline_ns = deadline;
    instance = nullptr;
    cold_start = false;
    traced = false;
    span_ids.store(kSpanIdsReady, std::memory_order_relaxed);
  }
  // Its span, with its ids (drawn now if they were not yet). Only while `traced`. Safe from
  // any thread the handler lends its Context to: one of them draws, the others wait for it.
  const InvocationSpan& traced_span() const {
    if (span_ids.load(std::memory_order_acquire) != kSpanIdsReady) draw_span_ids();
    return *span;
  }
  void draw_span_ids() const;  // host/spans.cpp
  // On recycling: lets go of what the record owns (payload, event, completion), keeping the
  // payload's capacity (bounded).
  void release_payload();
};

// What a running invocation's own calls (Context, destinations) are made as: its function's
// identity, else the principal it runs for.
inline const Principal* acting_principal(const Invocation& invocation) {
  return invocation.version->identity != nullptr ? invocation.version->identity
                                                 : invocation.lineage.principal;
}

}  // namespace detail
}  // namespace fnhost

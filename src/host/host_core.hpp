// SPDX-License-Identifier: Apache-2.0
// HostCore: the state behind fnhost::Host — registration, admission, per-function scheduling on
// the executor, running invocations, deadlines and shutdown. Context reaches it through the
// invocation's slot.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "host/deadline_watcher.hpp"
#include "fnhost/detail/sync.hpp"
#include "fnhost/host.hpp"
#include "host/function_table.hpp"
#include "host/host_internal.hpp"

namespace fnhost {

struct HostCore {
  explicit HostCore(HostOptions options, std::shared_ptr<Executor> executor, bool owns_executor);
  ~HostCore();

  // Registration.
  absl::Status register_function(FunctionSpec spec);
  absl::Status update_function(FunctionSpec spec);
  absl::Status remove_function(std::string_view name);
  bool has_function(std::string_view name) const;
  std::vector<std::string> function_names() const;
  absl::StatusOr<FunctionStats> function_stats(std::string_view name) const;

  // Admission: queues an invocation; with `completion` it is synchronous.
  absl::Status admit(std::string_view name, Event&& event,
                     std::shared_ptr<detail::CompletionState> completion);
  Completion invoke(std::string_view name, Event&& event);

  ShutdownReport shutdown(absl::Duration timeout);
  bool is_accepting() const { return accepting_.load(); }

  // Formats the id of an invocation.
  std::string invocation_id(const detail::Invocation& invocation) const;
  void log(LogLevel level, std::string_view function, std::string_view invocation_id,
           std::string_view message) const;

  // Runners a function keeps waiting in the executor at most. The executor adds at most this
  // many threads per tick for one function's blocked backlog; the rest of a backlog is run by
  // runners that loop.
  static constexpr int kMaxWaitingRunners = 128;
  // How long a runner keeps taking turns before it ends its executor task.
  static constexpr int64_t kRunnerBudgetNs = 1'000'000;
  // Invocations one turn may claim at most (see Ring::take_turn), and how short a function's
  // last invocation must have been for it to be batched: a batch holds up at most a few of
  // these behind one another.
  static constexpr int kMaxBatch = 8;
  static constexpr int64_t kShortInvocationNs = 20'000;

  const HostOptions options;
  const std::shared_ptr<Executor> executor;
  const bool owns_executor;

 private:
  // Creates `count` instances of `version` by running its init on this thread.
  absl::Status provision(const detail::FunctionVersion& version, detail::FunctionSlot* slot,
                         int count);
  void publish(detail::FunctionSlot& slot, std::shared_ptr<const detail::FunctionVersion> version);
  // If `slot` has invocations that may start now: lists it in the ring (unless it is listed
  // already) and tops up its waiting runners.
  void schedule(detail::FunctionSlot& slot);
  // Tops up the runner tasks waiting on `slot`'s behalf to the number of its invocations that
  // could start now (at most kMaxWaitingRunners), so the executor's backlog is the host's.
  void add_runners(detail::FunctionSlot& slot);
  // Submits one runner task; `origin` (may be null) is the function it is counted for. If the
  // executor refuses, answers every runnable invocation instead (none could ever run).
  void submit_runner(detail::FunctionSlot* origin);
  // An executor task: runs invocations of the functions at the head of the ring, one turn
  // each, until the ring is empty or its time budget is spent.
  void run_runner(detail::FunctionSlot* origin);
  // Ends `count` running invocations of `slot`: lists it again if that makes room under its
  // limit.
  void end_running(detail::FunctionSlot& slot, int count);
  struct Executed {
    bool timed_out = false;
    int64_t end_ns = 0;  // when the handler returned (platform::now_ns); 0 if it did not run
  };
  // An instance a runner keeps between the invocations of one batch, and its version.
  struct HeldInstance {
    detail::Instance* instance = nullptr;
    const detail::FunctionVersion* version = nullptr;
  };
  // Runs `invocation`; it starts at `start_ns` (platform::now_ns), or now if that is 0. With
  // `held`, the instance is taken from there if it fits and, for a function without init, left
  // there afterwards (the next invocation of the batch runs on it); otherwise it goes back to
  // its pool before the caller is answered.
  Executed execute(detail::Invocation& invocation, int64_t start_ns, HeldInstance* held);
  void release_held(HeldInstance& held);
  detail::Instance* acquire_instance(detail::Invocation& invocation, Result& failure);
  // Returns `instance` to `version`'s idle pool, or discards it.
  void release_instance(const detail::FunctionVersion& version, detail::Instance* instance,
                        bool discard);
  // Delivers the handler's result unless the deadline or shutdown answered first.
  void finish(detail::Invocation& invocation, Result result, int64_t duration_ns);
  void on_deadline(detail::Invocation* invocation);
  // Takes the record of an invocation already claimed from `slot`'s count, waiting out an
  // admission that counted it but has not enqueued it yet.
  detail::Invocation* take_claimed(detail::FunctionSlot& slot);
  // The same for `count` claimed invocations, into `out`; sets *waited (if given) when any had
  // to be waited for.
  void take_claimed(detail::FunctionSlot& slot, detail::Invocation** out, int count,
                    bool* waited);
  // Claims and takes one queued invocation of `slot` without running it (shutdown, refusal);
  // null when none is queued.
  detail::Invocation* take_unstarted(detail::FunctionSlot& slot);
  // Counts a queued invocation that will never run as dropped, answers it, releases it.
  void drop(detail::FunctionSlot& slot, detail::Invocation& invocation, absl::Status status);
  // Answers an accepted invocation that will not run or finish: counts and logs it.
  void answer_abandoned(detail::Invocation& invocation, absl::Status status);
  // The same for an invocation whose answer the caller already claimed.
  void deliver_abandoned(detail::Invocation& invocation, absl::Status status);
  void on_async_failure(detail::Invocation& invocation, const absl::Status& status);
  void note_finished();
  int64_t outstanding() const;
  int64_t finished_total() const;

  std::atomic<bool> accepting_{true};
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopped_{false};  // past the shutdown deadline: runners start nothing
  const uint32_t id_prefix_;

  mutable detail::Mutex registration_mu_;
  // Functions with invocations that may start now, each listed once. A runner takes the head,
  // claims one of its invocations and, in the same critical section, puts it back at the tail
  // if it has more, so functions take turns whatever their backlog. Strict FIFO is the point,
  // so this is a locked deque rather than moodycamel's queue (FIFO only per producer).
  class Ring {
   public:
    void push(detail::FunctionSlot* slot) {
      detail::SpinLockHolder lock(mu_);
      slots_.push_back(slot);
    }
    bool empty() const {
      detail::SpinLockHolder lock(mu_);
      return slots_.empty();
    }
    struct Turn {
      detail::FunctionSlot* slot = nullptr;  // null: nothing to start
      int count = 0;                          // invocations claimed
    };
    // Claims invocations (queued -> running) of the first listed function that has any it may
    // start, and returns that function; functions left with nothing to start are un-listed.
    // One invocation per turn, or up to `max_batch` when taking more is harmless: the function
    // has no concurrency limit and its invocations are short, so a batch delays the others by
    // about as little as one turn does.
    Turn take_turn(int max_batch) {
      using detail::FunctionSlot;
      for (;;) {
        FunctionSlot* slot = nullptr;
        int claimed = 0;
        {
          detail::SpinLockHolder lock(mu_);
          if (slots_.empty()) return {};
          slot = slots_.front();
          slots_.pop_front();
          const int limit = slot->max_concurrency.load(std::memory_order_relaxed);
          const bool batch =
              max_batch > 1 && limit <= 0 && slot->runs_short.load(std::memory_order_relaxed);
          uint64_t word = slot->state.load();
          for (;;) {
            const int64_t startable = FunctionSlot::startable(word, limit);
            if (startable <= 0) break;
            const int take = batch ? static_cast<int>(std::min<int64_t>(startable, max_batch)) : 1;
            const uint64_t claim = uint64_t(take) * FunctionSlot::kOneRunning - uint64_t(take);
            if (slot->state.compare_exchange_weak(word, word + claim)) {
              claimed = take;
              word += claim;
              break;
            }
          }
          if (claimed > 0 && FunctionSlot::startable(word, limit) > 0) {
            slots_.push_back(slot);
            return {slot, claimed};
          }
        }
        // Un-list, then re-check: an admission meanwhile saw in_ring set and did not list it.
        slot->in_ring.store(false);
        if (FunctionSlot::startable(slot->state.load(),
                                    slot->max_concurrency.load(std::memory_order_relaxed)) > 0 &&
            !slot->in_ring.exchange(true)) {
          push(slot);
        }
        if (claimed > 0) return {slot, claimed};
      }
    }

   private:
    mutable detail::SpinLock mu_;
    std::deque<detail::FunctionSlot*> slots_ ABSL_GUARDED_BY(mu_);
  };
  Ring ring_;
  // Runner tasks submitted and not yet returned: the host's destructor waits for them.
  std::atomic<int64_t> live_runners_{0};
  // Runner tasks submitted and not yet started, for all functions.
  std::atomic<int64_t> waiting_runners_{0};
  // A ManualExecutor's user pumps one task at a time to bound a frame: there a runner runs one
  // invocation. Elsewhere it keeps going for up to kRunnerBudgetNs.
  const bool one_invocation_per_runner_;

  // Inserts and iteration hold registration_mu_; find() is lock-free by design.
  detail::FunctionTable table_;

  detail::Mutex drain_mu_;
  detail::CondVar drain_cv_;
  bool shut_down_ ABSL_GUARDED_BY(drain_mu_) = false;

  detail::DeadlineWatcher watcher_;
};

}  // namespace fnhost

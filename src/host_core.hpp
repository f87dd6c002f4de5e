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
#include "deadline_watcher.hpp"
#include "fnhost/detail/sync.hpp"
#include "fnhost/host.hpp"
#include "function_table.hpp"
#include "host_internal.hpp"

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

  const HostOptions options;
  const std::shared_ptr<Executor> executor;
  const bool owns_executor;

 private:
  // Creates `count` instances of `version` by running its init on this thread.
  absl::Status provision(const detail::FunctionVersion& version, detail::FunctionSlot* slot,
                         int count);
  void publish(detail::FunctionSlot& slot, std::shared_ptr<const detail::FunctionVersion> version);
  // Gives `slot` one more run token if it has a queued invocation without one and room under
  // its concurrency limit; returns whether it did.
  bool add_token(detail::FunctionSlot& slot);
  // An executor task: runs one invocation of the function at the head of the ring.
  void run_token();
  void execute(detail::Invocation& invocation);
  detail::Instance* acquire_instance(detail::Invocation& invocation, Result& failure);
  void release_instance(detail::Invocation& invocation, bool discard);
  // Delivers the handler's result unless the deadline or shutdown answered first.
  void finish(detail::Invocation& invocation, Result result, int64_t duration_ns);
  void on_deadline(detail::Invocation* invocation);
  // Takes one queued invocation of `slot`, waiting out an admission that counted it but has
  // not enqueued it yet; false when none is queued.
  bool take_queued(detail::FunctionSlot& slot, detail::Invocation*& invocation);
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
  // Functions with run tokens, each listed once: a token takes the head and, in the same
  // critical section, puts it back at the tail if it has more tokens, so functions take turns
  // whatever their backlog. Strict FIFO is the point, so this is a locked deque rather than
  // moodycamel's queue (FIFO only per producer).
  class Ring {
   public:
    void push(detail::FunctionSlot* slot) {
      detail::SpinLockHolder lock(mu_);
      slots_.push_back(slot);
    }
    // Takes the head and one of its tokens, turning it into a running invocation; re-lists
    // the head at the tail if it has tokens left (otherwise clears its in_ring flag). Returns
    // the head, or nullptr if the ring is empty.
    detail::FunctionSlot* take_turn() {
      detail::FunctionSlot* slot = nullptr;
      {
        detail::SpinLockHolder lock(mu_);
        if (slots_.empty()) return nullptr;
        slot = slots_.front();
        slots_.pop_front();
        slot->busy_tokens.fetch_add(1);
        const uint64_t before =
            slot->run_state.fetch_add(detail::FunctionSlot::kOneRunning - 1);
        if (detail::FunctionSlot::tokens_of(before) > 1) {
          slots_.push_back(slot);
          return slot;
        }
      }
      // Un-list, then re-check: a token added meanwhile saw in_ring set and did not list it.
      slot->in_ring.store(false);
      if (detail::FunctionSlot::tokens_of(slot->run_state.load()) > 0 &&
          !slot->in_ring.exchange(true)) {
        push(slot);
      }
      return slot;
    }

   private:
    detail::SpinLock mu_;
    std::deque<detail::FunctionSlot*> slots_ ABSL_GUARDED_BY(mu_);
  };
  Ring ring_;

  // Inserts and iteration hold registration_mu_; find() is lock-free by design.
  detail::FunctionTable table_;

  detail::Mutex drain_mu_;
  detail::CondVar drain_cv_;
  bool shut_down_ ABSL_GUARDED_BY(drain_mu_) = false;

  detail::DeadlineWatcher watcher_;
};

}  // namespace fnhost

// SPDX-License-Identifier: Apache-2.0
// Scheduling: invocations wait in their function's queue; functions with invocations that may
// start now (under max_concurrency) are listed in a round-robin ring (ring.hpp). Runner tasks
// on the executor take the ring's head, run a turn of its invocations, put it back at the tail
// if it has more, and go on with the next head: a flood from one function delays another by
// about one turn per worker, not by the flood's length. A runner keeps going until the ring is
// empty or its time budget is spent, so a busy host pays for an executor task per budget, not
// per invocation.
//
// The executor scales on its own backlog, so each function keeps as many runners waiting in it
// as it has invocations that could start now (up to kMaxWaitingRunners): invocations that block
// show the executor work waiting behind blocked workers, and it adds threads.
#include <algorithm>
#include <utility>

#include "fmt/format.h"
#include "host/host_core.hpp"
#include "host/invocation_pool.hpp"
#include "platform/platform.hpp"

namespace fnhost {

using detail::FunctionSlot;
using detail::Invocation;

HostCore::CurrentTurn& HostCore::current_turn() {
  thread_local CurrentTurn turn;
  return turn;
}

int64_t HostCore::own_running() const {
  const CurrentTurn& turn = current_turn();
  return turn.host == this ? turn.running : 0;
}

void HostCore::schedule(FunctionSlot& slot) {
  if (FunctionSlot::startable(slot.state.load(),
                              slot.max_concurrency.load(std::memory_order_relaxed)) == 0) {
    return;
  }
  // Load first: while the function is listed (the common case under load) this stays a read
  // of a shared line rather than a write.
  if (!slot.in_ring.load() && !slot.in_ring.exchange(true)) ring_.push(&slot);
  add_runners(slot);
}

void HostCore::add_runners(FunctionSlot& slot) {
  for (;;) {
    const int64_t wanted = std::min<int64_t>(
        kMaxWaitingRunners,
        FunctionSlot::startable(slot.state.load(),
                                slot.max_concurrency.load(std::memory_order_relaxed)));
    int waiting = slot.waiting_runners.load();
    if (waiting >= wanted) return;
    if (slot.waiting_runners.compare_exchange_weak(waiting, waiting + 1)) submit_runner(&slot);
  }
}

void HostCore::submit_runner(FunctionSlot* origin) {
  live_tasks_.fetch_add(1);
  waiting_runners_.fetch_add(1);
  absl::Status submitted = executor->submit([this, origin] { run_runner(origin); });
  if (submitted.ok()) return;
  waiting_runners_.fetch_sub(1);
  if (origin != nullptr) origin->waiting_runners.fetch_sub(1);
  // The executor refused (a shared executor that was shut down): nothing can run here any
  // more, so answer what is runnable rather than leave callers waiting.
  Invocation* claimed[1];
  for (Turn turn = claim_turn(1, claimed); turn.slot != nullptr; turn = claim_turn(1, claimed)) {
    FunctionSlot& slot = *turn.slot;
    Invocation& invocation = *claimed[0];
    int expected = Invocation::kClaimed;
    if (invocation.stage.compare_exchange_strong(expected, Invocation::kAbandoned)) {
      drop(slot, invocation,
           absl::UnavailableError(fmt::format("function \"{}\" cannot run: {}", slot.name,
                                              detail::std_view(submitted.message()))));
    }
    let_go(invocation);
    end_running(slot, 1);
    release_if_removed(slot);
  }
  live_tasks_.fetch_sub(1);
}

HostCore::Turn HostCore::claim_turn(int max_batch, Invocation** out) {
  // Announce the claim, then check the stop flag (both seq_cst); shutdown sets the flag, then
  // waits for announced claims to finish: so either this claim sees the flag and takes
  // nothing, or shutdown sees the claim's records linked below.
  claims_in_flight_.fetch_add(1);
  Turn turn;
  if (!stopped_.load()) {
    const detail::Ring::Turn taken = ring_.take_turn(max_batch);
    if (taken.slot != nullptr) {
      const bool waited = take_claimed(*taken.slot, out, taken.count);
      for (int i = 0; i < taken.count; ++i) {
        out[i]->begin_claim(taken.version);
        out[i]->on_due = &HostCore::on_deadline;
        out[i]->on_taken = &HostCore::pin_for_firing;
        timers_.link(out[i]);
      }
      turn = {taken.slot, taken.count, waited};
    }
  }
  claims_in_flight_.fetch_sub(1);
  return turn;
}

void HostCore::run_runner(FunctionSlot* origin) {
  if (origin != nullptr) origin->waiting_runners.fetch_sub(1);
  waiting_runners_.fetch_sub(1);
  const int64_t started_ns = now_ns();
  // Host time stands still under a manual clock: the budget is then kept in real time.
  const int64_t budget_start_ns =
      manual_clock_ == nullptr ? started_ns : detail::platform::now_ns();
  // When one invocation follows another without a wait, the clock read that ended the first
  // also starts the second (a clock read is ~20 ns, a turn about as much).
  int64_t previous_end_ns = started_ns;
  const int max_batch = one_invocation_per_runner_ ? 1 : kMaxBatch;
  Invocation* batch[kMaxBatch];
  for (;;) {
    const Turn turn = claim_turn(max_batch, batch);
    if (turn.slot == nullptr) {
      // Out of work: a moment to give a burst's surplus records back to the allocator — but
      // not at every such moment (see trim_excess_now_and_then); the timer thread's idle exit
      // trims once the host is really quiet.
      detail::InvocationPool::trim_excess_now_and_then();
      break;
    }
    FunctionSlot& slot = *turn.slot;
    // Keep the executor's view of this function's backlog whole while this one runs.
    add_runners(slot);
    if (turn.waited) previous_end_ns = 0;
    // A runner may run inside another host's runner (Context::invoke on a ManualExecutor).
    const CurrentTurn outer = current_turn();
    current_turn() = {this, turn.count, nullptr};
    bool timed_out = false;
    HeldInstance held;
    for (int i = 0; i < turn.count; ++i) {
      if (stopped_.load()) {
        // Past the shutdown deadline nothing starts. Shutdown answers and counts what this
        // runner claimed (it sees every claimed record); wait for that, then let go.
        release_held(held);
        detail::Backoff backoff;
        while (batch[i]->stage.load() == Invocation::kClaimed) backoff.pause();
        let_go(*batch[i]);
        previous_end_ns = 0;
        continue;
      }
      const bool last = i + 1 == turn.count;
      const Executed executed = execute(*batch[i], previous_end_ns, held, !last);
      previous_end_ns = executed.end_ns;
      timed_out = timed_out || executed.timed_out;
    }
    release_held(held);
    current_turn() = outer;
    end_running(slot, turn.count);
    release_if_removed(slot);
    if (draining_.load(std::memory_order_relaxed)) note_finished();
    // End the task at a boundary the executor can act on: after a timed-out (stuck-marked)
    // invocation, or when the budget is spent. A waiting runner carries on; if none waits,
    // a new one (the ring was checked first, pairs with a runner's "un-count, then take").
    const int64_t spent_ns = manual_clock_ == nullptr
                                 ? (previous_end_ns != 0 ? previous_end_ns : now_ns()) - started_ns
                                 : detail::platform::now_ns() - budget_start_ns;
    if (one_invocation_per_runner_ || timed_out || spent_ns >= kRunnerBudgetNs) {
      if (!ring_.empty() && waiting_runners_.load() == 0) submit_runner(nullptr);
      break;
    }
  }
  // Last access to the host: its destructor waits for this count.
  live_tasks_.fetch_sub(1);
}

void HostCore::end_running(FunctionSlot& slot, int count) {
  slot.state.fetch_sub(uint64_t(count) * FunctionSlot::kOneRunning);
  // Only a limited function can have been held back by these invocations.
  if (slot.max_concurrency.load(std::memory_order_relaxed) > 0) schedule(slot);
}

bool HostCore::take_claimed(FunctionSlot& slot, Invocation** out, int count) {
  size_t taken = slot.queue.try_dequeue_bulk(out, static_cast<size_t>(count));
  if (taken == static_cast<size_t>(count)) {
    note_taken(slot, out, count);
    return false;
  }
  detail::Backoff backoff;
  // Counted by admissions that have not enqueued yet: they are moments away (an admission
  // that counted always enqueues).
  while (taken < static_cast<size_t>(count)) {
    taken += slot.queue.try_dequeue_bulk(out + taken, static_cast<size_t>(count) - taken);
    if (taken < static_cast<size_t>(count)) backoff.pause();
  }
  note_taken(slot, out, count);
  return true;
}

void HostCore::note_taken(FunctionSlot& slot, Invocation* const* taken, int count) {
  if (queued_invocations_budget_.enabled() || queued_bytes_budget_.enabled()) {
    int64_t bytes = 0;
    for (int i = 0; i < count; ++i) bytes += taken[i]->queued_bytes;
    give_back_queue_budget(count, bytes);
  }
  // Rarely changes under a steady load of one producer's events; a store only when it does.
  const int64_t accepted = taken[count - 1]->lineage.accepted_ns;
  if (slot.head_accepted_ns.load(std::memory_order_relaxed) != accepted) {
    slot.head_accepted_ns.store(accepted, std::memory_order_relaxed);
  }
}

Invocation* HostCore::take_unstarted(FunctionSlot& slot) {
  uint64_t word = slot.state.load();
  do {
    if (FunctionSlot::queued_of(word) == 0) return nullptr;
  } while (!slot.state.compare_exchange_weak(word, word - 1));
  Invocation* invocation = nullptr;
  take_claimed(slot, &invocation, 1);
  return invocation;
}

}  // namespace fnhost

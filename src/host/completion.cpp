// SPDX-License-Identifier: Apache-2.0
#include "fnhost/completion.hpp"

#include <utility>
#include <vector>

#include "host/host_internal.hpp"

namespace fnhost {
namespace detail {

bool CompletionState::complete(Result result) {
  std::vector<absl::AnyInvocable<void(const Result&)>> callbacks;
  {
    MutexLock lock(mu_);
    if (ready_.load(std::memory_order_relaxed)) return false;
    result_ = std::move(result);
    ready_.store(true, std::memory_order_release);
    callbacks.swap(callbacks_);
  }
  cv_.notify_all();
  // The result is immutable from here on, so callbacks read it without the lock.
  for (auto& callback : callbacks) {
    try {
      callback(result_);
    } catch (...) {
      // A throwing callback must not unwind into the worker or timer thread.
    }
  }
  return true;
}

const Result& CompletionState::wait() const {
  if (!ready_.load(std::memory_order_acquire)) {
    MutexLock lock(mu_);
    while (!ready_.load(std::memory_order_relaxed)) cv_.wait(mu_);
  }
  return result_;
}

bool CompletionState::wait_until(std::chrono::steady_clock::time_point deadline) const {
  if (ready_.load(std::memory_order_acquire)) return true;
  MutexLock lock(mu_);
  while (!ready_.load(std::memory_order_relaxed)) {
    if (!cv_.wait_until(mu_, deadline)) return ready_.load(std::memory_order_relaxed);
  }
  return true;
}

void CompletionState::add_callback(absl::AnyInvocable<void(const Result&)> callback) {
  {
    MutexLock lock(mu_);
    if (!ready_.load(std::memory_order_relaxed)) {
      callbacks_.push_back(std::move(callback));
      return;
    }
  }
  try {
    callback(result_);
  } catch (...) {
    // As in complete(): callbacks never throw into fnhost.
  }
}

}  // namespace detail

Completion Completion::ready(Result result) {
  auto state = std::make_shared<detail::CompletionState>();
  state->complete(std::move(result));
  return Completion(std::move(state));
}

bool Completion::is_ready() const { return state_->is_ready(); }

const Result& Completion::get() const& { return state_->wait(); }

Result Completion::get() && { return state_->wait(); }

bool Completion::wait_for(absl::Duration timeout) const {
  return state_->wait_until(std::chrono::steady_clock::now() +
                            absl::ToChronoNanoseconds(std::max(timeout, absl::ZeroDuration())));
}

void Completion::then(absl::AnyInvocable<void(const Result&)> callback) const {
  state_->add_callback(std::move(callback));
}

}  // namespace fnhost

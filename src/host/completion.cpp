// SPDX-License-Identifier: Apache-2.0
#include "fnhost/completion.hpp"

#include <utility>
#include <vector>

#include "host/host_internal.hpp"
#include "platform/deadline.hpp"

namespace fnhost {
namespace detail {

bool CompletionState::store(Result& result, Callbacks& callbacks) {
  {
    MutexLock lock(mu_);
    if (ready_.load(std::memory_order_relaxed)) return false;
    result_ = std::move(result);
    ready_.store(true, std::memory_order_release);
    callbacks.swap(callbacks_);
  }
  cv_.notify_all();
  return true;
}

bool CompletionState::complete(Result result) {
  Callbacks callbacks;
  if (!store(result, callbacks)) return false;
  run_callbacks(callbacks);
  return true;
}

CompletionState::Callbacks CompletionState::complete_without_callbacks(Result result) {
  Callbacks callbacks;
  store(result, callbacks);
  return callbacks;
}

void CompletionState::run_callbacks(Callbacks& callbacks) const {
  // The result is immutable from here on, so callbacks read it without the lock.
  for (auto& callback : callbacks) {
    try {
      callback(result_);
    } catch (...) {
      // A throwing callback must not unwind into a worker.
    }
  }
  callbacks.clear();
}

Result CompletionState::take() const {
  wait();
  if (handles_.load(std::memory_order_acquire) == 1) return std::move(result_);
  return result_;
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

void CompletionState::add_callback(Callback callback) {
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

Completion::Completion(std::shared_ptr<detail::CompletionState> state) : state_(std::move(state)) {
  if (state_ != nullptr) state_->add_handle();
}

Completion::Completion(const Completion& other) : state_(other.state_) {
  if (state_ != nullptr) state_->add_handle();
}

Completion& Completion::operator=(const Completion& other) {
  if (this != &other) *this = Completion(other);
  return *this;
}

Completion::Completion(Completion&& other) noexcept : state_(std::move(other.state_)) {}

Completion& Completion::operator=(Completion&& other) noexcept {
  if (this != &other) {
    if (state_ != nullptr) state_->drop_handle();
    state_ = std::move(other.state_);
  }
  return *this;
}

Completion::~Completion() {
  if (state_ != nullptr) state_->drop_handle();
}

bool Completion::is_ready() const { return state_->is_ready(); }

const Result& Completion::get() const& { return state_->wait(); }

Result Completion::get() && { return state_->take(); }

bool Completion::wait_for(absl::Duration timeout) const {
  return state_->wait_until(detail::steady_deadline_after(timeout));
}

void Completion::then(absl::AnyInvocable<void(const Result&)> callback) const {
  state_->add_callback(std::move(callback));
}

}  // namespace fnhost

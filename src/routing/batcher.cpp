// SPDX-License-Identifier: Apache-2.0
#include "routing/batcher.hpp"

#include <utility>

namespace fnhost::detail {

bool Batcher::add(const std::shared_ptr<const Event>& event, std::shared_ptr<BatchItems>* full) {
  MutexLock lock(mu_);
  if (closed_) return false;
  if (pending_ == nullptr) {
    pending_ = std::make_shared<BatchItems>();
    pending_->reserve(static_cast<size_t>(batch_size_));
  }
  pending_->push_back(event);
  if (static_cast<int>(pending_->size()) >= batch_size_) {
    *full = take_locked();
  } else if (!armed_) {
    armed_ = true;
    timers_.schedule(this, timers_.now_ns() + window_ns_);
  }
  return true;
}

std::shared_ptr<BatchItems> Batcher::take_locked() {
  // A window timer still armed is withdrawn; one being fired flushes whatever is collected by
  // then (a batch closed a little early, never an event lost).
  if (armed_ && timers_.unlink(this)) armed_ = false;
  return std::exchange(pending_, nullptr);
}

std::shared_ptr<BatchItems> Batcher::take() {
  MutexLock lock(mu_);
  return take_locked();
}

void Batcher::fired() {
  MutexLock lock(mu_);
  armed_ = false;
}

std::shared_ptr<BatchItems> Batcher::close() {
  MutexLock lock(mu_);
  closed_ = true;
  return take_locked();
}

int64_t Batcher::waiting() const {
  MutexLock lock(mu_);
  return pending_ == nullptr ? 0 : static_cast<int64_t>(pending_->size());
}

}  // namespace fnhost::detail

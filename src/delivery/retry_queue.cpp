// SPDX-License-Identifier: Apache-2.0
#include "delivery/retry_queue.hpp"

#include <algorithm>
#include <utility>

namespace fnhost::detail {

namespace {
// std::push_heap builds a max-heap: "later" as less puts the earliest at the front.
bool due_later(const std::unique_ptr<WaitingDelivery>& a, const std::unique_ptr<WaitingDelivery>& b) {
  return a->due_ns > b->due_ns;
}
}  // namespace

RetryQueue::RetryQueue(TimerService& timers, void (*on_due)(void*), void* context)
    : timers_(timers), on_due_(on_due), context_(context) {
  node_.queue = this;
  node_.on_due = &RetryQueue::on_timer;
  // Rarely unlinked early: the timer thread may sleep until it is due.
  node_.long_lived = true;
}

std::unique_ptr<WaitingDelivery> RetryQueue::push(std::unique_ptr<WaitingDelivery> waiting,
                                                  int64_t capacity) {
  MutexLock lock(mu_);
  if (stopped_ || static_cast<int64_t>(heap_.size()) >= capacity) return waiting;
  heap_.push_back(std::move(waiting));
  std::push_heap(heap_.begin(), heap_.end(), due_later);
  arm_locked();
  return nullptr;
}

void RetryQueue::arm_locked() {
  if (heap_.empty()) return;
  const int64_t earliest = heap_.front()->due_ns;
  if (!linked_) {
    linked_ = true;
    armed_ns_ = earliest;
    timers_.schedule(&node_, earliest);
  } else if (earliest < armed_ns_) {
    // Moving a linked node earlier is safe whatever the timer thread is doing: it fires it at
    // either time, and the firing takes whatever is due then.
    armed_ns_ = earliest;
    timers_.arm(&node_, earliest);
  }
}

void RetryQueue::on_timer(TimerNode* node) {
  RetryQueue& queue = *static_cast<Node*>(node)->queue;
  {
    MutexLock lock(queue.mu_);
    queue.linked_ = false;
    if (queue.stopped_) return;
  }
  queue.on_due_(queue.context_);
}

RetryQueue::Batch RetryQueue::take_due(int64_t now_ns) {
  Batch due;
  MutexLock lock(mu_);
  while (!heap_.empty() && heap_.front()->due_ns <= now_ns) {
    std::pop_heap(heap_.begin(), heap_.end(), due_later);
    due.push_back(std::move(heap_.back()));
    heap_.pop_back();
  }
  if (!stopped_) arm_locked();
  return due;
}

RetryQueue::Batch RetryQueue::stop() {
  Batch all;
  MutexLock lock(mu_);
  stopped_ = true;
  if (linked_) {
    timers_.unlink(&node_);  // false: it is being fired, and on_timer sees stopped_
    linked_ = false;
  }
  std::sort(heap_.begin(), heap_.end(), [](const auto& a, const auto& b) {
    return a->due_ns < b->due_ns;
  });
  all.swap(heap_);
  return all;
}

int64_t RetryQueue::size() const {
  MutexLock lock(mu_);
  return static_cast<int64_t>(heap_.size());
}

}  // namespace fnhost::detail

// SPDX-License-Identifier: Apache-2.0
// Internal (src/common/pooled_box.hpp).
// One value of type T in a box from a RecyclingPool, owned like a unique_ptr: for values that
// one thread builds and another consumes (a log record's facts, a finished span, on their way
// to the telemetry thread). A closure that captures the box and one pointer is two words, so
// it fits a type-erased callable's inline storage where the value itself would be allocated;
// and the box comes back to the pool instead of taking glibc's cross-thread free path.
#pragma once

#include <utility>

#include "common/recycling_pool.hpp"

namespace fnhost::detail {

template <class T>
class PooledBox {
  struct Node {
    T value;
    Node* next = nullptr;
  };
  struct Recycling {
    using Node = PooledBox::Node;
    static Node*& next(Node* node) { return node->next; }
    static void destroy(Node* node) { delete node; }
  };
  using Pool = RecyclingPool<Recycling>;

 public:
  explicit PooledBox(T&& value) : node_(Pool::take()) {
    if (node_ == nullptr) node_ = new Node();
    node_->value = std::move(value);
  }
  PooledBox(PooledBox&& other) noexcept : node_(std::exchange(other.node_, nullptr)) {}
  PooledBox& operator=(PooledBox&& other) = delete;
  PooledBox(const PooledBox&) = delete;
  PooledBox& operator=(const PooledBox&) = delete;
  ~PooledBox() {
    if (node_ == nullptr) return;
    node_->value = T();  // what it holds on the heap goes now, not when the box is reused
    Pool::put(node_);
  }

  T& operator*() const { return node_->value; }
  T* operator->() const { return &node_->value; }

  // Frees the boxes a burst left in the pool beyond what it keeps (see RecyclingPool).
  static void trim_excess() { Pool::trim_excess(); }

 private:
  Node* node_;
};

}  // namespace fnhost::detail

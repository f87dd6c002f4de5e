// SPDX-License-Identifier: Apache-2.0
// Name -> FunctionSlot lookup for the invocation hot path. Readers never lock: the table is an
// insert-only open-addressing array of atomic slot pointers. Writers (registration, under the
// host's registration mutex) insert, and when half full publish a doubled copy; old arrays stay
// allocated until the table dies, which costs at most as much again as the live array.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/hash/hash.h"
#include "host/host_internal.hpp"

namespace fnhost::detail {

class FunctionTable {
 public:
  FunctionTable() { grow(16); }
  FunctionTable(const FunctionTable&) = delete;
  FunctionTable& operator=(const FunctionTable&) = delete;

  // The slot named `name`, or nullptr. Lock-free; safe concurrently with insert().
  FunctionSlot* find(std::string_view name) const {
    const Array* array = current_.load(std::memory_order_acquire);
    size_t index = absl::Hash<std::string_view>{}(name)&array->mask;
    for (;;) {
      FunctionSlot* slot = array->entries[index].load(std::memory_order_acquire);
      if (slot == nullptr) return nullptr;
      if (slot->name == name) return slot;
      index = (index + 1) & array->mask;
    }
  }

  // Adds `slot` (its name must not be present). Callers serialise inserts.
  FunctionSlot* insert(std::unique_ptr<FunctionSlot> slot) {
    if ((slots_.size() + 1) * 2 > current_.load(std::memory_order_relaxed)->mask + 1) {
      grow((current_.load(std::memory_order_relaxed)->mask + 1) * 2);
    }
    FunctionSlot* raw = slot.get();
    slots_.push_back(std::move(slot));
    place(*current_.load(std::memory_order_relaxed), raw);
    return raw;
  }

  // Every slot ever inserted, in insertion order. Callers serialise with insert().
  const std::vector<std::unique_ptr<FunctionSlot>>& slots() const { return slots_; }

 private:
  struct Array {
    size_t mask = 0;
    std::unique_ptr<std::atomic<FunctionSlot*>[]> entries;
  };

  static void place(Array& array, FunctionSlot* slot) {
    size_t index = absl::Hash<std::string_view>{}(slot->name) & array.mask;
    while (array.entries[index].load(std::memory_order_relaxed) != nullptr) {
      index = (index + 1) & array.mask;
    }
    array.entries[index].store(slot, std::memory_order_release);
  }

  void grow(size_t capacity) {
    auto array = std::make_unique<Array>();
    array->mask = capacity - 1;
    array->entries = std::make_unique<std::atomic<FunctionSlot*>[]>(capacity);
    for (const auto& slot : slots_) place(*array, slot.get());
    current_.store(array.get(), std::memory_order_release);
    arrays_.push_back(std::move(array));
  }

  std::atomic<Array*> current_{nullptr};
  std::vector<std::unique_ptr<Array>> arrays_;
  std::vector<std::unique_ptr<FunctionSlot>> slots_;
};

}  // namespace fnhost::detail

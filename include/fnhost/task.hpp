// SPDX-License-Identifier: Apache-2.0
// File: fnhost/task.hpp
// fnhost::Task, the unit of work executors run: a move-only `void()` callable.
//
//   fnhost::Task task = [name = std::string("resize"), &counter] { counter.add(name); };
//   task();                 // calls it; calling an empty Task is undefined
//   task = nullptr;         // destroys the callable: the Task is empty again
//
// A callable of up to Task::kInlineBytes (48 bytes: a lambda capturing a std::string and two
// pointers) whose move constructor does not throw is stored inside the Task, without allocating;
// a larger one is moved to the heap. sizeof(Task) is one 64-byte cache line, so a queue of Tasks
// keeps each task on a line of its own. A Task made from a null function pointer or from an empty
// std::function or absl::AnyInvocable is empty, as if made from nullptr.
#pragma once

#include <cstddef>
#include <cstring>
#include <functional>
#include <new>
#include <type_traits>
#include <utility>

#include "absl/functional/any_invocable.h"

namespace fnhost {

class Task;

namespace detail {
template <class T>
struct IsNullableCallable : std::false_type {};
template <class Signature>
struct IsNullableCallable<std::function<Signature>> : std::true_type {};
template <class Signature>
struct IsNullableCallable<absl::AnyInvocable<Signature>> : std::true_type {};
}  // namespace detail

class Task {
 public:
  static constexpr std::size_t kInlineBytes = 48;

  Task() noexcept = default;
  Task(std::nullptr_t) noexcept {}  // NOLINT: implicit, as for std::function

  // Any callable invocable as `void()` (its result, if any, is discarded).
  template <class F, class D = std::decay_t<F>,
            class = std::enable_if_t<!std::is_same_v<D, Task> && std::is_invocable_v<D&> &&
                                     std::is_constructible_v<D, F&&>>>
  Task(F&& callable) {  // NOLINT: implicit, as for std::function
    if constexpr (std::is_pointer_v<D> || detail::IsNullableCallable<D>::value) {
      if (!callable) return;
    }
    if constexpr (kStoredInline<D>) {
      ::new (static_cast<void*>(storage_.bytes)) D(std::forward<F>(callable));
      invoke_ = &invoke_inline<D>;
      // A trivially copyable callable (a lambda capturing pointers and numbers) moves as bytes.
      if constexpr (!(std::is_trivially_copyable_v<D> && std::is_trivially_destructible_v<D>)) {
        manage_ = &manage_inline<D>;
      }
    } else {
      storage_.heap = new D(std::forward<F>(callable));
      invoke_ = &invoke_heap<D>;
      manage_ = &manage_heap<D>;
    }
  }

  Task(Task&& other) noexcept { take(other); }
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  Task& operator=(std::nullptr_t) noexcept {
    reset();
    return *this;
  }
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Task> &&
                                              std::is_constructible_v<Task, F&&>>>
  Task& operator=(F&& callable) {
    Task replacement(std::forward<F>(callable));
    reset();
    take(replacement);
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  void operator()() { invoke_(storage_); }
  explicit operator bool() const noexcept { return invoke_ != nullptr; }
  friend bool operator==(const Task& task, std::nullptr_t) noexcept { return !task; }
  friend bool operator==(std::nullptr_t, const Task& task) noexcept { return !task; }
  friend bool operator!=(const Task& task, std::nullptr_t) noexcept { return !!task; }
  friend bool operator!=(std::nullptr_t, const Task& task) noexcept { return !!task; }

  void swap(Task& other) noexcept {
    Task moved(std::move(other));
    other = std::move(*this);
    *this = std::move(moved);
  }

 private:
  union Storage {
    alignas(std::max_align_t) unsigned char bytes[kInlineBytes];
    void* heap;
  };
  enum class Operation { kMove, kDestroy };
  using Invoke = void (*)(Storage&);
  // kMove: move-constructs `to` from `from` and destroys `from`. kDestroy: destroys `from`.
  using Manage = void (*)(Operation, Storage& from, Storage* to) noexcept;

  template <class D>
  static constexpr bool kStoredInline = sizeof(D) <= kInlineBytes &&
                                        alignof(D) <= alignof(std::max_align_t) &&
                                        std::is_nothrow_move_constructible_v<D>;

  template <class D>
  static D& inline_object(Storage& storage) noexcept {
    return *std::launder(reinterpret_cast<D*>(storage.bytes));
  }
  template <class D>
  static void invoke_inline(Storage& storage) {
    std::invoke(inline_object<D>(storage));
  }
  template <class D>
  static void invoke_heap(Storage& storage) {
    std::invoke(*static_cast<D*>(storage.heap));
  }
  template <class D>
  static void manage_inline(Operation operation, Storage& from, Storage* to) noexcept {
    D& object = inline_object<D>(from);
    if (operation == Operation::kMove) ::new (static_cast<void*>(to->bytes)) D(std::move(object));
    object.~D();
  }
  template <class D>
  static void manage_heap(Operation operation, Storage& from, Storage* to) noexcept {
    if (operation == Operation::kMove) {
      to->heap = from.heap;
    } else {
      delete static_cast<D*>(from.heap);
    }
  }

  // Moves `other`'s callable into this empty Task and leaves `other` empty.
  void take(Task& other) noexcept {
    if (other.invoke_ == nullptr) return;
    if (other.manage_ != nullptr) {
      other.manage_(Operation::kMove, other.storage_, &storage_);
    } else {
      std::memcpy(&storage_, &other.storage_, sizeof(Storage));
    }
    invoke_ = other.invoke_;
    manage_ = other.manage_;
    other.invoke_ = nullptr;
    other.manage_ = nullptr;
  }
  void reset() noexcept {
    if (manage_ != nullptr) manage_(Operation::kDestroy, storage_, nullptr);
    invoke_ = nullptr;
    manage_ = nullptr;
  }

  Storage storage_;
  Invoke invoke_ = nullptr;
  Manage manage_ = nullptr;
};

static_assert(sizeof(Task) == 64, "a Task is one cache line");

}  // namespace fnhost

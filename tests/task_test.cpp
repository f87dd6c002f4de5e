// SPDX-License-Identifier: Apache-2.0
// Tests for fnhost::Task (include/fnhost/task.hpp): what makes an empty Task, calling, moving,
// replacing and destroying the callable exactly once, inline and heap storage alike, and the
// callables that must go to the heap (too large, over-aligned, or with a throwing move).

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include <catch2/catch.hpp>

#include "absl/functional/any_invocable.h"
#include "fnhost/task.hpp"

namespace {

using fnhost::Task;

// A callable of `Size` bytes that counts its live copies and its calls.
template <std::size_t Size, bool kNothrowMove = true>
struct Counted {
  explicit Counted(int* live_count, int* call_count) : live(live_count), calls(call_count) {
    ++*live;
  }
  Counted(const Counted& other) : live(other.live), calls(other.calls) { ++*live; }
  Counted(Counted&& other) noexcept(kNothrowMove) : live(other.live), calls(other.calls) {
    ++*live;
  }
  ~Counted() { --*live; }
  void operator()() { ++*calls; }
  int* live;
  int* calls;
  std::array<unsigned char, Size - 2 * sizeof(int*)> padding{};
};

TEST_CASE("a Task is one cache line", "[task]") { CHECK(sizeof(Task) == 64); }

TEST_CASE("a Task made from nothing, nullptr or an empty callable is empty", "[task]") {
  void (*null_function)() = nullptr;
  std::function<void()> empty_function;
  absl::AnyInvocable<void()> empty_invocable;
  CHECK_FALSE(Task{});
  CHECK_FALSE(Task(nullptr));
  CHECK_FALSE(Task(null_function));
  CHECK_FALSE(Task(empty_function));
  CHECK_FALSE(Task(std::move(empty_invocable)));
  CHECK(Task{} == nullptr);
  CHECK(nullptr == Task{});
  CHECK_FALSE(Task{} != nullptr);
}

TEST_CASE("a Task calls its callable, keeping a mutable lambda's state between calls",
          "[task]") {
  int sum = 0;
  Task task = [&sum, count = 0]() mutable { sum += ++count; };
  REQUIRE(task);
  CHECK(task != nullptr);
  task();
  task();
  task();
  CHECK(sum == 6);
  // A function pointer and non-empty wrappers work too; a result is discarded.
  static int calls = 0;
  Task from_pointer = +[] { ++calls; };
  Task from_function = std::function<int()>([] { return ++calls; });
  Task from_invocable = absl::AnyInvocable<void()>([] { ++calls; });
  from_pointer();
  from_function();
  from_invocable();
  CHECK(calls == 3);
}

TEMPLATE_TEST_CASE("a Task destroys its callable exactly once through moves and resets",
                   "[task]", (Counted<16>), (Counted<48>), (Counted<49>), (Counted<200>),
                   (Counted<32, false>)) {
  int live = 0;
  int calls = 0;
  {
    Task first = TestType(&live, &calls);
    CHECK(live == 1);
    Task second = std::move(first);
    CHECK_FALSE(first);  // NOLINT(bugprone-use-after-move): moved-from is empty
    CHECK(live == 1);
    second();
    Task third;
    third = std::move(second);
    third();
    CHECK(calls == 2);
    CHECK(live == 1);
    Task& same = third;
    third = std::move(same);  // self-move keeps it
    CHECK(live == 1);
    third();
    CHECK(calls == 3);
    third = nullptr;
    CHECK(live == 0);
    CHECK_FALSE(third);
    third = TestType(&live, &calls);  // assigning a callable replaces
    CHECK(live == 1);
    Task other = TestType(&live, &calls);
    third.swap(other);
    CHECK(live == 2);
  }
  CHECK(live == 0);
}

TEST_CASE("a Task of an over-aligned callable keeps its alignment", "[task]") {
  struct alignas(64) Aligned {
    void operator()() { ok = reinterpret_cast<std::uintptr_t>(this) % 64 == 0; }
    bool ok = false;
    bool* seen;
  };
  bool aligned = false;
  Task task = [callable = Aligned{}, &aligned]() mutable {
    callable();
    aligned = callable.ok;
  };
  task();
  CHECK(aligned);
}

TEST_CASE("a Task keeps a capture of a string and two pointers whole through moves", "[task]") {
  // The shape of a typical task: 48 bytes, stored inline.
  std::string seen;
  int* unused = nullptr;
  Task task = [text = std::string(100, 'x'), &seen, unused] { seen = text + (unused ? "" : "!"); };
  Task moved = std::move(task);
  Task again = std::move(moved);
  again();
  CHECK(seen == std::string(100, 'x') + "!");
}

TEST_CASE("a callable whose construction throws leaves no Task behind", "[task]") {
  struct Throws {
    Throws() = default;
    Throws(const Throws&) { throw std::bad_alloc(); }
    void operator()() {}
  };
  const Throws source;
  CHECK_THROWS_AS(Task(source), std::bad_alloc);
}

}  // namespace

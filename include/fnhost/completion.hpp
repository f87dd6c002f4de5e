// SPDX-License-Identifier: Apache-2.0
// File: fnhost/completion.hpp
// `Completion`: the answer to a synchronous invocation, delivered once. Wait for it (`get`,
// `wait_for`), poll it (`is_ready`), or hand it a callback (`then`) so a game loop never blocks.
//
//   fnhost::Completion done = host.invoke("resize", event);
//   if (done.wait_for(absl::Milliseconds(50))) use(done.get());
//   host.invoke("log", event).then([](const fnhost::Result& result) { ... });
#pragma once

#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "fnhost/function.hpp"

namespace fnhost {

struct HostCore;
namespace detail {
class CompletionState;
}  // namespace detail

// Shared handle to one invocation's result. Copies refer to the same result. Thread-safe.
class Completion {
 public:
  // A completion that is already answered with `result`.
  static Completion ready(Result result);

  Completion(const Completion& other);
  Completion& operator=(const Completion& other);
  // A moved-from Completion may only be destroyed or assigned to.
  Completion(Completion&& other) noexcept;
  Completion& operator=(Completion&& other) noexcept;
  ~Completion();

  // Whether the result is there. Never blocks.
  [[nodiscard]] bool is_ready() const;
  // Blocks until the result is there and returns it. The reference lives as long as any copy of
  // this Completion; on a temporary (`host.invoke(...).get()`) the result is returned by value,
  // so binding it to a `const Result&` is safe.
  [[nodiscard]] const Result& get() const&;
  // On an rvalue (`host.invoke(...).get()`, `std::move(done).get()`): the result by value,
  // moved out without a copy when this is the only Completion referring to it (copies of it
  // would otherwise read a moved-from result), copied when other copies exist.
  [[nodiscard]] Result get() &&;
  // Blocks up to `timeout` (absl::InfiniteDuration() waits for ever, <= 0 does not wait);
  // returns whether the result is there.
  bool wait_for(absl::Duration timeout) const;
  // Calls `callback` once with the result: at once on this thread if it is ready, otherwise on
  // an executor thread after the handler returns (for a ManualExecutor: the pumping thread),
  // or on the thread that calls Host::shutdown() for an invocation that shutdown answers. It
  // never runs on the host's timer thread: a deadline answers waiters at once and queues the
  // callbacks to the executor. Keep it short and non-blocking; an exception it throws is
  // caught and dropped. Each callback registered is called exactly once.
  void then(absl::AnyInvocable<void(const Result&)> callback) const;

 private:
  // Made by the host; programs get Completions from Host::invoke.
  friend struct HostCore;
  explicit Completion(std::shared_ptr<detail::CompletionState> state);

  std::shared_ptr<detail::CompletionState> state_;
};

}  // namespace fnhost

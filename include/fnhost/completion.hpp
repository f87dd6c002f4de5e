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

namespace detail {
class CompletionState;
}  // namespace detail

// Shared handle to one invocation's result. Copies refer to the same result. Thread-safe.
class Completion {
 public:
  // A completion that is already answered with `result`.
  static Completion ready(Result result);

  explicit Completion(std::shared_ptr<detail::CompletionState> state) : state_(std::move(state)) {}

  // Whether the result is there. Never blocks.
  [[nodiscard]] bool is_ready() const;
  // Blocks until the result is there and returns it. The reference lives as long as any copy of
  // this Completion; on a temporary (`host.invoke(...).get()`) the result is returned by value,
  // so binding it to a `const Result&` is safe.
  [[nodiscard]] const Result& get() const&;
  [[nodiscard]] Result get() &&;
  // Blocks up to `timeout`; returns whether the result is there.
  bool wait_for(absl::Duration timeout) const;
  // Calls `callback` once with the result: at once on this thread if it is ready, otherwise on
  // the thread that completes it (a worker, or the host's timer at a deadline). Keep it short
  // and non-blocking; an exception it throws is caught and dropped. Each callback registered
  // is called exactly once.
  void then(absl::AnyInvocable<void(const Result&)> callback) const;

 private:
  std::shared_ptr<detail::CompletionState> state_;
};

}  // namespace fnhost

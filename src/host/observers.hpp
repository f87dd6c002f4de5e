// SPDX-License-Identifier: Apache-2.0
// Telling InvocationObservers (user code) what happened, through the guarded path: an
// exception an observer throws is dropped. Callers check has_observers() first, so a host
// without observers does no work for them — not even a clock read.
#pragma once

#include <memory>
#include <vector>

#include "fnhost/observability.hpp"

namespace fnhost::detail {

using ObserverList = std::vector<std::shared_ptr<InvocationObserver>>;

template <class Report>
void notify_observers(const ObserverList& observers,
                      void (InvocationObserver::*method)(const Report&), const Report& report) {
  for (const auto& observer : observers) {
    try {
      ((*observer).*method)(report);
    } catch (...) {
      // An observer must not take the invocation path down with it.
    }
  }
}

}  // namespace fnhost::detail

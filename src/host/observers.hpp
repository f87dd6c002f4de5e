// SPDX-License-Identifier: Apache-2.0
// Telling InvocationObservers (user code) what happened, through the guarded path: an
// exception an observer throws is dropped. Callers check has_observers() first, so a host
// without observers does no work for them — not even a clock read.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <vector>

#include "fnhost/observability.hpp"

namespace fnhost::detail {

using ObserverList = std::vector<std::shared_ptr<InvocationObserver>>;

// Tells the first `count` observers (all by default).
template <class Report>
void notify_observers(const ObserverList& observers,
                      void (InvocationObserver::*method)(const Report&), const Report& report,
                      size_t count = static_cast<size_t>(-1)) {
  count = std::min(count, observers.size());
  for (size_t i = 0; i < count; ++i) {
    try {
      ((*observers[i]).*method)(report);
    } catch (...) {
      // An observer must not take the invocation path down with it.
    }
  }
}

}  // namespace fnhost::detail

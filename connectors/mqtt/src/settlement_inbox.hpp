// SPDX-License-Identifier: Apache-2.0
// Internal (connectors/mqtt/src/settlement_inbox.hpp).
// Where host threads leave settlements (Host's SettledCallback) for the connector's thread:
// push() is a short lock and an eventfd write, as the callback contract asks; the connector's
// thread takes them all at once. Shared by the callbacks, so one that fires after the connector
// is gone finds the inbox alive and its settlement is simply never read.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "common/sync.hpp"
#include "fnhost/delivery.hpp"
#include "wakeup.hpp"

namespace fnhost::mqtt::detail {

struct Settled {
  uint64_t token = 0;  // the message's token in the InflightTable
  Settlement outcome = Settlement::kSucceeded;
};

class SettlementInbox {
 public:
  void push(uint64_t token, Settlement outcome) {
    {
      fnhost::detail::MutexLock lock(mu_);
      settled_.push_back({token, outcome});
    }
    wakeup_.signal();
  }

  // Every settlement pushed so far, oldest first.
  std::vector<Settled> take() {
    wakeup_.clear();
    fnhost::detail::MutexLock lock(mu_);
    return std::exchange(settled_, {});
  }

  [[nodiscard]] int fd() const { return wakeup_.fd(); }
  [[nodiscard]] bool ok() const { return wakeup_.ok(); }

 private:
  Wakeup wakeup_;
  fnhost::detail::Mutex mu_;
  std::vector<Settled> settled_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fnhost::mqtt::detail

// SPDX-License-Identifier: Apache-2.0
// Internal (connectors/http/src/admission.hpp).
// Which requests the gateway still takes: every invocation and event enters before it calls
// the host and leaves once answered; drain() stops admitting and waits for those inside.
#pragma once

#include "absl/base/thread_annotations.h"
#include "common/sync.hpp"

namespace fnhost::http::detail {

class Admission {
 public:
  // Admits a request unless draining; a true return must be paired with leave().
  [[nodiscard]] bool enter() {
    fnhost::detail::MutexLock lock(mu_);
    if (draining_) return false;
    ++inside_;
    return true;
  }
  void leave() {
    fnhost::detail::MutexLock lock(mu_);
    if (--inside_ == 0 && draining_) drained_.notify_all();
  }
  // Stops admitting, then blocks until every admitted request left.
  void drain() {
    fnhost::detail::MutexLock lock(mu_);
    draining_ = true;
    while (inside_ > 0) drained_.wait(mu_);
  }
  [[nodiscard]] bool is_draining() const {
    fnhost::detail::MutexLock lock(mu_);
    return draining_;
  }

 private:
  mutable fnhost::detail::Mutex mu_;
  fnhost::detail::CondVar drained_;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  int inside_ ABSL_GUARDED_BY(mu_) = 0;
};

// Holds an admission for one request's scope.
class AdmissionTicket {
 public:
  explicit AdmissionTicket(Admission& admission)
      : admission_(admission), admitted_(admission.enter()) {}
  ~AdmissionTicket() {
    if (admitted_) admission_.leave();
  }
  AdmissionTicket(const AdmissionTicket&) = delete;
  AdmissionTicket& operator=(const AdmissionTicket&) = delete;
  explicit operator bool() const { return admitted_; }

 private:
  Admission& admission_;
  const bool admitted_;
};

}  // namespace fnhost::http::detail

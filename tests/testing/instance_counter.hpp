// SPDX-License-Identifier: Apache-2.0
// Counts a function's instances as they are created and destroyed: `init()` makes an InitFn
// whose state is an int64_t holding the version InitContext reported, freed by a deleter that
// counts the destruction. Tests use it to see that the host frees old and removed versions.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "fnhost/function.hpp"

namespace fnhost::testing {

class InstanceCounter {
 public:
  // An init that counts a created instance whose state (`ctx.instance_state<int64_t>()`) is the
  // InitContext's function_version(); the state's deleter counts it destroyed. The counts are
  // shared, so instances that outlive this object are still counted safely.
  [[nodiscard]] InitFn init() const {
    return [counts = counts_](const InitContext& init) -> absl::StatusOr<std::shared_ptr<void>> {
      counts->created.fetch_add(1);
      return std::shared_ptr<void>(new int64_t(init.function_version()),
                                   [counts](void* state) {
                                     delete static_cast<int64_t*>(state);
                                     counts->destroyed.fetch_add(1);
                                   });
    };
  }

  [[nodiscard]] int64_t created() const { return counts_->created.load(); }
  [[nodiscard]] int64_t destroyed() const { return counts_->destroyed.load(); }
  // Instances alive now: created and not yet destroyed.
  // (Destroyed is read first: an instance created in between can only make this larger.)
  [[nodiscard]] int64_t alive() const {
    const int64_t gone = destroyed();
    return created() - gone;
  }

 private:
  struct Counts {
    std::atomic<int64_t> created{0};
    std::atomic<int64_t> destroyed{0};
  };
  std::shared_ptr<Counts> counts_ = std::make_shared<Counts>();
};

}  // namespace fnhost::testing

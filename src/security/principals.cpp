// SPDX-License-Identifier: Apache-2.0
#include "security/principals.hpp"

#include "fmt/format.h"
#include "fnhost/policy.hpp"

namespace fnhost::detail {

absl::StatusOr<Principal*> PrincipalTable::intern(std::string_view name) {
  if (absl::Status valid = validate_principal_name(name); !valid.ok()) return valid;
  MutexLock lock(mu_);
  auto found = by_name_.find(absl::string_view(name.data(), name.size()));
  if (found != by_name_.end()) return found->second.get();
  if (static_cast<int64_t>(by_name_.size()) >= max_principals_) {
    return absl::ResourceExhaustedError(fmt::format(
        "the host already knows {} principals, HostLimits::max_principals; raise it or reuse "
        "principal names",
        max_principals_));
  }
  auto principal = std::make_unique<Principal>(std::string(name));
  principal->rate.configure(default_limit_);
  Principal* record = principal.get();
  by_name_.emplace(principal->name, std::move(principal));
  return record;
}

absl::Status PrincipalTable::set_rate_limit(std::string_view name, const RateLimit& limit) {
  absl::StatusOr<Principal*> principal = intern(name);
  if (!principal.ok()) return principal.status();
  (*principal)->rate.configure(limit);
  return absl::OkStatus();
}

int64_t PrincipalTable::size() const {
  MutexLock lock(mu_);
  return static_cast<int64_t>(by_name_.size());
}

}  // namespace fnhost::detail

// SPDX-License-Identifier: Apache-2.0
// Internal (src/security/principals.hpp).
// The principals a host knows: one record per name, created on first use (Host::caller,
// Host::set_rate_limit, FunctionSpec::identity) and kept for the host's lifetime, so that
// invocations, triggers and schedules can point at their principal without counting references,
// and a principal's rate-limit state survives its Caller handles. The table is bounded
// (HostLimits::max_principals) because the names may come from outside.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/sync.hpp"
#include "fnhost/limits.hpp"
#include "security/rate_gate.hpp"

namespace fnhost::detail {

struct Principal {
  explicit Principal(std::string principal_name) : name(std::move(principal_name)) {}
  const std::string name;
  RateGate rate;
};

class PrincipalTable {
 public:
  PrincipalTable(int64_t max_principals, RateLimit default_limit)
      : max_principals_(max_principals), default_limit_(default_limit) {}

  // The record of `name`, created with the default rate limit if new. InvalidArgument for a bad
  // name, ResourceExhausted when the table is full. Takes a lock; not for hot paths.
  absl::StatusOr<Principal*> intern(std::string_view name);
  // Gives `name` its own rate limit (interning it). `limit` must be valid.
  absl::Status set_rate_limit(std::string_view name, const RateLimit& limit);
  int64_t size() const;

 private:
  const int64_t max_principals_;
  const RateLimit default_limit_;
  mutable Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Principal>> by_name_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fnhost::detail

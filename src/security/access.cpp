// SPDX-License-Identifier: Apache-2.0
// Access control: the policy check and the principal's rate limit that every call made as a
// principal other than the host passes first, and the limit on what one handler invocation may
// call. The host's own calls carry no principal and skip all of it (one pointer test).
#include <mutex>
#include <shared_mutex>
#include <utility>

#include "fmt/format.h"
#include "host/host_core.hpp"
#include "host/messages.hpp"

namespace fnhost {

namespace {

std::string_view kind_prefix(ResourceKind kind) {
  return kind == ResourceKind::kFunction ? "function" : "topic";
}

}  // namespace

absl::Status HostCore::authorize(const detail::Principal* principal, Action action,
                                 ResourceKind kind, std::string_view name) const {
  if (principal == nullptr) return absl::OkStatus();
  std::shared_lock<std::shared_mutex> lock(policy_mu_);
  if (policy_ == nullptr) return absl::OkStatus();
  const AccessDecision decision = policy_->policy.evaluate(principal->name, action, kind, name);
  if (decision.allowed) return absl::OkStatus();
  const std::string what =
      fmt::format("principal {} may not {} {} {}", detail::quoted(principal->name),
                  action_name(action), kind_prefix(kind), detail::quoted(name));
  if (!decision.explicit_deny) {
    access_counters_.denied_implicitly.fetch_add(1, std::memory_order_relaxed);
    return absl::PermissionDeniedError(
        fmt::format("{}: no policy statement allows it (implicit deny)", what));
  }
  access_counters_.denied_explicitly.fetch_add(1, std::memory_order_relaxed);
  const std::vector<PolicyStatement>& statements = policy_->policy.statements();
  for (size_t i = 0; i < statements.size(); ++i) {
    if (statements[i].id == decision.statement) {
      policy_->denials[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  return absl::PermissionDeniedError(
      fmt::format("{}: denied by policy statement {}", what, detail::quoted(decision.statement)));
}

absl::Status HostCore::authorize_call(const detail::Principal* principal, Action action,
                                      ResourceKind kind, std::string_view name) {
  if (principal == nullptr) return absl::OkStatus();
  if (absl::Status allowed = authorize(principal, action, kind, name); !allowed.ok()) {
    return allowed;
  }
  const int64_t wait_ns = principal->rate.try_take(now_ns());
  if (wait_ns == 0) return absl::OkStatus();
  limit_counters_.principal_rate_limited.fetch_add(1, std::memory_order_relaxed);
  return detail::rate_limited_error(fmt::format("principal {}: over its rate limit; retry after {}",
                                                detail::quoted(principal->name),
                                                absl::FormatDuration(absl::Nanoseconds(wait_ns))),
                                    wait_ns);
}

absl::StatusOr<const detail::Principal*> HostCore::begin_context_call(detail::Invocation& caller,
                                                                      std::string_view callee) {
  const int64_t max_calls = options.limits.max_calls_per_invocation;
  if (max_calls > 0 && ++caller.context_calls > max_calls) {
    limit_counters_.calls_per_invocation_exceeded.fetch_add(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(
        fmt::format("function {}: call to {} refused: one invocation may make at most {} calls "
                    "(HostLimits::max_calls_per_invocation)",
                    detail::quoted(caller.slot->name), detail::quoted(callee), max_calls));
  }
  return detail::acting_principal(caller);
}

absl::Status HostCore::set_rate_limit(std::string_view principal, const RateLimit& limit) {
  if (absl::Status valid = detail::validate_rate_limit(limit, "set_rate_limit: limit");
      !valid.ok()) {
    return valid;
  }
  return principals_.set_rate_limit(principal, limit);
}

void HostCore::set_policy(std::optional<Policy> policy) {
  std::shared_ptr<const InstalledPolicy> installed;
  if (policy.has_value()) installed = std::make_shared<const InstalledPolicy>(std::move(*policy));
  std::unique_lock<std::shared_mutex> lock(policy_mu_);
  policy_.swap(installed);
  // The old one is released after the lock (it may be the last reference).
  lock.unlock();
}

std::optional<Policy> HostCore::policy() const {
  std::shared_lock<std::shared_mutex> lock(policy_mu_);
  if (policy_ == nullptr) return std::nullopt;
  return policy_->policy;
}

AccessStats HostCore::access_stats() const {
  AccessStats stats{
      .denied_explicitly = access_counters_.denied_explicitly.load(std::memory_order_relaxed),
      .denied_implicitly = access_counters_.denied_implicitly.load(std::memory_order_relaxed)};
  std::shared_lock<std::shared_mutex> lock(policy_mu_);
  if (policy_ == nullptr) return stats;
  const std::vector<PolicyStatement>& statements = policy_->policy.statements();
  stats.denials_by_statement.reserve(statements.size());
  for (size_t i = 0; i < statements.size(); ++i) {
    stats.denials_by_statement.emplace_back(statements[i].id,
                                            policy_->denials[i].load(std::memory_order_relaxed));
  }
  return stats;
}

}  // namespace fnhost

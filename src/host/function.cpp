// SPDX-License-Identifier: Apache-2.0
#include "fnhost/function.hpp"

#include <string>
#include <string_view>
#include <utility>

#include "common/quote.hpp"
#include "fmt/format.h"
#include "fnhost/executor.hpp"
#include "fnhost/policy.hpp"
#include "host/host_internal.hpp"
#include "platform/deadline.hpp"
#include "routing/topic.hpp"

namespace fnhost {

namespace {

bool is_valid_name_character(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

bool is_valid_name(std::string_view name) {
  if (name.empty() || name.size() > 128 || name == "." || name == "..") return false;
  for (char c : name) {
    if (!is_valid_name_character(c)) return false;
  }
  return true;
}

}  // namespace

namespace detail {

std::string quoted(std::string_view name) { return quote_for_message(name); }

}  // namespace detail

absl::Status validate_function_spec(const FunctionSpec& spec) {
  const auto invalid = [&](std::string message) {
    return absl::InvalidArgumentError(
        fmt::format("function {}: {}", detail::quoted(spec.name), message));
  };
  if (spec.name.empty()) return invalid("name must not be empty");
  if (spec.name.size() > 128) {
    return invalid(fmt::format("name must be at most 128 characters, got {}", spec.name.size()));
  }
  for (char c : spec.name) {
    if (!is_valid_name_character(c)) {
      return invalid(
          fmt::format("name may contain only letters, digits, '_', '-' and '.'; found {:?}", c));
    }
  }
  // "." and ".." would name a directory wherever a name becomes a path segment (an HTTP route,
  // a metrics file, a topic level).
  if (spec.name == "." || spec.name == "..") return invalid("name must not be \".\" or \"..\"");
  if (!spec.handler) return invalid("handler must be set");
  if (spec.timeout <= absl::ZeroDuration() || spec.timeout > absl::Hours(1)) {
    return invalid(
        fmt::format("timeout must be > 0 and <= 1h, got {}", absl::FormatDuration(spec.timeout)));
  }
  if (spec.max_concurrency < 0) {
    return invalid(
        fmt::format("max_concurrency must be >= 0 (0 = no limit), got {}", spec.max_concurrency));
  }
  if (spec.max_queued < 0) {
    return invalid(fmt::format("max_queued must be >= 0 (0 = no limit), got {}", spec.max_queued));
  }
  if (spec.min_instances < 0) {
    return invalid(fmt::format("min_instances must be >= 0, got {}", spec.min_instances));
  }
  if (spec.max_concurrency > 0 && spec.min_instances > spec.max_concurrency) {
    return invalid(fmt::format("min_instances ({}) must not exceed max_concurrency ({})",
                               spec.min_instances, spec.max_concurrency));
  }
  if (spec.memory_mb < 1 || spec.memory_mb > 65536) {
    return invalid(fmt::format("memory_mb must be in 1..65536, got {}", spec.memory_mb));
  }
  if (absl::Status retry = validate_retry_policy(spec.retry); !retry.ok()) {
    return invalid(fmt::format("retry: {}", detail::std_view(retry.message())));
  }
  for (const auto& [field, destination] :
       {std::pair<const char*, const Destination*>{"on_success", &spec.on_success},
        std::pair<const char*, const Destination*>{"on_failure", &spec.on_failure}}) {
    if (!destination->function.empty() && !destination->topic.empty()) {
      return invalid(fmt::format("{}: set function or topic, not both", field));
    }
    if (!destination->function.empty() && !is_valid_name(destination->function)) {
      return invalid(fmt::format("{}.function {} is not a valid function name", field,
                                 detail::quoted(destination->function)));
    }
    if (!destination->topic.empty()) {
      if (absl::Status topic = detail::validate_topic(destination->topic); !topic.ok()) {
        return invalid(fmt::format("{}.topic: {}", field, detail::std_view(topic.message())));
      }
    }
  }
  if (static_cast<int>(spec.log_level) < static_cast<int>(LogLevel::kDebug) ||
      static_cast<int>(spec.log_level) > static_cast<int>(LogLevel::kError)) {
    return invalid(fmt::format("log_level must be one of LogLevel's values, got {}",
                               static_cast<int>(spec.log_level)));
  }
  for (const std::string& key : spec.secret_env) {
    if (!spec.env.contains(key)) {
      return invalid(fmt::format("secret_env names {}, which env does not set",
                                 detail::quoted(key)));
    }
  }
  if (spec.idempotency_window < absl::ZeroDuration() ||
      spec.idempotency_window > absl::Hours(24 * 7)) {
    return invalid(fmt::format("idempotency_window must be in 0..7 days (0 = off), got {}",
                               absl::FormatDuration(spec.idempotency_window)));
  }
  if (absl::Status rate = detail::validate_rate_limit(spec.rate_limit, "rate_limit");
      !rate.ok()) {
    return invalid(std::string(detail::std_view(rate.message())));
  }
  if (!spec.identity.empty()) {
    if (absl::Status identity = validate_principal_name(spec.identity); !identity.ok()) {
      return invalid(fmt::format("identity: {}", detail::std_view(identity.message())));
    }
  }
  return absl::OkStatus();
}

std::optional<std::string_view> InitContext::env(std::string_view key) const {
  auto it = env_.find(absl::string_view(key.data(), key.size()));
  if (it == env_.end()) return std::nullopt;
  return std::string_view(it->second);
}

bool CancellationToken::is_cancelled() const {
  return state_->cancelled.load(std::memory_order_acquire);
}

bool CancellationToken::wait_for(absl::Duration duration) const {
  if (is_cancelled()) return true;
  const auto deadline = detail::steady_deadline_after(duration);
  BlockingScope blocking;
  detail::CancelState::Waiter& waiter = state_->get_waiter();
  detail::MutexLock lock(waiter.mu);
  while (!state_->cancelled.load()) {
    if (!waiter.cv.wait_until(waiter.mu, deadline)) break;
  }
  return state_->cancelled.load();
}

}  // namespace fnhost

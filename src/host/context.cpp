// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <chrono>

#include "fmt/format.h"
#include "fnhost/executor.hpp"
#include "fnhost/function.hpp"
#include "host/host_core.hpp"
#include "host/host_internal.hpp"
#include "platform/platform.hpp"

namespace fnhost {

std::string Context::invocation_id() const {
  return invocation_->slot->host->invocation_id(*invocation_);
}

std::string_view Context::function_name() const { return invocation_->slot->name; }

int64_t Context::function_version() const { return invocation_->version->number; }

int Context::memory_mb() const { return invocation_->version->spec.memory_mb; }

absl::Duration Context::remaining() const {
  return absl::Nanoseconds(invocation_->deadline_ns - invocation_->slot->host->now_ns());
}

CancellationToken Context::cancellation() const { return CancellationToken(&invocation_->cancel); }

std::optional<std::string_view> Context::env(std::string_view key) const {
  const EnvMap& env = invocation_->version->spec.env;
  auto it = env.find(absl::string_view(key.data(), key.size()));
  if (it == env.end()) return std::nullopt;
  return std::string_view(it->second);
}

bool Context::is_cold_start() const { return invocation_->cold_start; }

const InvocationSpan* Context::span() const {
  return invocation_->traced ? &invocation_->traced_span() : nullptr;
}

bool FunctionLog::enabled(LogLevel level) const {
  return static_cast<int>(level) >= static_cast<int>(invocation_->version->spec.log_level) &&
         invocation_->slot->host->options.log_sink != nullptr;
}

void FunctionLog::write(LogLevel level, std::string_view message) const {
  if (!enabled(level)) return;
  const HostCore& host = *invocation_->slot->host;
  std::vector<LogField> fields;
  fields.reserve(fields_.size());
  for (const auto& [key, value] : fields_) fields.push_back({key, value});
  std::string trace_id;
  std::string span_id;
  if (invocation_->traced) {
    const InvocationSpan& span = invocation_->traced_span();
    trace_id = trace_id_hex(span.context.trace_id);
    span_id = span_id_hex(span.context.span_id);
  }
  host.log(level, invocation_->slot->name, host.invocation_id(*invocation_), message,
           HostCore::LogExtras{.trace_id = trace_id, .span_id = span_id, .fields = fields});
}

const InstanceState* Context::instance_state_holder() const {
  return invocation_->instance != nullptr ? &invocation_->instance->state : nullptr;
}

namespace {
// What a handler's call hands its callee: one level deeper, within what the caller has left.
// DeadlineExceeded when nothing is left.
// Counted against HostLimits::max_calls_per_invocation, and made as the caller's identity.
absl::StatusOr<detail::Lineage> callee_lineage(detail::Invocation& caller,
                                               std::string_view callee) {
  HostCore& host = *caller.slot->host;
  const int64_t left = caller.deadline_ns - host.now_ns();
  if (left <= 0) {
    return absl::DeadlineExceededError(fmt::format("function \"{}\": no time left to call {}",
                                                   caller.slot->name, detail::quoted(callee)));
  }
  absl::StatusOr<const detail::Principal*> principal = host.begin_context_call(caller, callee);
  if (!principal.ok()) return principal.status();
  return detail::Lineage{
      .budget_ns = left, .chain_depth = caller.lineage.chain_depth + 1, .principal = *principal};
}
}  // namespace

Context::Context(detail::Invocation& invocation) : invocation_(&invocation) {
  if (invocation.batch != nullptr) batch_.emplace(*invocation.batch);
}

const EventBatch* Context::batch() const { return batch_.has_value() ? &*batch_ : nullptr; }

absl::Status Context::fail_batch_item(size_t index, absl::Status error) {
  if (invocation_->batch == nullptr) {
    return absl::InvalidArgumentError("fail_batch_item: this invocation is not a batch");
  }
  if (index >= invocation_->batch->size()) {
    return absl::InvalidArgumentError(
        fmt::format("fail_batch_item: index {} out of range (the batch has {} events)", index,
                    invocation_->batch->size()));
  }
  if (error.ok()) return absl::InvalidArgumentError("fail_batch_item: the error must not be OK");
  if (invocation_->item_failures == nullptr) {
    invocation_->item_failures = std::make_unique<detail::ItemFailures>();
  }
  for (auto& [failed, status] : *invocation_->item_failures) {
    if (failed == index) {
      status = std::move(error);
      return absl::OkStatus();
    }
  }
  invocation_->item_failures->emplace_back(index, std::move(error));
  return absl::OkStatus();
}

int Context::chain_depth() const { return invocation_->lineage.chain_depth; }

int Context::attempt() const { return invocation_->lineage.attempt; }

Result Context::invoke(std::string_view name, Event event) {
  HostCore& host = *invocation_->slot->host;
  absl::StatusOr<detail::Lineage> lineage = callee_lineage(*invocation_, name);
  if (!lineage.ok()) return lineage.status();
  host.inject_span(*invocation_, event);
  auto state = std::make_shared<detail::CompletionState>();
  if (absl::Status admitted = host.admit(name, std::move(event), state, *lineage); !admitted.ok()) {
    return admitted;
  }
  // Waiting for the callee blocks this worker: say so, so the executor can run the callee (and
  // everything else) on another thread. A ManualExecutor runs it right here instead.
  BlockingScope blocking;
  while (!state->is_ready()) {
    if (host.executor->help_one()) continue;
    if (state->wait_until(host.wake_for(invocation_->deadline_ns))) break;
    // A manual clock is looked at again every few milliseconds until it reaches the deadline.
    if (host.now_ns() < invocation_->deadline_ns) continue;
    return absl::DeadlineExceededError(
        fmt::format("function \"{}\": deadline passed while waiting for {}",
                    invocation_->slot->name, detail::quoted(name)));
  }
  return state->wait();
}

absl::Status Context::invoke_async(std::string_view name, Event event) {
  absl::StatusOr<detail::Lineage> lineage = callee_lineage(*invocation_, name);
  if (!lineage.ok()) return lineage.status();
  invocation_->slot->host->inject_span(*invocation_, event);
  return invocation_->slot->host->admit(name, std::move(event), nullptr, *lineage);
}

absl::Status Context::publish(Event event) {
  absl::StatusOr<detail::Lineage> lineage = callee_lineage(*invocation_, event.topic);
  if (!lineage.ok()) return lineage.status();
  invocation_->slot->host->inject_span(*invocation_, event);
  return invocation_->slot->host->publish(std::move(event), *lineage);
}

}  // namespace fnhost

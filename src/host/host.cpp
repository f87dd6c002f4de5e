// SPDX-License-Identifier: Apache-2.0
// The Host facade over HostCore, and what every part of the host shares: construction and
// destruction, invocation ids, logging.
#include "fnhost/host.hpp"

#include <chrono>
#include <cmath>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "host/host_core.hpp"
#include "host/invocation_pool.hpp"
#include "observability/redaction.hpp"

namespace fnhost {

using detail::Invocation;

namespace {

uint32_t random_id_prefix() {
  std::random_device device;
  return static_cast<uint32_t>(device());
}

}  // namespace

namespace {
// What the host's pools keep beyond their reserve goes back to the allocator (the host has had
// nothing to time for a while: a burst is over).
void trim_pools() {
  detail::InvocationPool::trim_excess();
  detail::RunTelemetry::trim_pools();
}
}  // namespace

std::unique_ptr<detail::RunTelemetry> HostCore::make_run_telemetry() {
  LogSink* log_sink = options.invocation_logs ? options.log_sink.get() : nullptr;
  SpanSink* span_sink = options.tracing.span_sink.get();
  if (log_sink == nullptr && span_sink == nullptr) return nullptr;
  return std::make_unique<detail::RunTelemetry>(detail::RunTelemetry::Options{
      .log_sink = log_sink,
      .span_sink = span_sink,
      .queue = telemetry_.get(),
      .counters = &telemetry_counters_,
      .wall_at = [this](int64_t steady_ns) { return wall_at(steady_ns); }});
}

HostCore::HostCore(HostOptions host_options, std::shared_ptr<Executor> host_executor, bool owns)
    : options(std::move(host_options)),
      executor(std::move(host_executor)),
      telemetry_(std::make_unique<detail::TelemetryQueue>(
          static_cast<size_t>(options.telemetry_queue_capacity))),
      meter_(options.metering.enabled ? std::make_unique<detail::Meter>(options.metering)
                                      : nullptr),
      run_telemetry_(make_run_telemetry()),
      queues_telemetry_(run_telemetry_ != nullptr),
      observes_runs_(has_observers() || meter_ != nullptr || run_telemetry_ != nullptr),
      owns_executor(owns),
      id_prefix_(random_id_prefix()),
      manual_clock_(options.clock.get()),
      manual_clock_adapter_(manual_clock_),
      one_invocation_per_runner_(executor->traits().pumped),
      timers_(detail::TimerService::Options{
          .manual_clock = manual_clock_ != nullptr ? &manual_clock_adapter_ : nullptr,
          // The host has had no deadline pending for a while: a burst is over, give its
          // surplus records (invocations, log facts, spans) back to the allocator.
          .on_idle = &trim_pools}),
      retries_(timers_, &HostCore::on_retries_due, this) {
  if (manual_clock_ != nullptr) detail::ManualClockAccess::attach(*manual_clock_, &timers_);
  created_at_ = wall_now();
}

HostCore::~HostCore() {
  shutdown(options.drain_timeout);
  // Runner tasks still in the executor refer to slots; let them end before slots go away.
  if (owns_executor) {
    (void)executor->shutdown();  // refused only when run on its own worker
  } else {
    while (live_tasks_.load() > 0) {
      if (!executor->help_one()) std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
  // shutdown() unlinked every schedule's timer; the table's references go now (a schedule
  // whose last run still holds one outlives the host harmlessly).
  std::vector<detail::Schedule*> schedules;
  {
    detail::MutexLock lock(schedules_mu_);
    for (const auto& [id, schedule] : schedules_) schedules.push_back(schedule);
    schedules_.clear();
  }
  for (detail::Schedule* schedule : schedules) schedule->release();
  // After this no advance() fires this host's timers (it waits for one in progress).
  if (manual_clock_ != nullptr) detail::ManualClockAccess::detach(*manual_clock_, &timers_);
  // Nothing queues records any more (shutdown() flushed what it queued; this is for the
  // moments since); what a slow sink has not taken by now is dropped — before the counters its
  // items update go.
  (void)telemetry_->flush(absl::Seconds(1));
  (void)telemetry_->stop();
}

std::chrono::steady_clock::time_point HostCore::wake_for(int64_t deadline_ns) const {
  if (manual_clock_ == nullptr) {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(deadline_ns));
  }
  return std::chrono::steady_clock::now() + std::chrono::milliseconds(10);
}

namespace detail {

void Invocation::release() {
  if (references.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (on_end != nullptr) {
    void (*const ended)(void*) = on_end;
    on_end = nullptr;
    ended(on_end_context);
  }
  InvocationPool::recycle(this);
}

void Invocation::release_payload() {
  // Payloads above this keep no capacity: the pool must not pin large buffers.
  constexpr size_t kKeptCapacity = 4096;
  if (data.capacity() > kKeptCapacity) {
    std::string().swap(data);
  } else {
    data.clear();
  }
  event.reset();
  batch.reset();
  item_failures.reset();
  completion.reset();
}

}  // namespace detail

detail::ShortText<32> HostCore::invocation_id_text(const Invocation& invocation) const {
  // "{:08x}-{:04x}{:012x}" of the host prefix, the slot index and the sequence, by hand: it is
  // made for every observed invocation.
  static constexpr char kHex[] = "0123456789abcdef";
  char text[25];
  const auto put = [&text](int at, uint64_t value, int digits) {
    for (int i = digits - 1; i >= 0; --i, value >>= 4) text[at + i] = kHex[value & 0xf];
  };
  put(0, id_prefix_, 8);
  text[8] = '-';
  put(9, invocation.slot->index & 0xffff, 4);
  put(13, invocation.sequence & 0xffffffffffffULL, 12);
  return detail::ShortText<32>(std::string_view(text, sizeof(text)));
}

std::string HostCore::invocation_id(const Invocation& invocation) const {
  return std::string(invocation_id_text(invocation).view());
}

namespace {
// A log record as it waits in the telemetry queue: owned copies of what LogRecord views.
struct QueuedLogRecord {
  absl::Time time;
  LogLevel level = LogLevel::kInfo;
  std::string function;
  std::string invocation_id;
  std::string message;
  std::string trace_id;
  std::string span_id;
  std::vector<std::pair<std::string, std::string>> fields;
};
}  // namespace

void HostCore::log(LogLevel level, std::string_view function, std::string_view invocation_id,
                   std::string_view message, const LogExtras& extras) const {
  if (options.log_sink == nullptr) return;
  if (!telemetry_->has_room()) {
    telemetry_counters_.log_records_dropped.add(1);
    return;
  }
  QueuedLogRecord queued{.time = wall_now(),
                         .level = level,
                         .function = std::string(function),
                         .invocation_id = std::string(invocation_id),
                         .message = std::string(message),
                         .trace_id = std::string(extras.trace_id),
                         .span_id = std::string(extras.span_id)};
  queued.fields.reserve(extras.fields.size());
  for (const LogField& field : extras.fields) queued.fields.emplace_back(field.key, field.value);
  // A function's secret env values never reach the sink, whoever wrote the record.
  if (!function.empty()) {
    if (const detail::FunctionSlot* slot = table_.find(function)) {
      if (const auto secrets = slot->secrets()) {
        queued.message = detail::redact(queued.message, *secrets);
        for (auto& [key, value] : queued.fields) value = detail::redact(value, *secrets);
      }
    }
  }
  const bool pushed = telemetry_->push([this, record = std::move(queued)]() mutable {
    std::vector<LogField> fields;
    fields.reserve(record.fields.size());
    for (const auto& [key, value] : record.fields) fields.push_back({key, value});
    write_log_record(LogRecord{.time = record.time,
                               .level = record.level,
                               .function = record.function,
                               .invocation_id = record.invocation_id,
                               .message = record.message,
                               .trace_id = record.trace_id,
                               .span_id = record.span_id,
                               .fields = fields});
  });
  if (!pushed) telemetry_counters_.log_records_dropped.add(1);
}

void HostCore::write_log_record(const LogRecord& record) const {
  options.log_sink->write(record);
  telemetry_counters_.log_records.fetch_add(1, std::memory_order_relaxed);
}

CostReport HostCore::cost_report() const {
  const absl::Time now = wall_now();
  if (meter_ == nullptr) return CostReport{.start = created_at_, .end = now};
  return meter_->report(created_at_, now);
}

TelemetryStats HostCore::telemetry_stats() const {
  return TelemetryStats{
      .log_records = telemetry_counters_.log_records.load(std::memory_order_relaxed),
      .log_records_dropped = telemetry_counters_.log_records_dropped.load(),
      .spans = telemetry_counters_.spans.load(std::memory_order_relaxed),
      .spans_dropped = telemetry_counters_.spans_dropped.load(),
      .queued = telemetry_->queued(),
      .invalid_traceparents =
          telemetry_counters_.invalid_traceparents.load(std::memory_order_relaxed)};
}

// ---------------------------------------------------------------------------------------------
// Host facade

struct Host::Impl : HostCore {
  using HostCore::HostCore;
};

namespace {

absl::Status validate_limits(const HostLimits& limits) {
  const auto invalid = [](std::string_view field, std::string_view rule, int64_t value) {
    return absl::InvalidArgumentError(
        fmt::format("HostOptions::limits: {} must be {}, got {}", field, rule, value));
  };
  if (limits.max_sync_payload_bytes < 1) {
    return invalid("max_sync_payload_bytes", ">= 1", limits.max_sync_payload_bytes);
  }
  if (limits.max_async_payload_bytes < 1) {
    return invalid("max_async_payload_bytes", ">= 1", limits.max_async_payload_bytes);
  }
  if (limits.max_attribute_bytes < 1) {
    return invalid("max_attribute_bytes", ">= 1", limits.max_attribute_bytes);
  }
  if (limits.max_extensions < 0 || limits.max_extensions > 10'000) {
    return invalid("max_extensions", "in 0..10000", limits.max_extensions);
  }
  if (limits.max_queued_invocations < 0) {
    return invalid("max_queued_invocations", ">= 0 (0: no limit)", limits.max_queued_invocations);
  }
  if (limits.max_queued_bytes < 0) {
    return invalid("max_queued_bytes", ">= 0 (0: no limit)", limits.max_queued_bytes);
  }
  if (limits.max_fanout < 0) return invalid("max_fanout", ">= 0 (0: no limit)", limits.max_fanout);
  if (limits.max_calls_per_invocation < 0) {
    return invalid("max_calls_per_invocation", ">= 0 (0: no limit)",
                   limits.max_calls_per_invocation);
  }
  if (limits.max_principals < 1) return invalid("max_principals", ">= 1", limits.max_principals);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Host> Host::create(HostOptions options) {
  if (options.drain_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(fmt::format("HostOptions: drain_timeout must be >= 0, got {}",
                                                  absl::FormatDuration(options.drain_timeout)));
  }
  if (options.max_chain_depth < 1 || options.max_chain_depth > 1000) {
    return absl::InvalidArgumentError(fmt::format(
        "HostOptions: max_chain_depth must be in 1..1000, got {}", options.max_chain_depth));
  }
  if (absl::Status limits = validate_limits(options.limits); !limits.ok()) return limits;
  if (absl::Status rate = detail::validate_rate_limit(options.principal_rate_limit,
                                                      "HostOptions::principal_rate_limit");
      !rate.ok()) {
    return rate;
  }
  if (options.telemetry_queue_capacity < 1 ||
      options.telemetry_queue_capacity > detail::TelemetryQueue::kMaxCapacity) {
    return absl::InvalidArgumentError(
        fmt::format("HostOptions: telemetry_queue_capacity must be 1..{}, got {}",
                    detail::TelemetryQueue::kMaxCapacity, options.telemetry_queue_capacity));
  }
  if (!(options.tracing.sample_ratio >= 0.0 && options.tracing.sample_ratio <= 1.0)) {
    return absl::InvalidArgumentError(fmt::format(
        "HostOptions: tracing.sample_ratio must be in 0..1, got {}", options.tracing.sample_ratio));
  }
  if (!(options.metering.price_per_gb_second >= 0.0 &&
        options.metering.price_per_gb_second < HUGE_VAL) ||
      !(options.metering.price_per_million_requests >= 0.0 &&
        options.metering.price_per_million_requests < HUGE_VAL)) {
    return absl::InvalidArgumentError(fmt::format(
        "HostOptions: metering prices must be finite and >= 0, got {} per GB-second and {} per "
        "million requests",
        options.metering.price_per_gb_second, options.metering.price_per_million_requests));
  }
  if (options.max_pending_retries < 1) {
    return absl::InvalidArgumentError(fmt::format(
        "HostOptions: max_pending_retries must be >= 1, got {}", options.max_pending_retries));
  }
  std::shared_ptr<Executor> executor = options.executor;
  bool owns = false;
  if (executor == nullptr) {
    absl::StatusOr<std::unique_ptr<AutoscalingExecutor>> created =
        AutoscalingExecutor::create(options.executor_options);
    if (!created.ok()) return created.status();
    executor = std::shared_ptr<Executor>(*std::move(created));
    owns = true;
  }
  return Host(std::make_unique<Impl>(std::move(options), std::move(executor), owns));
}

Host::Host(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Host::Host(Host&&) noexcept = default;
Host& Host::operator=(Host&&) noexcept = default;
Host::~Host() = default;

absl::Status Host::register_function(FunctionSpec spec) {
  return impl_->register_function(std::move(spec));
}
absl::Status Host::update_function(FunctionSpec spec) {
  return impl_->update_function(std::move(spec));
}
absl::Status Host::remove_function(std::string_view name) { return impl_->remove_function(name); }
bool Host::has_function(std::string_view name) const { return impl_->has_function(name); }
std::vector<std::string> Host::function_names() const { return impl_->function_names(); }

Completion Host::invoke(std::string_view name, Event event) {
  return impl_->invoke(name, std::move(event));
}

absl::Status Host::invoke_async(std::string_view name, Event event) {
  return impl_->admit(name, std::move(event), nullptr);
}
absl::Status Host::invoke_async(std::string_view name, Event event, SettledCallback on_settled) {
  return impl_->invoke_async_settled(name, std::move(event), std::move(on_settled));
}

absl::StatusOr<TriggerId> Host::subscribe(TriggerSpec spec) {
  return impl_->subscribe(std::move(spec));
}
absl::Status Host::unsubscribe(TriggerId id) { return impl_->unsubscribe(id); }
std::vector<TriggerInfo> Host::triggers() const { return impl_->triggers(); }
absl::Status Host::publish(Event event) { return impl_->publish(std::move(event)); }
absl::Status Host::publish(Event event, SettledCallback on_settled) {
  return impl_->publish(std::move(event), {}, std::move(on_settled));
}
absl::Status Host::set_unrouted_function(std::string_view name) {
  return impl_->set_unrouted_function(name);
}
RouterStats Host::router_stats() const { return impl_->router_stats(); }
absl::StatusOr<TriggerId> Host::schedule(ScheduleSpec spec) {
  return impl_->schedule(std::move(spec));
}
std::vector<ScheduleInfo> Host::schedules() const { return impl_->schedules(); }

std::vector<DeadLetter> Host::dead_letters(std::string_view function, size_t limit) const {
  return impl_->dead_letters(function, limit);
}
absl::StatusOr<DeadLetter> Host::dead_letter(uint64_t id) const { return impl_->dead_letter(id); }
int64_t Host::dead_letter_count(std::string_view function) const {
  return impl_->dead_letter_count(function);
}
absl::Status Host::delete_dead_letter(uint64_t id) { return impl_->delete_dead_letter(id); }
absl::Status Host::redrive(uint64_t id) { return impl_->redrive(id); }
absl::StatusOr<int64_t> Host::redrive_all(std::string_view function, size_t limit) {
  return impl_->redrive_all(function, limit);
}

absl::StatusOr<FunctionStats> Host::function_stats(std::string_view name) const {
  return impl_->function_stats(name);
}
absl::StatusOr<Caller> Host::caller(std::string_view principal) {
  absl::StatusOr<detail::Principal*> interned = impl_->intern_principal(principal);
  if (!interned.ok()) return interned.status();
  return Caller(impl_.get(), *interned);
}
void Host::set_policy(Policy policy) { impl_->set_policy(std::move(policy)); }
void Host::clear_policy() { impl_->set_policy(std::nullopt); }
std::optional<Policy> Host::policy() const { return impl_->policy(); }
absl::Status Host::set_rate_limit(std::string_view principal, RateLimit limit) {
  return impl_->set_rate_limit(principal, limit);
}

ExecutorStats Host::executor_stats() const { return impl_->executor->stats(); }
HostMetrics Host::metrics() const { return impl_->metrics(); }
CostReport Host::cost_report() const { return impl_->cost_report(); }
bool Host::flush_telemetry(absl::Duration timeout) const { return impl_->flush_telemetry(timeout); }
Executor& Host::executor() const { return *impl_->executor; }
ShutdownReport Host::shutdown(absl::Duration timeout) { return impl_->shutdown(timeout); }
bool Host::is_accepting() const { return impl_->is_accepting(); }

}  // namespace fnhost

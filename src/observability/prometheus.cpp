// SPDX-License-Identifier: Apache-2.0
// The Prometheus text exposition (format 0.0.4) of a HostMetrics snapshot. Names follow
// Prometheus' conventions (base units, `_total` on counters) and, per function, the names users
// know from Lambda's CloudWatch metrics.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/utf8.hpp"
#include "fmt/format.h"
#include "fnhost/metrics.hpp"

namespace fnhost {

namespace {

using detail::utf8_sequence_length;

// A label value as the text format wants it: backslash, double quote and newline escaped, and
// valid UTF-8 (a topic pattern may hold any bytes: each invalid one becomes U+FFFD).
void append_escaped(std::string& out, std::string_view value) {
  while (!value.empty()) {
    const size_t length = utf8_sequence_length(value);
    if (length == 0) {
      out += "\xEF\xBF\xBD";
      value.remove_prefix(1);
      continue;
    }
    if (length > 1) {
      out += value.substr(0, length);
      value.remove_prefix(length);
      continue;
    }
    const char c = value.front();
    value.remove_prefix(1);
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

using Labels = std::vector<std::pair<std::string_view, std::string_view>>;

// Writes the families one at a time: HELP and TYPE once, then every sample of the family.
class Exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name,
                   type);
  }
  void sample(std::string_view name, const Labels& labels, int64_t value) {
    begin_sample(name, labels);
    fmt::format_to(std::back_inserter(out_), " {}\n", value);
  }
  void sample(std::string_view name, const Labels& labels, double value) {
    begin_sample(name, labels);
    fmt::format_to(std::back_inserter(out_), " {}\n", value);
  }
  std::string take() { return std::move(out_); }

 private:
  void begin_sample(std::string_view name, const Labels& labels) {
    out_ += name;
    if (labels.empty()) return;
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i != 0) out_ += ',';
      out_ += labels[i].first;
      out_ += "=\"";
      append_escaped(out_, labels[i].second);
      out_ += '"';
    }
    out_ += '}';
  }

  std::string out_;
};

// One counter or gauge family with a sample per item of `items`.
template <class Item, class LabelsOf, class ValueOf>
void family_of(Exposition& out, std::string_view name, std::string_view type, std::string_view help,
               const std::vector<Item>& items, LabelsOf labels_of, ValueOf value_of) {
  out.family(name, type, help);
  for (const Item& item : items) out.sample(name, labels_of(item), value_of(item));
}

void duration_histogram(Exposition& out, std::string_view name, std::string_view help,
                        const std::vector<FunctionStats>& functions,
                        const DurationSummary FunctionStats::*member) {
  out.family(name, "histogram", help);
  const std::string bucket = fmt::format("{}_bucket", name);
  const std::string sum = fmt::format("{}_sum", name);
  const std::string count = fmt::format("{}_count", name);
  std::vector<std::string> bounds;
  for (const absl::Duration bound : kDurationBucketBounds) {
    bounds.push_back(fmt::format("{}", absl::ToDoubleSeconds(bound)));
  }
  bounds.emplace_back("+Inf");
  for (const FunctionStats& function : functions) {
    const DurationSummary& summary = function.*member;
    for (size_t i = 0; i < bounds.size(); ++i) {
      // A snapshot taken elsewhere may lack buckets: then every bound counts all.
      const int64_t at = i < summary.buckets.size() ? summary.buckets[i] : summary.count;
      out.sample(bucket, {{"function", function.name}, {"le", bounds[i]}}, at);
    }
    out.sample(sum, {{"function", function.name}}, absl::ToDoubleSeconds(summary.sum));
    out.sample(count, {{"function", function.name}}, summary.count);
  }
}

void function_families(Exposition& out, const std::vector<FunctionStats>& functions) {
  const auto by_function = [](const FunctionStats& f) { return Labels{{"function", f.name}}; };
  struct Family {
    std::string_view name;
    std::string_view type;
    std::string_view help;
    int64_t FunctionStats::*value;
  };
  static constexpr Family kFamilies[] = {
      {"fnhost_invocations_total", "counter", "Invocations accepted, synchronous and asynchronous.",
       &FunctionStats::invocations},
      {"fnhost_successes_total", "counter", "Invocations whose handler returned a value.",
       &FunctionStats::successes},
      {"fnhost_errors_total", "counter",
       "Invocations whose handler or init returned an error or threw.", &FunctionStats::errors},
      {"fnhost_throttles_total", "counter",
       "Invocations refused with ResourceExhausted (queue full).", &FunctionStats::throttles},
      {"fnhost_timeouts_total", "counter",
       "Invocations answered DeadlineExceeded at their deadline.", &FunctionStats::timeouts},
      {"fnhost_cold_starts_total", "counter", "Instances created on demand for an invocation.",
       &FunctionStats::cold_starts},
      {"fnhost_late_results_total", "counter", "Results that arrived after the deadline, dropped.",
       &FunctionStats::late_results},
      {"fnhost_dropped_total", "counter", "Queued invocations shutdown dropped unrun.",
       &FunctionStats::dropped},
      {"fnhost_concurrent_executions", "gauge", "Invocations running now.",
       &FunctionStats::in_flight},
      {"fnhost_queue_depth", "gauge", "Invocations accepted and waiting to start.",
       &FunctionStats::queued},
      {"fnhost_instances", "gauge", "Instances alive, idle and busy.", &FunctionStats::instances},
      {"fnhost_events_accepted_total", "counter", "Asynchronous events accepted.",
       &FunctionStats::events_accepted},
      {"fnhost_events_succeeded_total", "counter", "Asynchronous events that ended in a success.",
       &FunctionStats::events_succeeded},
      {"fnhost_events_dead_lettered_total", "counter",
       "Asynchronous events that ended as a dead letter.", &FunctionStats::events_dead_lettered},
      {"fnhost_events_pending", "gauge",
       "Asynchronous events queued, running or waiting for a retry.",
       &FunctionStats::events_pending},
      {"fnhost_retries_total", "counter", "Attempts scheduled after a failed attempt.",
       &FunctionStats::retries},
      {"fnhost_throttle_requeues_total", "counter",
       "Events re-queued after a capacity refusal, no attempt used.",
       &FunctionStats::throttle_requeues},
      {"fnhost_duplicates_total", "counter",
       "Events answered from an idempotency record instead of running.",
       &FunctionStats::duplicates},
      {"fnhost_dead_letters_lost_total", "counter",
       "Dead letters the store refused or no store kept.", &FunctionStats::dead_letters_lost},
      {"fnhost_destination_errors_total", "counter", "Outcomes a destination refused.",
       &FunctionStats::destination_errors},
      {"fnhost_redriven_total", "counter", "Dead letters redriven.", &FunctionStats::redriven},
      {"fnhost_validation_failures_total", "counter",
       "Events the function's validator refused (the handler did not run).",
       &FunctionStats::validation_failures},
      {"fnhost_rate_limited_total", "counter",
       "Invocations refused by the function's rate limit (also counted as throttles).",
       &FunctionStats::rate_limited},
  };
  for (const Family& family : kFamilies) {
    family_of(out, family.name, family.type, family.help, functions, by_function,
              [&](const FunctionStats& f) { return f.*family.value; });
  }
  family_of(out, "fnhost_oldest_queued_age_seconds", "gauge",
            "Approximate time the oldest queued invocation's event has waited since accepted.",
            functions, by_function,
            [](const FunctionStats& f) { return absl::ToDoubleSeconds(f.oldest_queued_age); });
  duration_histogram(out, "fnhost_duration_seconds",
                     "Handler run time of finished invocations, init included.", functions,
                     &FunctionStats::duration);
  duration_histogram(out, "fnhost_init_duration_seconds", "Init run time of cold starts.",
                     functions, &FunctionStats::init_duration);
}

// A family of one unlabelled sample (the executor's and the router's counters).
struct ScalarFamily {
  std::string_view name;
  std::string_view type;
  std::string_view help;
  int64_t value;
};

template <size_t N>
void scalar_families(Exposition& out, const ScalarFamily (&families)[N]) {
  for (const ScalarFamily& family : families) {
    out.family(family.name, family.type, family.help);
    out.sample(family.name, {}, family.value);
  }
}

void executor_families(Exposition& out, const ExecutorStats& executor) {
  const ScalarFamily families[] = {
      {"fnhost_executor_threads", "gauge", "Worker threads alive.", executor.threads},
      {"fnhost_executor_busy", "gauge", "Workers running a task.", executor.busy},
      {"fnhost_executor_blocked", "gauge", "Busy workers seen blocked.", executor.blocked},
      {"fnhost_executor_stuck", "gauge", "Busy workers whose task overran its deadline.",
       executor.stuck},
      {"fnhost_executor_idle", "gauge", "Workers parked waiting for work.", executor.idle},
      {"fnhost_executor_queued", "gauge", "Tasks submitted and not yet started.", executor.queued},
      {"fnhost_executor_peak_threads", "gauge", "Most worker threads alive at once.",
       executor.peak_threads},
      {"fnhost_executor_peak_running", "gauge", "Most workers computing at once.",
       executor.peak_running},
      {"fnhost_executor_spawned_total", "counter", "Worker threads created.", executor.spawned},
      {"fnhost_executor_reclaimed_total", "counter", "Worker threads that exited when idle.",
       executor.reclaimed},
      {"fnhost_executor_completed_total", "counter", "Tasks that returned normally.",
       executor.completed},
      {"fnhost_executor_failed_total", "counter", "Tasks that ended by throwing.", executor.failed},
      {"fnhost_executor_discarded_total", "counter", "Queued tasks destroyed unrun by stop().",
       executor.discarded},
  };
  scalar_families(out, families);
}

void router_families(Exposition& out, const HostMetrics& metrics) {
  const RouterStats& router = metrics.router;
  const ScalarFamily families[] = {
      {"fnhost_router_published_total", "counter", "Events publish() accepted.", router.published},
      {"fnhost_router_routed_total", "counter", "Published events at least one trigger matched.",
       router.routed},
      {"fnhost_router_unrouted_total", "counter", "Published events no trigger matched.",
       router.unrouted},
      {"fnhost_router_catch_all_total", "counter",
       "Unrouted events queued for the unrouted function.", router.catch_all},
      {"fnhost_router_deliveries_total", "counter", "Events handed to functions by triggers.",
       router.deliveries},
      {"fnhost_router_refused_total", "counter", "Deliveries a function refused.", router.refused},
      {"fnhost_router_throttled_total", "counter",
       "Deliveries that found a full queue and waited to be re-queued.", router.throttled},
      {"fnhost_router_triggers", "gauge", "Triggers subscribed now.", router.triggers},
  };
  scalar_families(out, families);

  std::vector<std::string> trigger_ids;
  for (const TriggerInfo& trigger : metrics.triggers) {
    trigger_ids.push_back(fmt::format("{}", trigger.id));
  }
  struct TriggerFamily {
    std::string_view name;
    std::string_view type;
    std::string_view help;
    int64_t TriggerInfo::*value;
  };
  static constexpr TriggerFamily kTriggerFamilies[] = {
      {"fnhost_trigger_delivered_total", "counter", "Events the trigger handed to its function.",
       &TriggerInfo::delivered},
      {"fnhost_trigger_filtered_out_total", "counter",
       "Events the trigger's pattern matched and its filter refused.", &TriggerInfo::filtered_out},
      {"fnhost_trigger_refused_total", "counter", "Events the trigger's function refused.",
       &TriggerInfo::refused},
      {"fnhost_trigger_throttled_total", "counter",
       "Delivered events that waited for a full queue.", &TriggerInfo::throttled},
      {"fnhost_trigger_batches_total", "counter", "Batch invocations the trigger queued.",
       &TriggerInfo::batches},
      {"fnhost_trigger_ordered_waiting", "gauge",
       "Events waiting behind an earlier one of their ordering key.",
       &TriggerInfo::ordered_waiting},
      {"fnhost_trigger_batched_waiting", "gauge", "Events collected for the next batch.",
       &TriggerInfo::batched_waiting},
  };
  for (const TriggerFamily& family : kTriggerFamilies) {
    out.family(family.name, family.type, family.help);
    for (size_t i = 0; i < metrics.triggers.size(); ++i) {
      const TriggerInfo& trigger = metrics.triggers[i];
      out.sample(family.name,
                 {{"trigger", trigger_ids[i]},
                  {"function", trigger.function},
                  {"pattern", trigger.pattern}},
                 trigger.*family.value);
    }
  }

  std::vector<std::string> schedule_ids;
  for (const ScheduleInfo& schedule : metrics.schedules) {
    schedule_ids.push_back(fmt::format("{}", schedule.id));
  }
  struct ScheduleFamily {
    std::string_view name;
    std::string_view help;
    int64_t ScheduleInfo::*value;
  };
  static constexpr ScheduleFamily kScheduleFamilies[] = {
      {"fnhost_schedule_fired_total", "Invocations the schedule queued.", &ScheduleInfo::fired},
      {"fnhost_schedule_skipped_total", "Fires skipped while the previous run had not ended.",
       &ScheduleInfo::skipped},
      {"fnhost_schedule_missed_total", "Fire times passed over after a stall.",
       &ScheduleInfo::missed},
      {"fnhost_schedule_refused_total", "Fires the schedule's function refused.",
       &ScheduleInfo::refused},
  };
  for (const ScheduleFamily& family : kScheduleFamilies) {
    out.family(family.name, "counter", family.help);
    for (size_t i = 0; i < metrics.schedules.size(); ++i) {
      const ScheduleInfo& schedule = metrics.schedules[i];
      out.sample(family.name,
                 {{"schedule", schedule_ids[i]},
                  {"function", schedule.function},
                  {"expression", schedule.expression}},
                 schedule.*family.value);
    }
  }
}

void telemetry_families(Exposition& out, const TelemetryStats& telemetry) {
  const ScalarFamily families[] = {
      {"fnhost_log_records_total", "counter", "Log records handed to the log sink.",
       telemetry.log_records},
      {"fnhost_log_records_dropped_total", "counter",
       "Log records dropped because the telemetry queue was full.", telemetry.log_records_dropped},
      {"fnhost_spans_total", "counter", "Spans handed to the span sink.", telemetry.spans},
      {"fnhost_spans_dropped_total", "counter",
       "Spans dropped because the telemetry queue was full.", telemetry.spans_dropped},
      {"fnhost_telemetry_queued", "gauge", "Log records and spans waiting for their sink.",
       telemetry.queued},
      {"fnhost_invalid_traceparents_total", "counter",
       "Events whose traceparent was ignored as invalid.", telemetry.invalid_traceparents},
  };
  scalar_families(out, families);
}

void limit_families(Exposition& out, const LimitStats& limits) {
  out.family("fnhost_limit_refusals_total", "counter",
             "Calls refused by the host's limits (HostOptions::limits), by reason.");
  const std::pair<std::string_view, int64_t> reasons[] = {
      {"payload_too_large", limits.payload_too_large},
      {"attribute_too_large", limits.attribute_too_large},
      {"queued_invocations_full", limits.queued_invocations_full},
      {"queued_bytes_full", limits.queued_bytes_full},
      {"function_rate", limits.function_rate_limited},
      {"principal_rate", limits.principal_rate_limited},
      {"fanout", limits.fanout_exceeded},
      {"calls_per_invocation", limits.calls_per_invocation_exceeded},
  };
  for (const auto& [reason, value] : reasons)
    out.sample("fnhost_limit_refusals_total", {{"reason", reason}}, value);
  const ScalarFamily families[] = {
      {"fnhost_queued_invocations", "gauge",
       "Invocations counted against HostLimits::max_queued_invocations.",
       limits.queued_invocations},
      {"fnhost_queued_bytes", "gauge", "Event bytes counted against HostLimits::max_queued_bytes.",
       limits.queued_bytes},
  };
  scalar_families(out, families);
}

void access_families(Exposition& out, const AccessStats& access) {
  out.family("fnhost_access_denials_total", "counter",
             "Calls the access policy refused, by reason: a deny statement, or none allowing.");
  out.sample("fnhost_access_denials_total", {{"reason", "explicit_deny"}},
             access.denied_explicitly);
  out.sample("fnhost_access_denials_total", {{"reason", "implicit_deny"}},
             access.denied_implicitly);
  if (access.denials_by_statement.empty()) return;
  out.family("fnhost_policy_statement_denials_total", "counter",
             "Denials each statement of the installed policy decided.");
  for (const auto& [statement, count] : access.denials_by_statement) {
    out.sample("fnhost_policy_statement_denials_total", {{"statement", statement}}, count);
  }
}

}  // namespace

std::string prometheus_text(const HostMetrics& metrics) {
  Exposition out;
  function_families(out, metrics.functions);
  executor_families(out, metrics.executor);
  router_families(out, metrics);
  telemetry_families(out, metrics.telemetry);
  limit_families(out, metrics.limits);
  access_families(out, metrics.access);
  return out.take();
}

}  // namespace fnhost

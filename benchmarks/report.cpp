// SPDX-License-Identifier: Apache-2.0
// File: benchmarks/report.cpp
// Aggregation and markdown rendering for fnhost_harness: per (workload, system) the median and
// range over repetitions, and per row the ratio of fnhost's median to the best peer's median
// (peers: oneTBB arena and task_group, Asio, the mutex pool, thread-per-task; the raw queue is a
// floor and fnhost's own host path is ours, so neither counts as a peer).
#include "report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

namespace fnhost::bench {
namespace {

std::string format_value(double value) {
  char buffer[64];
  const double magnitude = std::fabs(value);
  if (magnitude >= 100 || value == 0) {
    std::snprintf(buffer, sizeof(buffer), "%.0f", value);
  } else if (magnitude >= 10) {
    std::snprintf(buffer, sizeof(buffer), "%.1f", value);
  } else if (magnitude >= 0.1) {
    std::snprintf(buffer, sizeof(buffer), "%.2f", value);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%.3g", value);
  }
  return buffer;
}

bool applies(const WorkloadDef& workload, const std::string& system) {
  return std::find(workload.systems.begin(), workload.systems.end(), system) !=
         workload.systems.end();
}

// Best peer median of `metric` on this row, if any peer has a result.
bool best_peer(const WorkloadDef& workload, const MetricDef& metric, const Results& results,
               const std::vector<std::string>& columns, std::string* name, double* median) {
  bool found = false;
  for (const std::string& system : columns) {
    if (!is_peer(system) || !applies(workload, system)) continue;
    const std::vector<double> values = results.values(workload.key(), system, metric.key);
    if (values.empty()) continue;
    const double m = summarize(values).median;
    const bool better = !found || (metric.higher_is_better ? m > *median : m < *median);
    if (better) {
      *name = system;
      *median = m;
      found = true;
    }
  }
  return found;
}

std::string ratio_cell(const WorkloadDef& workload, const MetricDef& metric, const Results& results,
                       const std::vector<std::string>& columns, const std::string& ours) {
  if (!metric.ratio || !applies(workload, ours)) return "";
  if (std::find(columns.begin(), columns.end(), ours) == columns.end()) return "";
  const std::vector<double> values = results.values(workload.key(), ours, metric.key);
  if (values.empty()) return "";
  std::string peer;
  double peer_median = 0;
  if (!best_peer(workload, metric, results, columns, &peer, &peer_median)) return "no peer";
  const double our_median = summarize(values).median;
  if (peer_median == 0) return our_median == 0 ? "1.00× vs " + peer : "n/a (peer 0)";
  char buffer[96];
  std::snprintf(buffer, sizeof(buffer), "%.2f× vs %s", our_median / peer_median, peer.c_str());
  return buffer;
}

// A metric's label, with ↑ or ↓ when it is judged (it has a ratio).
std::string metric_label(const MetricDef& metric) {
  return metric.label + (metric.ratio ? (metric.higher_is_better ? " ↑" : " ↓") : "");
}

// The cell of `system` for `metric`: median [min–max] over its successful repetitions (and how
// many failed), FAIL with the first error when none succeeded, "—" when it reports no such value
// (fnhost's own counters) or did not run.
std::string summary_cell(const WorkloadDef& workload, const MetricDef& metric,
                         const Results& results, const std::string& system) {
  const auto* runs = results.find(workload.key(), system);
  if (runs == nullptr) return "—";
  const std::vector<double> values = results.values(workload.key(), system, metric.key);
  int failed = 0;
  std::string first_error;
  for (const ChildResult& run : *runs) {
    if (!run.ok && failed++ == 0) first_error = run.error;
  }
  if (values.empty()) return failed == 0 ? "—" : "FAIL " + first_error;
  const Summary summary = summarize(values);
  std::string cell = format_value(summary.median * metric.scale);
  if (summary.count > 1) {
    cell += " [" + format_value(summary.min * metric.scale) + "–" +
            format_value(summary.max * metric.scale) + ']';
  }
  if (failed > 0) cell += " (" + std::to_string(failed) + " failed)";
  return cell;
}

// The metric of `workload` reported under `key`; null if it has none.
const MetricDef* find_metric(const WorkloadDef& workload, std::string_view key) {
  for (const MetricDef& metric : workload.metrics) {
    if (metric.key == key) return &metric;
  }
  return nullptr;
}

// The median of the host's `key` over the successful repetitions of `workload`; 0 if none.
double host_median(const WorkloadDef& workload, const Results& results, const std::string& key) {
  return summarize(results.values(workload.key(), "host", key)).median;
}

std::string payload_cell(const WorkloadDef& workload) {
  return workload.payload < 0 ? "—" : std::to_string(workload.payload) + " B";
}

// fnhost's median over the raw queue's (the hand-off floor) on this row.
std::string floor_cell(const WorkloadDef& workload, const MetricDef& metric,
                       const Results& results) {
  if (!metric.ratio) return "";
  const std::vector<double> ours = results.values(workload.key(), "fnhost", metric.key);
  const std::vector<double> floor = results.values(workload.key(), "raw_queue", metric.key);
  if (ours.empty() || floor.empty()) return "";
  const double floor_median = summarize(floor).median;
  if (floor_median == 0) return "";
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.2f×", summarize(ours).median / floor_median);
  return buffer;
}

}  // namespace

ChildResult parse_result_line(std::string_view line) {
  ChildResult result;
  std::string status;
  std::istringstream in{std::string(line)};
  std::string token;
  while (in >> token) {
    const auto eq = token.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = token.substr(0, eq);
    const std::string value = token.substr(eq + 1);
    if (key == "status") {
      status = value;
    } else if (key == "reason") {
      result.error = value;
    } else {
      char* end = nullptr;
      const double number = std::strtod(value.c_str(), &end);
      if (end != value.c_str()) result.values[key] = number;
    }
  }
  result.ok = status == "ok";
  if (status.empty()) {
    result.error = "no-result-line";
  } else if (!result.ok) {
    const auto tasks = result.values.find("tasks");
    const auto expected = result.values.find("expected");
    if (tasks != result.values.end() && expected != result.values.end()) {
      char buffer[96];
      std::snprintf(buffer, sizeof(buffer), " (%.0f of %.0f tasks ran)", tasks->second,
                    expected->second);
      result.error += buffer;
    }
  }
  return result;
}

Summary summarize(std::vector<double> values) {
  Summary summary;
  if (values.empty()) return summary;
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  summary.median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  summary.min = values.front();
  summary.max = values.back();
  summary.count = static_cast<int>(n);
  return summary;
}

void Results::add(const std::string& workload, const std::string& system, ChildResult result) {
  results_[{workload, system}].push_back(std::move(result));
}

const std::vector<ChildResult>* Results::find(const std::string& workload,
                                              const std::string& system) const {
  const auto it = results_.find({workload, system});
  return it == results_.end() ? nullptr : &it->second;
}

std::vector<double> Results::values(const std::string& workload, const std::string& system,
                                    const std::string& key) const {
  std::vector<double> out;
  if (const auto* runs = find(workload, system)) {
    for (const ChildResult& run : *runs) {
      if (!run.ok) continue;
      const auto it = run.values.find(key);
      if (it != run.values.end()) out.push_back(it->second);
    }
  }
  return out;
}

std::vector<std::string> Results::failures() const {
  std::vector<std::string> out;
  for (const auto& [key, runs] : results_) {
    for (const ChildResult& run : runs) {
      if (!run.ok) out.push_back(key.first + " " + key.second + ": " + run.error);
    }
  }
  return out;
}

std::string render_table(const std::vector<WorkloadDef>& workloads, const Results& results,
                         const std::vector<std::string>& columns,
                         const std::map<std::string, std::string>& skipped) {
  std::ostringstream out;
  const bool have_fnhost = std::find(columns.begin(), columns.end(), "fnhost") != columns.end();
  const bool have_host = std::find(columns.begin(), columns.end(), "host") != columns.end();
  const bool have_floor =
      have_fnhost && std::find(columns.begin(), columns.end(), "raw_queue") != columns.end();
  out << "| workload | payload | metric |";
  for (const std::string& system : columns) out << ' ' << system << " |";
  if (have_fnhost) out << " fnhost ÷ best peer |";
  if (have_host) out << " host ÷ best peer |";
  if (have_floor) out << " fnhost ÷ raw_queue |";
  out << "\n|---|---|---|";
  for (std::size_t i = 0; i < columns.size(); ++i) out << "---|";
  if (have_fnhost) out << "---|";
  if (have_host) out << "---|";
  if (have_floor) out << "---|";
  out << '\n';

  for (const WorkloadDef& workload : workloads) {
    if (workload.own_table) continue;
    for (const MetricDef& metric : workload.metrics) {
      out << "| " << workload.title << " | " << payload_cell(workload) << " | "
          << metric_label(metric) << " |";
      for (const std::string& system : columns) {
        out << ' ';
        if (!applies(workload, system)) {
          out << "—";
        } else if (const auto it = skipped.find(system); it != skipped.end()) {
          out << "skipped";
        } else {
          out << summary_cell(workload, metric, results, system);
        }
        out << " |";
      }
      if (have_fnhost)
        out << ' ' << ratio_cell(workload, metric, results, columns, "fnhost") << " |";
      if (have_host) out << ' ' << ratio_cell(workload, metric, results, columns, "host") << " |";
      if (have_floor) out << ' ' << floor_cell(workload, metric, results) << " |";
      out << '\n';
    }
  }
  return out.str();
}

std::string render_observability_table(const std::vector<WorkloadDef>& workloads,
                                       const Results& results) {
  std::ostringstream rows;
  std::ostringstream notes;
  for (const WorkloadDef& workload : workloads) {
    const MetricDef* off = find_metric(workload, "off_rate");
    const MetricDef* on = find_metric(workload, "on_rate");
    const MetricDef* ratio = find_metric(workload, "on_off_ratio");
    if (!workload.own_table || off == nullptr || on == nullptr || ratio == nullptr ||
        results.find(workload.key(), "host") == nullptr) {
      continue;
    }
    const std::string payload = payload_cell(workload);
    rows << "| " << workload.title << " off | " << payload << " | " << metric_label(*off) << " | "
         << summary_cell(workload, *off, results, "host") << " | |\n";
    rows << "| " << workload.title << " on | " << payload << " | " << metric_label(*on) << " | "
         << summary_cell(workload, *on, results, "host") << " | "
         << summary_cell(workload, *ratio, results, "host") << " |\n";
    if (results.values(workload.key(), "host", ratio->key).empty()) continue;

    const double ratio_median = host_median(workload, results, ratio->key);
    const double invocations = host_median(workload, results, "invocations");
    const double records = host_median(workload, results, "log_records");
    const double records_dropped = host_median(workload, results, "log_records_dropped");
    const double spans = host_median(workload, results, "spans");
    const double spans_dropped = host_median(workload, results, "spans_dropped");
    const auto share = [](double part, double whole) { return whole > 0 ? 100 * part / whole : 0; };
    char line[768];
    std::snprintf(line, sizeof(line),
                  "- %s: on ÷ off %.2f (median) %s the target ≥ %.2f\n"
                  "- %s telemetry of the \"on\" hosts (medians per repetition, read after the "
                  "timed part; offered: %.0f invocations, 3 records and 1 span each, through a "
                  "queue of %.0f): log_records=%.0f, log_records_dropped=%.0f (%.1f%%), "
                  "spans=%.0f, spans_dropped=%.0f (%.1f%%); metered requests %.0f; "
                  "prometheus_text() %s metrics()\n",
                  payload.c_str(), ratio_median,
                  ratio_median >= kW11TargetRatio ? "meets" : "MISSES", kW11TargetRatio,
                  payload.c_str(), invocations, host_median(workload, results, "queue_capacity"),
                  records, records_dropped, share(records_dropped, records + records_dropped),
                  spans, spans_dropped, share(spans_dropped, spans + spans_dropped),
                  host_median(workload, results, "metered_requests"),
                  host_median(workload, results, "exposition_mismatches") == 0 ? "agrees with"
                                                                               : "DISAGREES with");
    notes << line;
  }
  if (rows.tellp() == 0) return "";
  std::ostringstream out;
  out << "W11 observability overhead: the host, one producer, Host::invoke_async of an empty "
         "handler. off: no log sink, observers, invocation logs, tracing or metering; on: all "
         "of them (logfmt log sink and OTLP/JSON span sink writing to /dev/null, START/END/REPORT "
         "records, every invocation traced, metering). Each repetition is one process running "
         "fresh hosts off, on, on, off; on ÷ off is each repetition's ratio, median "
         "[min–max].\n\n"
      << "| workload | payload | metric | host | on ÷ off ↑ |\n|---|---|---|---|---|\n"
      << rows.str() << "\n"
      << "- target (issue): with everything on, the empty-handler async throughput drops by no "
         "more than 10%: on ÷ off ≥ "
      << format_value(kW11TargetRatio) << '\n'
      << notes.str();
  return out.str();
}

std::string render_diagnostics(const std::vector<WorkloadDef>& workloads, const Results& results,
                               const std::vector<std::string>& columns) {
  std::ostringstream out;
  bool any = false;
  for (const WorkloadDef& workload : workloads) {
    for (const std::string& system : columns) {
      const auto* runs = results.find(workload.key(), system);
      if (runs == nullptr) continue;
      std::map<std::string, std::vector<double>> by_key;
      for (const ChildResult& run : *runs) {
        if (!run.ok) continue;
        for (const auto& [key, value] : run.values) {
          if (key.rfind("x_", 0) == 0) by_key[key.substr(2)].push_back(value);
        }
      }
      if (by_key.empty()) continue;
      if (!any) {
        out << "| workload | system | medians |\n|---|---|---|\n";
        any = true;
      }
      out << "| " << workload.key() << " | " << system << " |";
      for (const auto& [key, values] : by_key) {
        out << ' ' << key << '=' << format_value(summarize(values).median);
      }
      out << " |\n";
    }
  }
  return out.str();
}

}  // namespace fnhost::bench

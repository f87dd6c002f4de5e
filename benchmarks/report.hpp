// SPDX-License-Identifier: Apache-2.0
// File: benchmarks/report.hpp
// The harness's parent side of the child protocol and its output: parsing a child's result
// line (`status=ok tasks=N expected=N rejected=N key=value ...`), collecting repetitions, and
// rendering the markdown table — per system the median [min–max] over repetitions, and the
// ratio of fnhost (and of the host's invoke_async path) to the best peer on each row.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "workloads.hpp"

namespace fnhost::bench {

// One child's outcome as the parent saw it.
struct ChildResult {
  bool ok = false;
  std::string error;  // set when !ok: the child's reason, a crash or a kill
  std::map<std::string, double> values;
};

// Parses the child's result line; a missing or malformed line is a failed result.
ChildResult parse_result_line(std::string_view line);

// Median, min and max of a set of repetitions.
struct Summary {
  double median = 0;
  double min = 0;
  double max = 0;
  int count = 0;
};
Summary summarize(std::vector<double> values);

// Every measurement of a run, keyed by (WorkloadDef::key(): the workload id and its payload
// size, system).
class Results {
 public:
  void add(const std::string& workload, const std::string& system, ChildResult result);
  [[nodiscard]] const std::vector<ChildResult>* find(const std::string& workload,
                                                     const std::string& system) const;
  // Values of `key` from the successful repetitions.
  [[nodiscard]] std::vector<double> values(const std::string& workload, const std::string& system,
                                           const std::string& key) const;
  // Descriptions of every failed measurement ("W1 fnhost: timeout:W1 tasks=..").
  [[nodiscard]] std::vector<std::string> failures() const;

 private:
  std::map<std::pair<std::string, std::string>, std::vector<ChildResult>> results_;
};

// The main table, one block of rows per workload and payload size (a payload column), without
// the workloads shown apart (WorkloadDef::own_table). `columns` are the systems selected for
// this run, in order; `skipped` maps a system that was not compiled in to its message. A metric a
// system does not report (fnhost's own counters) shows "—".
std::string render_table(const std::vector<WorkloadDef>& workloads, const Results& results,
                         const std::vector<std::string>& columns,
                         const std::map<std::string, std::string>& skipped);

// The table of the workloads shown apart (WorkloadDef::own_table: W11), one pair of rows per
// payload size: the host's invocations/s with observability off and on, median [min–max], the
// on ÷ off ratio of each repetition, whether its median meets kW11TargetRatio, and the
// telemetry counters of the "on" hosts. Empty when none of them ran.
std::string render_observability_table(const std::vector<WorkloadDef>& workloads,
                                       const Results& results);

// fnhost's own counters per workload (keys starting with x_), medians over repetitions.
std::string render_diagnostics(const std::vector<WorkloadDef>& workloads, const Results& results,
                               const std::vector<std::string>& columns);

}  // namespace fnhost::bench

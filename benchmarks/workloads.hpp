// SPDX-License-Identifier: Apache-2.0
// File: benchmarks/workloads.hpp
// The scenario harness's workloads (W1..W11, memory M1/M2) as data the parent uses to build the
// table (which systems run, which metrics are reported and which way is better, which carry a
// payload), and the entry point a child process calls to run one (system, workload) measurement.
// See workloads.cpp for what each workload does and the target it is judged against.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fnhost::bench {

// Everything a child needs to run one measurement; the parent passes it on the command line.
struct Params {
  bool smoke = false;          // tiny sizes: exercise every path, measure nothing
  int pool = 0;                // threads of fixed-size pools (set by the parent per workload)
  int fnhost_max_threads = 0;  // ExecutorOptions::max_threads for fnhost/host; 0 = default
  double spin_per_us = 0;      // spin_arithmetic iterations per microsecond (parent calibrates)
  bool blocking_hint = false;  // wrap sleeps in fnhost::BlockingScope (a no-op off fnhost)
  double timeout_s = 120;      // a child gives up waiting for its tasks after this long
  // Bytes of data each task carries in the payload-sized workloads (W1, W2, W7, W10's W1 part),
  // 0..kMaxPayloadBytes. 16 by default: the issue judges its targets with 16-byte events (one
  // past std::string's inline capacity, so each payload is a heap allocation).
  int64_t payload = 16;
};

// Largest --payload size.
inline constexpr int64_t kMaxPayloadBytes = int64_t{1} << 20;
// Payload bytes a measurement builds at most: above it the task count shrinks (see
// payload_tasks()), since a producer that outruns the pool leaves every payload queued.
inline constexpr int64_t kPayloadBudgetBytes = int64_t{1} << 30;

// W11's invocations per configuration (W1's count over both configurations), in two runs of half
// each; --smoke: 20,000. Payloads over 1,073 bytes shrink it as payload_tasks() says.
inline constexpr int64_t kW11Invocations = 1'000'000;
// W11's target (the issue's): with everything on, at least this share of the throughput with
// everything off.
inline constexpr double kW11TargetRatio = 0.90;

// Tasks a payload-sized workload runs: `tasks`, or fewer so that tasks x `payload` bytes stay
// within kPayloadBudgetBytes (at least 1,024 tasks).
int64_t payload_tasks(int64_t tasks, int64_t payload);

// One child's result: task accounting plus named values.
struct Measurement {
  bool ok = true;
  std::string error;     // why not ok (timeout, setup failure, lost tasks)
  int64_t tasks = 0;     // tasks that ran
  int64_t expected = 0;  // tasks that should have run
  int64_t rejected = 0;  // submits the system refused
  std::vector<std::pair<std::string, double>> values;
};

// A number a workload reports.
struct MetricDef {
  std::string key;        // key in the child's result line
  std::string label;      // table label, unit included
  bool higher_is_better;  // direction, shown as ↑ / ↓
  bool ratio;             // whether the fnhost / best-peer ratio makes sense
  double scale = 1;       // value shown = raw value * scale
};

// A table section: a workload, maybe a variant of one (fixed pools of 64). The parent runs a
// payload-sized workload once per --payload size, as copies with `payload` set.
struct WorkloadDef {
  std::string id;     // what --only matches (W1 .. W11, M1, M2; W4w and W5w follow W4 / W5)
  std::string kind;   // what the child runs (W4w runs W4 with the wide pool)
  std::string title;  // shown in the table
  std::vector<MetricDef> metrics;
  std::vector<std::string> systems;  // which systems this workload applies to
  bool wide_pool = false;            // fixed pools get --wide-pool threads instead of --pool
  bool single_pool = false;          // fixed pools get one thread (queue memory)
  bool carries_payload = false;      // tasks carry --payload bytes: one run per size
  int64_t payload = -1;              // in the parent's copy for one size: the bytes; else -1
  // Shown in a table of its own after the main one, not as rows of it (W11: the host with
  // observability off and on; see render_observability_table()).
  bool own_table = false;

  // What results are filed and reported under: `id`, with the payload size if there is one.
  [[nodiscard]] std::string key() const {
    return payload < 0 ? id : id + " " + std::to_string(payload) + " B";
  }
};

// The workloads in table order.
const std::vector<WorkloadDef>& workload_defs();

// Systems counted as peers for the ratio (not fnhost's own, not the raw-queue floor).
bool is_peer(std::string_view system);

// Runs workload `kind` on `system` in this process and returns its result. Exits the process
// (after printing a result line) if a task is lost and the wait times out, since shutting the
// system down would then hang too.
Measurement run_measurement(std::string_view system, std::string_view kind, const Params& params);

}  // namespace fnhost::bench

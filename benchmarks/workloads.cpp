// SPDX-License-Identifier: Apache-2.0
// File: benchmarks/workloads.cpp
// The scenario harness's workloads, each a template over the system adapters of systems.hpp,
// run in a fresh child process per measurement. What each one measures, and fnhost's target on
// a 2-core machine (issue 3):
//   W1  one producer posts 2,000,000 no-op tasks; tasks/s from the first post to the last task's
//       end. Target: fnhost >= 1.3x the best peer and >= 0.65x the raw queue; host >= 1.0x,
//       with the events carrying 16 bytes of data (the default --payload).
//   W2  the same 2,000,000 tasks from two producers (1,000,000 each).
//   Payload (W1, W2, W7 and W10's W1 part; --payload, default 16 bytes): the producer builds a
//   std::string of that many bytes for each task (host: Event::with_data() per event), the task
//   closure captures it by move, and the task checks its size and first byte. Above 1 GiB of
//   payload per measurement the task count shrinks (payload_tasks()); rates stay per task.
//   W3  tasks posted at a paced 20,000/s for 2 s; post->start latency p50/p99/p999 and the CPU
//       the process burned meanwhile. Target: p50 and p99 no worse than oneTBB's.
//   W4  from idle, 512 tasks that sleep 5 ms each (no blocking hint unless --hint); wall time to
//       drain, and the most tasks running at once. Fixed pools at the core count (W4) and at 64
//       (W4w). Target: <= 30 ms, faster than a pool of 64, >= 40x faster than a core-sized pool.
//   W5  20,000 tasks of ~50 us of arithmetic; wall time and the most tasks running at once.
//       Pools at the core count (W5) and at 64 (W5w). Target: <= 1.03x the best core-sized pool,
//       at most cores + 1 running at once.
//   W6  after one task, 3 s idle: CPU time of the pool's threads (the process's minus the
//       sleeping measuring thread's) in the window, the same scaled up from its last 0.5 s
//       (after fnhost's 2 s idle_timeout: staying idle, without reclaiming threads), the whole
//       process's CPU, and the threads left. Target: 0 threads after idle_timeout, <= 100 us
//       CPU per idle 3 s.
//   W7  fan-out: 200,000 events, each delivered to 8 subscribers (host: 8 functions subscribed
//       to one topic, one Host::publish per event; others: 8 tasks). Events/s. Target: >= 1.5x
//       oneTBB. With a payload the host builds one Event::with_data() per event, shared by its 8
//       invocations; the others give each of the 8 tasks its own string (7 copies and a move),
//       as a producer without a shared event would.
//   W8  cold start: a fresh system per sample (fnhost: zero threads; fixed pools: threads
//       created and parked; thread_per_task: pthread_create), time from submit/invoke to the
//       task starting; p50/p99 over 500 samples. Target: p50 <= 60 us.
//   W9  mixed: 2,000 tasks alternating 1 ms of arithmetic and 5 ms of sleep; tasks/s and CPU
//       utilisation (process CPU time / (wall time x cores)).
//   W10 under contention: W1, then W5, each on a fresh system, while one spinning process per CPU
//       this process may use competes for the CPUs (forked before the systems start; killed
//       when the measurement ends, after 2 x --timeout + 10 s at the latest, and with the
//       measuring process). W1's tasks/s, W5's wall time and most tasks running at once, and
//       for fnhost and host ExecutorStats::peak_threads and peak_running over both parts.
//       Target: no thread growth beyond cpu_count + 2 running.
//   W11 host only, observability overhead: W1 on the host (one producer, invoke_async of an empty
//       handler, the --payload data) with everything off (no log sink, observers, invocation
//       logs, tracing or metering) and with everything on (a logfmt log sink and the OTLP/JSON
//       span sink, both writing to /dev/null, START/END/REPORT records and a span for every
//       invocation, metering), both in one process: fresh hosts in the order off, on, on, off,
//       500,000 invocations each (W1's 2,000,000 in all; payloads over 1,073 bytes run fewer).
//       Invocations/s of each configuration over its two runs, and on ÷ off. After each timed "on"
//       run (not timed): flush_telemetry(), then metrics() and prometheus_text() for the records
//       and spans handed to the sinks or dropped by the bounded telemetry queue, and cost_report()
//       for the metered requests. Target: on ÷ off >= 0.90 (everything on costs at most 10% of
//       the throughput).
//   M1  host only: heap and RSS bytes per registered function (1,000 registered), and the
//       process RSS of an idle host with 1,000 functions. Target: <= 2 KiB per function.
//   M2  100,000 tasks queued behind one blocked worker (pools of 1; fnhost max_threads = 1;
//       host: a function with max_concurrency = 1): heap and RSS bytes per queued task.
//       Target (host): <= 256 B per queued empty async event.
// Every workload counts its tasks; a measurement whose count is off is reported as failed.
#include "workloads.hpp"

#include <sys/prctl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>

#include "fnhost/host.hpp"
#include "harness_util.hpp"
#include "systems.hpp"

namespace fnhost::bench {
namespace {

double seconds(int64_t ns) { return static_cast<double>(ns) / 1e9; }
int64_t timeout_ns(const Params& params) { return static_cast<int64_t>(params.timeout_s * 1e9); }

void add(Measurement& m, std::string key, double value) {
  m.values.emplace_back(std::move(key), value);
}

void sleep_ns(int64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) != 0) {
  }
}

void sleep_until_ns(int64_t deadline) {
  timespec ts{static_cast<time_t>(deadline / 1'000'000'000),
              static_cast<long>(deadline % 1'000'000'000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) != 0) {
  }
}

// The blocking part of W4/W9 tasks: 5 ms of sleep, announced to fnhost only with --hint.
void blocking_sleep(int64_t ns, bool hint) {
  if (hint) {
    BlockingScope scope;
    sleep_ns(ns);
  } else {
    sleep_ns(ns);
  }
}

// A task was lost or hung: report and exit without running destructors, which would wait for
// the missing task forever.
[[noreturn]] void die_waiting(const Counter& counter, std::string_view what) {
  std::printf("status=fail reason=timeout:%.*s tasks=%lld expected=%lld\n",
              static_cast<int>(what.size()), what.data(), static_cast<long long>(counter.done()),
              static_cast<long long>(counter.expected()));
  std::fflush(stdout);
  std::_Exit(3);
}

void wait_all(Counter& counter, const Params& params, std::string_view what) {
  if (!counter.wait_for(timeout_ns(params))) die_waiting(counter, what);
}

SystemConfig base_config(const Params& params) {
  SystemConfig config;
  config.pool = params.pool;
  config.fnhost_max_threads = params.fnhost_max_threads;
  return config;
}

// fnhost's own counters, shown in the harness's diagnostics table (keys starting with x_).
template <class S>
void add_executor_stats(S& system, Measurement& m) {
  if constexpr (requires { system.stats(); }) {
    const ExecutorStats stats = system.stats();
    add(m, "x_peak_threads", static_cast<double>(stats.peak_threads));
    add(m, "x_peak_running", static_cast<double>(stats.peak_running));
    add(m, "x_spawned", static_cast<double>(stats.spawned));
  }
}

// Stops the system and settles the task accounting; with `payload`, a task whose data was
// wrong fails the measurement.
template <class S>
void finish(S& system, const Counter& counter, Measurement& m,
            const PayloadCheck* payload = nullptr) {
  add_executor_stats(system, m);
  system.finish();
  m.tasks += counter.done();
  m.expected += counter.expected();
  m.rejected += system.rejected();
  if (payload != nullptr && payload->wrong() != 0 && m.ok) {
    m.ok = false;
    m.error = "wrong-payload-in-" + std::to_string(payload->wrong()) + "-tasks";
  }
}

// The configuration of a workload whose tasks carry params.payload bytes.
SystemConfig payload_config(const Params& params) {
  SystemConfig config = base_config(params);
  config.carries_payload = true;
  return config;
}

void arrive_body(void* ctx, uint64_t /*arg*/) { static_cast<Counter*>(ctx)->arrive(); }

// ---- W1 / W2: no-op throughput -----------------------------------------------------------------
// The times of one producer's run.
struct ProducerRun {
  int64_t total_ns = 0;  // from the first post to the last task's end
  int64_t post_ns = 0;   // the posts alone
};

// W1's run, which W11 repeats on differently configured hosts: a fresh S built with `config`,
// one producer posting `n` tasks that carry params.payload bytes, and the wait for them.
// `inspect(system)` runs after the wait, before the system stops (W11 reads the host's telemetry
// there); the task accounting and executor counters go to `m`.
template <class S, class Inspect>
ProducerRun run_one_producer(const Params& params, const SystemConfig& config, int64_t n,
                             std::string_view what, Measurement& m, Inspect&& inspect) {
  Counter counter(n);
  PayloadCheck payload(params.payload);
  S system(config, Body{arrive_body, &counter, &payload});
  const int64_t start = now_ns();
  system.produce([&](auto& poster) {
    for (int64_t i = 0; i < n; ++i) poster.post(0, 0, make_payload(params.payload));
  });
  const int64_t posted = now_ns();
  wait_all(counter, params, what);
  inspect(system);
  finish(system, counter, m, &payload);
  return {counter.end_ns() - start, posted - start};
}

template <class S>
Measurement w1_one_producer(const Params& params) {
  const int64_t n = payload_tasks(params.smoke ? 20'000 : 2'000'000, params.payload);
  Measurement m;
  const ProducerRun run =
      run_one_producer<S>(params, payload_config(params), n, "W1", m, [](S&) {});
  add(m, "rate", static_cast<double>(n) / seconds(run.total_ns));
  add(m, "x_post_ns", static_cast<double>(run.post_ns) / static_cast<double>(n));
  return m;
}

template <class S>
Measurement w2_two_producers(const Params& params) {
  const int64_t per_producer = payload_tasks(params.smoke ? 20'000 : 2'000'000, params.payload) / 2;
  Counter counter(2 * per_producer);
  PayloadCheck payload(params.payload);
  S system(payload_config(params), Body{arrive_body, &counter, &payload});
  Measurement m;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> producers;
  for (int p = 0; p < 2; ++p) {
    producers.emplace_back([&] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      system.produce([&](auto& poster) {
        for (int64_t i = 0; i < per_producer; ++i) poster.post(0, 0, make_payload(params.payload));
      });
    });
  }
  while (ready.load() < 2) std::this_thread::yield();
  const int64_t start = now_ns();
  go.store(true, std::memory_order_release);
  for (std::thread& producer : producers) producer.join();
  wait_all(counter, params, "W2");
  add(m, "rate", static_cast<double>(2 * per_producer) / seconds(counter.end_ns() - start));
  finish(system, counter, m, &payload);
  return m;
}

// ---- W3: paced post->start latency -------------------------------------------------------------
struct LatencyContext {
  explicit LatencyContext(int64_t n) : counter(n), start(static_cast<std::size_t>(n), 0) {}
  Counter counter;
  std::vector<int64_t> start;
};

template <class S>
Measurement w3_paced_latency(const Params& params) {
  constexpr int64_t kIntervalNs = 50'000;  // 20,000 posts/s
  const int64_t n = params.smoke ? 1'000 : 40'000;
  LatencyContext ctx(n);
  std::vector<int64_t> posted(static_cast<std::size_t>(n), 0);
  SystemConfig config = base_config(params);
  config.pass_arg = true;
  S system(config, Body{[](void* c, uint64_t arg) {
                          auto* context = static_cast<LatencyContext*>(c);
                          if (arg < context->start.size()) context->start[arg] = now_ns();
                          context->counter.arrive();
                        },
                        &ctx});
  Measurement m;
  sleep_ns(10'000'000);  // let pools park
  const int64_t cpu_before = process_cpu_us();
  const int64_t start = now_ns();
  system.produce([&](auto& poster) {
    // Without this the kernel may wake the pacing sleep up to 50 us late.
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    int64_t next = now_ns();
    for (int64_t i = 0; i < n; ++i) {
      sleep_until_ns(next);
      posted[static_cast<std::size_t>(i)] = now_ns();
      poster.post(0, static_cast<uint64_t>(i));
      next += kIntervalNs;
    }
  });
  wait_all(ctx.counter, params, "W3");
  const int64_t cpu_after = process_cpu_us();
  const int64_t wall = now_ns() - start;
  std::vector<int64_t> latency(static_cast<std::size_t>(n));
  int64_t missing = 0;
  for (std::size_t i = 0; i < latency.size(); ++i) {
    if (ctx.start[i] == 0) ++missing;
    latency[i] = ctx.start[i] - posted[i];
  }
  add(m, "p50_us", percentile(latency, 50) / 1e3);
  add(m, "p99_us", percentile(latency, 99) / 1e3);
  add(m, "p999_us", percentile(latency, 99.9) / 1e3);
  add(m, "cpu_pct",
      100.0 * static_cast<double>(cpu_after - cpu_before) * 1e3 / static_cast<double>(wall));
  finish(system, ctx.counter, m);
  if (missing != 0) {
    m.ok = false;
    m.error = "tasks-ran-with-the-wrong-argument";
  }
  return m;
}

// ---- W4: blocking burst from idle --------------------------------------------------------------
struct GaugedContext {
  explicit GaugedContext(int64_t n) : counter(n) {}
  Counter counter;
  RunningGauge gauge;
  std::atomic<int64_t> odd_args{0};  // W9: tasks that got an odd argument (the sleeping half)
  int64_t spin_iterations = 0;
  bool hint = false;
};

template <class S>
Measurement w4_sleep_burst(const Params& params) {
  const int64_t n = params.smoke ? 64 : 512;
  GaugedContext ctx(n);
  ctx.hint = params.blocking_hint;
  S system(base_config(params), Body{[](void* c, uint64_t) {
                                       auto* context = static_cast<GaugedContext*>(c);
                                       context->gauge.enter();
                                       blocking_sleep(5'000'000, context->hint);
                                       context->gauge.leave();
                                       context->counter.arrive();
                                     },
                                     &ctx});
  Measurement m;
  sleep_ns(params.smoke ? 5'000'000 : 20'000'000);  // idle: fixed pools parked, fnhost at zero
  const int64_t start = now_ns();
  system.produce([&](auto& poster) {
    for (int64_t i = 0; i < n; ++i) poster.post(0, 0);
  });
  wait_all(ctx.counter, params, "W4");
  add(m, "drain_ms", static_cast<double>(ctx.counter.end_ns() - start) / 1e6);
  add(m, "peak_running", static_cast<double>(ctx.gauge.peak()));
  finish(system, ctx.counter, m);
  return m;
}

// ---- W5: CPU-bound tasks -----------------------------------------------------------------------
template <class S>
Measurement w5_cpu_bound(const Params& params) {
  const int64_t n = params.smoke ? 200 : 20'000;
  GaugedContext ctx(n);
  ctx.spin_iterations = std::llround(50.0 * params.spin_per_us);
  S system(base_config(params), Body{[](void* c, uint64_t) {
                                       auto* context = static_cast<GaugedContext*>(c);
                                       context->gauge.enter();
                                       spin_arithmetic(context->spin_iterations);
                                       context->gauge.leave();
                                       context->counter.arrive();
                                     },
                                     &ctx});
  Measurement m;
  const int64_t start = now_ns();
  system.produce([&](auto& poster) {
    for (int64_t i = 0; i < n; ++i) poster.post(0, 0);
  });
  wait_all(ctx.counter, params, "W5");
  add(m, "wall_ms", static_cast<double>(ctx.counter.end_ns() - start) / 1e6);
  add(m, "peak_running", static_cast<double>(ctx.gauge.peak()));
  finish(system, ctx.counter, m);
  return m;
}

// ---- W6: idle cost -----------------------------------------------------------------------------
template <class S>
Measurement w6_idle(const Params& params) {
  const int64_t idle_ns = params.smoke ? 200'000'000 : 3'000'000'000;
  const int baseline_threads = count_threads();
  Counter counter(1);
  S system(base_config(params), Body{arrive_body, &counter});
  Measurement m;
  system.produce([&](auto& poster) { poster.post(0, 0); });
  wait_all(counter, params, "W6");
  // The pool's cost is the CPU of every thread but this one, which only sleeps (its own
  // wake-ups are the harness's). The window's last 0.5 s is also timed apart: well past
  // fnhost's default 2 s idle_timeout, it is the cost of staying idle, without the one-time
  // cost of reclaiming threads.
  const int64_t tail_ns = idle_ns / 6;
  const int64_t process_before = process_cpu_us();
  const int64_t pool_before = other_threads_cpu_us();
  sleep_ns(idle_ns - tail_ns);
  const int64_t pool_middle = other_threads_cpu_us();
  sleep_ns(tail_ns);
  const int64_t pool_after = other_threads_cpu_us();
  const int64_t process_after = process_cpu_us();
  add(m, "idle_cpu_us", static_cast<double>(pool_after - pool_before));
  add(m, "settled_cpu_us", static_cast<double>(pool_after - pool_middle) * 6);
  add(m, "process_cpu_us", static_cast<double>(process_after - process_before));
  add(m, "threads_left", static_cast<double>(count_threads() - baseline_threads));
  finish(system, counter, m);
  return m;
}

// ---- W7: fan-out -------------------------------------------------------------------------------
template <class S>
Measurement w7_fan_out(const Params& params) {
  constexpr int kSubscribers = 8;
  const int64_t events =
      payload_tasks((params.smoke ? 2'000 : 200'000) * kSubscribers, params.payload) / kSubscribers;
  Counter counter(events * kSubscribers);
  PayloadCheck payload(params.payload);
  SystemConfig config = payload_config(params);
  config.targets = kSubscribers;
  config.fan_out_topic = true;
  S system(config, Body{arrive_body, &counter, &payload});
  Measurement m;
  const int64_t start = now_ns();
  system.produce([&](auto& poster) {
    for (int64_t e = 0; e < events; ++e) {
      std::string data = make_payload(params.payload);
      // The host publishes once per event; the others post one task per subscriber, each with
      // its own copy of the event's data (the last one takes the original).
      if constexpr (requires { poster.publish(kSubscribers, std::move(data)); }) {
        poster.publish(kSubscribers, std::move(data));
      } else {
        for (int s = 0; s + 1 < kSubscribers; ++s) poster.post(s, 0, std::string(data));
        poster.post(kSubscribers - 1, 0, std::move(data));
      }
    }
  });
  wait_all(counter, params, "W7");
  add(m, "rate", static_cast<double>(events) / seconds(counter.end_ns() - start));
  finish(system, counter, m, &payload);
  return m;
}

// ---- W8: cold start ----------------------------------------------------------------------------
struct ColdContext {
  Counter counter{1};
  int64_t start = 0;
};

template <class S>
Measurement w8_cold_start(const Params& params) {
  const int samples = params.smoke ? 20 : 500;
  SystemConfig config = base_config(params);
  config.sync_invoke = true;
  Measurement m;
  std::vector<int64_t> latency;
  for (int sample = 0; sample < samples; ++sample) {
    ColdContext ctx;
    S system(config, Body{[](void* c, uint64_t) {
                            auto* context = static_cast<ColdContext*>(c);
                            context->start = now_ns();
                            context->counter.arrive();
                          },
                          &ctx});
    sleep_ns(1'000'000);  // fixed pools: let the new threads park
    const int64_t start = now_ns();
    system.produce([&](auto& poster) { poster.post(0, 0); });
    wait_all(ctx.counter, params, "W8");
    latency.push_back(ctx.start - start);
    system.finish();
    m.tasks += ctx.counter.done();
    m.expected += 1;
    m.rejected += system.rejected();
  }
  add(m, "p50_us", percentile(latency, 50) / 1e3);
  add(m, "p99_us", percentile(latency, 99) / 1e3);
  return m;
}

// ---- W9: mixed CPU and blocking ----------------------------------------------------------------
template <class S>
Measurement w9_mixed(const Params& params) {
  const int64_t n = params.smoke ? 40 : 2'000;
  GaugedContext ctx(n);
  ctx.spin_iterations = std::llround(1000.0 * params.spin_per_us);
  ctx.hint = params.blocking_hint;
  SystemConfig config = base_config(params);
  config.pass_arg = true;
  S system(config, Body{[](void* c, uint64_t arg) {
                          auto* context = static_cast<GaugedContext*>(c);
                          if (arg & 1) {
                            context->odd_args.fetch_add(1, std::memory_order_relaxed);
                            blocking_sleep(5'000'000, context->hint);
                          } else {
                            spin_arithmetic(context->spin_iterations);
                          }
                          context->counter.arrive();
                        },
                        &ctx});
  Measurement m;
  const int64_t cpu_before = process_cpu_us();
  const int64_t start = now_ns();
  system.produce([&](auto& poster) {
    for (int64_t i = 0; i < n; ++i) poster.post(0, static_cast<uint64_t>(i));
  });
  wait_all(ctx.counter, params, "W9");
  const int64_t wall = ctx.counter.end_ns() - start;
  const int64_t cpu = process_cpu_us() - cpu_before;
  add(m, "rate", static_cast<double>(n) / seconds(wall));
  add(m, "cpu_util_pct",
      100.0 * static_cast<double>(cpu) * 1e3 / (static_cast<double>(wall) * allowed_cpus()));
  add(m, "wall_ms", static_cast<double>(wall) / 1e6);
  finish(system, ctx.counter, m);
  if (ctx.odd_args.load() != n / 2) {
    m.ok = false;
    m.error = "tasks-ran-with-the-wrong-argument";
  }
  return m;
}

// ---- W10: W1 and W5 under contention from another process --------------------------------------
// Adds a part's task accounting to `m`, and its failure, named with `prefix`.
void add_accounting(Measurement& m, const Measurement& part, const std::string& prefix) {
  m.tasks += part.tasks;
  m.expected += part.expected;
  m.rejected += part.rejected;
  if (!part.ok && m.ok) {
    m.ok = false;
    m.error = prefix + part.error;
  }
}

// Adds a part's values under `prefix` (x_ keys stay x_: x_post_ns becomes x_w1_post_ns), and its
// accounting.
void add_part(Measurement& m, const Measurement& part, const std::string& prefix) {
  for (const auto& [key, value] : part.values) {
    if (key.rfind("x_", 0) == 0) {
      add(m, "x_" + prefix + key.substr(2), value);
    } else {
      add(m, prefix + key, value);
    }
  }
  add_accounting(m, part, prefix);
}

// The highest value of x_<key> over the parts (ExecutorStats peaks), if any part had one.
void add_peak(Measurement& m, const std::vector<const Measurement*>& parts, const std::string& key,
              const std::string& as) {
  double peak = -1;
  for (const Measurement* part : parts) {
    for (const auto& [name, value] : part->values) {
      if (name == "x_" + key) peak = std::max(peak, value);
    }
  }
  if (peak >= 0) add(m, as, peak);
}

template <class S>
Measurement w10_contention(const Params& params) {
  // Both parts may each wait up to the timeout; the parent kills this process later than that.
  const int cpus = allowed_cpus();
  CpuBurners burners(cpus, 2 * params.timeout_s + 10);
  if (burners.started() != cpus) fail_setup("fork-of-the-CPU-burners-failed");
  sleep_ns(params.smoke ? 5'000'000 : 50'000'000);  // let the burners take the CPUs
  const Measurement w1 = w1_one_producer<S>(params);
  const Measurement w5 = w5_cpu_bound<S>(params);
  burners.stop();
  Measurement m;
  add_part(m, w1, "w1_");
  add_part(m, w5, "w5_");
  add_peak(m, {&w1, &w5}, "peak_threads", "peak_threads");
  add_peak(m, {&w1, &w5}, "peak_running", "executor_peak_running");
  add(m, "x_burners", cpus);
  return m;
}

// ---- W11: observability overhead (host only) ---------------------------------------------------
// A log sink as a program would write one: each record formatted as a logfmt line and written to
// `file` (here /dev/null, so what is measured is fnhost's work and the formatting, not a disk).
// The host calls it on its export thread only.
class FileLogSink final : public LogSink {
 public:
  explicit FileLogSink(std::FILE* file) : file_(file) {}
  void write(const LogRecord& record) override {
    std::string line = format_log_record(record, LogFormat::kLogfmt);
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), file_);
  }

 private:
  std::FILE* file_;
};

// Everything off: no log sink, no observers, no invocation logs, no tracing, no metering.
HostOptions unobserved_host_options() {
  HostOptions options{.log_sink = nullptr};
  options.observers.clear();
  options.invocation_logs = false;
  options.tracing.span_sink = nullptr;
  options.metering.enabled = false;
  return options;
}

// Everything on, both sinks writing to `out`: a logfmt log sink, START/END/REPORT records for
// every invocation, a span for every invocation (every trace sampled) through the OTLP/JSON
// sink, and metering.
HostOptions observed_host_options(std::FILE* out) {
  HostOptions options{.log_sink = std::make_shared<FileLogSink>(out)};
  options.invocation_logs = true;
  options.tracing = {.span_sink = make_json_span_sink(out), .sample_ratio = 1.0};
  options.metering.enabled = true;
  return options;
}

// The value of the unlabelled sample `name` in a Prometheus text exposition; -1 if absent.
double exposition_value(const std::string& text, std::string_view name) {
  const std::string prefix = "\n" + std::string(name) + " ";
  const auto at = text.find(prefix);
  if (at == std::string::npos) return -1;
  return std::strtod(text.c_str() + at + prefix.size(), nullptr);
}

// What the observed hosts' telemetry did, summed over the hosts.
struct TelemetryTotals {
  TelemetryStats stats;
  int64_t metered_requests = 0;       // CostReport::total.requests
  int64_t exposition_mismatches = 0;  // counters prometheus_text() gave otherwise than metrics()
  int64_t unflushed_hosts = 0;        // hosts whose flush_telemetry() timed out
};

// After the timed part: waits until the host's queued records and spans reached their sinks (so
// each one counts as handed over or dropped), then adds the host's telemetry counters as
// metrics() and a scrape of prometheus_text() show them, and its metered requests.
void collect_telemetry(const Host& host, TelemetryTotals& totals) {
  if (!host.flush_telemetry()) ++totals.unflushed_hosts;
  const HostMetrics metrics = host.metrics();
  const std::string exposition = prometheus_text(metrics);
  const TelemetryStats& telemetry = metrics.telemetry;
  const std::pair<std::string_view, int64_t> counters[] = {
      {"fnhost_log_records_total", telemetry.log_records},
      {"fnhost_log_records_dropped_total", telemetry.log_records_dropped},
      {"fnhost_spans_total", telemetry.spans},
      {"fnhost_spans_dropped_total", telemetry.spans_dropped},
  };
  for (const auto& [name, value] : counters) {
    if (exposition_value(exposition, name) != static_cast<double>(value)) {
      ++totals.exposition_mismatches;
    }
  }
  totals.stats.log_records += telemetry.log_records;
  totals.stats.log_records_dropped += telemetry.log_records_dropped;
  totals.stats.spans += telemetry.spans;
  totals.stats.spans_dropped += telemetry.spans_dropped;
  totals.metered_requests += host.cost_report().total.requests;
}

Measurement w11_observability_overhead(const Params& params) {
  const int64_t per_run =
      payload_tasks(params.smoke ? 20'000 : kW11Invocations, params.payload) / 2;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> devnull(std::fopen("/dev/null", "w"),
                                                          &std::fclose);
  if (!devnull) fail_setup("cannot-open-/dev/null");
  SystemConfig off = payload_config(params);
  off.host_options = unobserved_host_options();
  SystemConfig on = payload_config(params);
  on.host_options = observed_host_options(devnull.get());

  Measurement m;
  TelemetryTotals telemetry;
  int64_t off_ns = 0;
  int64_t on_ns = 0;
  // Off, on, on, off, each on a fresh host: both configurations see the process early and late,
  // so a drift of the machine's speed (or the heap's first growth) favours neither.
  for (const bool observed : {false, true, true, false}) {
    Measurement part;
    const ProducerRun run = run_one_producer<HostSystem>(
        params, observed ? on : off, per_run, "W11", part, [&](HostSystem& system) {
          if (observed) collect_telemetry(system.host(), telemetry);
        });
    (observed ? on_ns : off_ns) += run.total_ns;
    add_accounting(m, part, observed ? "on-" : "off-");
  }
  const double per_configuration = 2.0 * static_cast<double>(per_run);
  const double off_rate = per_configuration / seconds(off_ns);
  const double on_rate = per_configuration / seconds(on_ns);
  add(m, "off_rate", off_rate);
  add(m, "on_rate", on_rate);
  add(m, "on_off_ratio", on_rate / off_rate);
  add(m, "invocations", per_configuration);
  add(m, "queue_capacity", static_cast<double>(on.host_options->telemetry_queue_capacity));
  add(m, "log_records", static_cast<double>(telemetry.stats.log_records));
  add(m, "log_records_dropped", static_cast<double>(telemetry.stats.log_records_dropped));
  add(m, "spans", static_cast<double>(telemetry.stats.spans));
  add(m, "spans_dropped", static_cast<double>(telemetry.stats.spans_dropped));
  add(m, "metered_requests", static_cast<double>(telemetry.metered_requests));
  add(m, "exposition_mismatches", static_cast<double>(telemetry.exposition_mismatches));
  if (m.ok && telemetry.unflushed_hosts != 0) {
    m.ok = false;
    m.error = "flush_telemetry-timed-out";
  } else if (m.ok && (telemetry.stats.spans + telemetry.stats.spans_dropped == 0 ||
                      telemetry.stats.log_records + telemetry.stats.log_records_dropped == 0 ||
                      telemetry.metered_requests == 0)) {
    m.ok = false;
    m.error = "observability-was-not-on";
  }
  return m;
}

// ---- M1: memory per registered function (host only) --------------------------------------------
Measurement m1_function_memory(const Params& params) {
  const int n = params.smoke ? 100 : 1'000;
  Measurement m;
  const int64_t rss_before_host = rss_bytes();
  auto created = Host::create({.log_sink = nullptr});
  if (!created.ok()) fail_setup(created.status().ToString());
  Host host = std::move(*created);
  const int64_t heap_before = heap_bytes();
  const int64_t rss_before = rss_bytes();
  for (int i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "fn-%04d", i);
    absl::Status registered = host.register_function({
        .name = name,
        .handler = [](const Event&, Context&) -> Result { return std::string(); },
    });
    if (!registered.ok()) fail_setup(registered.ToString());
  }
  const int64_t heap_after = heap_bytes();
  const int64_t rss_after = rss_bytes();
  add(m, "heap_per_fn", static_cast<double>(heap_after - heap_before) / n);
  add(m, "rss_per_fn", static_cast<double>(rss_after - rss_before) / n);
  add(m, "idle_rss_kib", static_cast<double>(rss_after) / 1024);
  add(m, "host_rss_kib", static_cast<double>(rss_after - rss_before_host) / 1024);
  m.tasks = static_cast<int64_t>(host.function_names().size());
  m.expected = n;
  return m;
}

// ---- M2: memory per queued task ----------------------------------------------------------------
struct GateContext {
  explicit GateContext(int64_t n) : counter(n) {}
  Counter counter;
  Signal gate;
  std::atomic<bool> gate_started{false};
  int64_t timeout_ns = 0;
};

template <class S>
Measurement m2_queued_memory(const Params& params) {
  const int64_t n = params.smoke ? 1'000 : 100'000;
  GateContext ctx(n + 1);
  ctx.timeout_ns = timeout_ns(params);
  SystemConfig config = base_config(params);
  config.pass_arg = true;
  if constexpr (std::is_same_v<S, HostSystem>) {
    config.function_max_concurrency = 1;
  } else {
    config.fnhost_max_threads = 1;
  }
  S system(config, Body{[](void* c, uint64_t arg) {
                          auto* context = static_cast<GateContext*>(c);
                          if (arg == 1) {
                            context->gate_started.store(true);
                            context->gate.wait_for(context->timeout_ns);
                          }
                          context->counter.arrive();
                        },
                        &ctx});
  Measurement m;
  system.produce([&](auto& poster) { poster.post(0, 1); });
  // Some systems (tbb_group) start the gate task only later; the count below copes with that.
  for (int i = 0; i < 1000 && !ctx.gate_started.load(); ++i) sleep_ns(1'000'000);
  const int64_t heap_before = heap_bytes();
  const int64_t rss_before = rss_bytes();
  system.produce([&](auto& poster) {
    for (int64_t i = 0; i < n; ++i) poster.post(0, 0);
  });
  const int64_t heap_after = heap_bytes();
  const int64_t rss_after = rss_bytes();
  const int64_t queued = std::max<int64_t>(1, n - ctx.counter.done());
  ctx.gate.set();
  wait_all(ctx.counter, params, "M2");
  add(m, "heap_per_queued",
      static_cast<double>(heap_after - heap_before) / static_cast<double>(queued));
  add(m, "rss_per_queued",
      static_cast<double>(rss_after - rss_before) / static_cast<double>(queued));
  add(m, "x_queued", static_cast<double>(queued));
  finish(system, ctx.counter, m);
  return m;
}

template <class S>
Measurement run_kind(std::string_view kind, const Params& params) {
  if (kind == "W1") return w1_one_producer<S>(params);
  if (kind == "W2") return w2_two_producers<S>(params);
  if (kind == "W3") return w3_paced_latency<S>(params);
  if (kind == "W4") return w4_sleep_burst<S>(params);
  if (kind == "W5") return w5_cpu_bound<S>(params);
  if (kind == "W6") return w6_idle<S>(params);
  if (kind == "W7") return w7_fan_out<S>(params);
  if (kind == "W8") return w8_cold_start<S>(params);
  if (kind == "W9") return w9_mixed<S>(params);
  if (kind == "W10") return w10_contention<S>(params);
  if (kind == "M2") return m2_queued_memory<S>(params);
  if constexpr (std::is_same_v<S, HostSystem>) {
    if (kind == "M1") return m1_function_memory(params);
    if (kind == "W11") return w11_observability_overhead(params);
  }
  Measurement m;
  m.ok = false;
  m.error = "unknown-workload-for-system";
  return m;
}

MetricDef up(std::string key, std::string label, double scale = 1) {
  return {std::move(key), std::move(label), true, true, scale};
}
MetricDef down(std::string key, std::string label, double scale = 1) {
  return {std::move(key), std::move(label), false, true, scale};
}
MetricDef info(std::string key, std::string label) {
  return {std::move(key), std::move(label), false, false, 1};
}

}  // namespace

int64_t payload_tasks(int64_t tasks, int64_t payload) {
  if (payload <= 0) return tasks;
  return std::min(tasks, std::max<int64_t>(1'024, kPayloadBudgetBytes / payload));
}

const std::vector<WorkloadDef>& workload_defs() {
  static const std::vector<WorkloadDef> defs = [] {
    const std::vector<std::string> pools = {"fnhost",    "host", "tbb_arena",
                                            "tbb_group", "asio", "mutex_pool"};
    std::vector<std::string> with_floor = pools;
    with_floor.push_back("raw_queue");
    std::vector<std::string> with_threads = pools;
    with_threads.push_back("thread_per_task");
    std::vector<std::string> everything = with_threads;
    everything.push_back("raw_queue");
    std::vector<WorkloadDef> list;
    list.push_back(
        {"W1", "W1", "W1 1 producer, 2M no-op tasks", {up("rate", "M tasks/s", 1e-6)}, with_floor});
    list.back().carries_payload = true;
    list.push_back({"W2",
                    "W2",
                    "W2 2 producers, 2M no-op tasks",
                    {up("rate", "M tasks/s", 1e-6)},
                    with_floor});
    list.back().carries_payload = true;
    list.push_back({"W3",
                    "W3",
                    "W3 paced 20k/s, post→start",
                    {down("p50_us", "p50 µs"), down("p99_us", "p99 µs"),
                     down("p999_us", "p99.9 µs"), down("cpu_pct", "CPU % of a core")},
                    with_floor});
    list.push_back({"W4",
                    "W4",
                    "W4 512 × sleep 5 ms from idle, pools = --pool",
                    {down("drain_ms", "drain ms"), info("peak_running", "peak running")},
                    with_threads});
    list.push_back({"W4w",
                    "W4",
                    "W4 same, pools = --wide-pool",
                    {down("drain_ms", "drain ms"), info("peak_running", "peak running")},
                    pools,
                    true});
    list.push_back({"W5",
                    "W5",
                    "W5 20k × 50 µs arithmetic, pools = --pool",
                    {down("wall_ms", "wall ms"), info("peak_running", "peak running")},
                    pools});
    list.push_back({"W5w",
                    "W5",
                    "W5 same, pools = --wide-pool",
                    {down("wall_ms", "wall ms"), info("peak_running", "peak running")},
                    pools,
                    true});
    list.push_back({"W6",
                    "W6",
                    "W6 one task, then 3 s idle",
                    {down("idle_cpu_us", "pool CPU µs in the 3 s"),
                     down("settled_cpu_us", "pool CPU µs per 3 s once settled"),
                     info("process_cpu_us", "process CPU µs in the 3 s"),
                     info("threads_left", "threads left")},
                    pools});
    list.push_back({"W7",
                    "W7",
                    "W7 fan-out 200k events × 8 subscribers",
                    {up("rate", "M events/s", 1e-6)},
                    with_floor});
    list.back().carries_payload = true;
    list.push_back({"W8",
                    "W8",
                    "W8 cold start, submit→start (fresh system per sample)",
                    {down("p50_us", "p50 µs"), down("p99_us", "p99 µs")},
                    everything});
    list.push_back({"W9",
                    "W9",
                    "W9 mixed 1 ms CPU / 5 ms sleep, 2k tasks",
                    {up("rate", "tasks/s"), up("cpu_util_pct", "CPU utilisation %")},
                    pools});
    list.push_back({"W10",
                    "W10",
                    "W10 W1 then W5 while a spinning process per CPU competes",
                    {up("w1_rate", "W1: M tasks/s", 1e-6), down("w5_wall_ms", "W5: wall ms"),
                     info("w5_peak_running", "W5: peak tasks running at once"),
                     info("peak_threads", "ExecutorStats peak_threads (target ≤ cpu_count + 2)"),
                     info("executor_peak_running", "ExecutorStats peak_running")},
                    pools});
    list.back().carries_payload = true;
    list.push_back({"W11",
                    "W11",
                    "W11 observability",
                    {up("off_rate", "M invocations/s", 1e-6),
                     up("on_rate", "M invocations/s", 1e-6), up("on_off_ratio", "on ÷ off")},
                    {"host"}});
    list.back().carries_payload = true;
    list.back().own_table = true;
    list.push_back(
        {"M1",
         "M1",
         "M1 host with 1,000 functions",
         {info("heap_per_fn", "heap B/function"), info("rss_per_fn", "RSS B/function"),
          info("host_rss_kib", "RSS added by host KiB"), info("idle_rss_kib", "process RSS KiB")},
         {"host"}});
    list.push_back(
        {"M2",
         "M2",
         "M2 100k tasks queued behind a blocked worker",
         {down("heap_per_queued", "heap B/queued"), down("rss_per_queued", "RSS B/queued")},
         with_floor,
         false,
         true});
    return list;
  }();
  return defs;
}

bool is_peer(std::string_view system) {
  return system == "tbb_arena" || system == "tbb_group" || system == "asio" ||
         system == "mutex_pool" || system == "thread_per_task";
}

Measurement run_measurement(std::string_view system, std::string_view kind, const Params& params) {
  Measurement m;
  const bool known = with_system(system, [&](auto tag) {
    using S = typename decltype(tag)::type;
    m = run_kind<S>(kind, params);
  });
  if (!known) {
    m.ok = false;
    m.error = "unknown-or-missing-system";
    return m;
  }
  if (m.ok && m.tasks != m.expected) {
    m.ok = false;
    m.error = "task-count-mismatch";
  }
  if (m.ok && m.rejected != 0) {
    m.ok = false;
    m.error = "rejected-or-dropped";
  }
  return m;
}

}  // namespace fnhost::bench

// Quickstart: four functions on one host — CPU-bound, I/O-bound (sleeps), flaky, and one with
// a per-instance init — each hit with a burst from an idle host. Prints a table per function
// and the executor's thread count over time: it grows while handlers sleep, stays near the
// core count for CPU work, and falls back to zero when idle; then what each function cost
// (metering) and the last REPORT record one invocation wrote. Expected output (numbers vary):
//   function invocations errors cold_starts    p50 us    p99 us
//   cpu             2000      0           2       328       393
//   io              1000      0         256     20972     21226
//   ...
//   threads over time (every 50 ms): 1 2 2 2 2 2 2 256 256 ... 256 0 0 0
//   ...
//   function requests  billed ms  GB-seconds    CPU ms      cost $
//   cpu          2000        2000      0.2441     413.3  0.00000447
//   ...
//   time=... level=info function=model invocation_id=... msg="REPORT RequestId: ... Duration: ...
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fnhost/fnhost.hpp>

using fnhost::Context;
using fnhost::Event;
using fnhost::Result;

// Keeps the last REPORT record, to show one (a real program would let every record through to
// a sink such as fnhost::make_stderr_log_sink()).
class LastReport final : public fnhost::LogSink {
 public:
  void write(const fnhost::LogRecord& record) override {
    if (record.message.rfind("REPORT", 0) != 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    last_ = fnhost::format_log_record(record, fnhost::LogFormat::kLogfmt);
  }
  std::string last() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }

 private:
  std::mutex mu_;
  std::string last_;
};

int main() {
  auto reports = std::make_shared<LastReport>();
  auto host = fnhost::Host::create({.executor_options = {.idle_timeout = absl::Milliseconds(300)},
                                    .log_sink = reports,
                                    .invocation_logs = true,
                                    .metering = {.enabled = true}})
                  .value();
  const auto cpu = [](const Event&, Context&) -> Result {
    double x = 1;
    for (int i = 0; i < 200000; ++i) x = x * 1.0000001 + 1e-9;  // ~0.2 ms
    return std::to_string(x);
  };
  const auto io = [](const Event&, Context& ctx) -> Result {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a blocking call, unannounced
    return std::string(ctx.function_name());
  };
  const auto flaky = [](const Event& event, Context&) -> Result {
    if (event.data.back() % 4 == 0) return absl::UnavailableError("downstream said no");
    return event.data;
  };
  const auto with_model = [](const Event& event, Context& ctx) -> Result {
    return *ctx.instance_state<std::string>() + event.data;
  };
  const auto load_model = [](const fnhost::InitContext&) -> absl::StatusOr<std::shared_ptr<void>> {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // "load a model"
    return std::make_shared<std::string>("model:");
  };
  bool ok = host.register_function({.name = "cpu", .handler = cpu}).ok() &&
            host.register_function({.name = "io", .handler = io}).ok() &&
            host.register_function({.name = "flaky", .handler = flaky}).ok() &&
            host.register_function({.name = "model", .handler = with_model, .init = load_model})
                .ok();
  if (!ok) return 1;

  std::vector<int64_t> threads_over_time;
  std::atomic<bool> sampling{true};
  std::thread sampler([&] {
    while (sampling) {
      threads_over_time.push_back(host.executor_stats().threads);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  const std::vector<std::pair<std::string, int>> bursts = {
      {"cpu", 2000}, {"io", 1000}, {"flaky", 1000}, {"model", 1000}};
  std::vector<fnhost::Completion> pending;
  for (const auto& [name, count] : bursts) {
    for (int i = 0; i < count; ++i) pending.push_back(host.invoke(name, Event::with_data(std::to_string(i))));
    for (const fnhost::Completion& done : pending) (void)done.get();  // wait for this burst
    pending.clear();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // idle: threads are reclaimed
  sampling = false;
  sampler.join();

  std::printf("%-8s %11s %6s %11s %9s %9s\n", "function", "invocations", "errors", "cold_starts",
              "p50 us", "p99 us");
  for (const auto& [name, count] : bursts) {
    const fnhost::FunctionStats s = host.function_stats(name).value();
    std::printf("%-8s %11lld %6lld %11lld %9.0f %9.0f\n", name.c_str(), (long long)s.invocations,
                (long long)s.errors, (long long)s.cold_starts,
                absl::ToDoubleMicroseconds(s.duration.p50),
                absl::ToDoubleMicroseconds(s.duration.p99));
    ok = ok && s.invocations == count;
  }
  std::printf("threads over time (every 50 ms):");
  for (int64_t threads : threads_over_time) std::printf(" %lld", (long long)threads);
  const fnhost::ExecutorStats e = host.executor_stats();
  std::printf("\npeak threads %lld, spawned %lld, reclaimed %lld, threads now %lld\n",
              (long long)e.peak_threads, (long long)e.spawned, (long long)e.reclaimed,
              (long long)e.threads);

  const fnhost::CostReport costs = host.cost_report();
  std::printf("\n%-8s %8s %10s %11s %9s %11s\n", "function", "requests", "billed ms", "GB-seconds",
              "CPU ms", "cost $");
  for (const fnhost::FunctionCost& f : costs.functions) {
    std::printf("%-8s %8lld %10.0f %11.4f %9.1f %11.8f\n", f.function.c_str(),
                (long long)f.requests, absl::ToDoubleMilliseconds(f.billed_duration), f.gb_seconds,
                absl::ToDoubleMilliseconds(f.cpu_time), f.cost);
  }
  (void)host.flush_telemetry();
  std::printf("\nlast REPORT record:\n%s\n", reports->last().c_str());
  return ok && host.shutdown(absl::Seconds(5)).drained() ? 0 : 1;
}

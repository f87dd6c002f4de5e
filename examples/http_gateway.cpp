// Functions served over HTTP, with the live dashboard: three functions behind an fnhost::http
// gateway on 127.0.0.1, and a background load in waves (one call in ten to `charge` fails,
// `resize` blocks for a few milliseconds) so the dashboard's numbers and thread chart move.
// Runs until Ctrl-C, or for --seconds N; --port P (default 8080; 0 picks a free port).
//   ./http_gateway --seconds 120        then open the printed URL in a browser
//   curl -d world http://127.0.0.1:8080/functions/greet/invocations        ->  hello world
// Expected output (numbers vary):
//   dashboard: http://127.0.0.1:8080/   (JSON: /api/dashboard, Prometheus: /metrics)
//   served 5400 invocations, 480 errors, peak 31 threads
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fnhost/fnhost.hpp>
#include <fnhost/http/gateway.hpp>
#include <numbers>
#include <string>
#include <string_view>
#include <thread>

using fnhost::Context;
using fnhost::Event;
using fnhost::Result;

namespace {
volatile std::sig_atomic_t stop_requested = 0;
void request_stop(int) { stop_requested = 1; }
}  // namespace

int main(int argc, char** argv) {
  int port = 8080;
  double seconds = -1;  // until Ctrl-C
  for (int i = 1; i < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (i + 1 < argc && flag == "--port") {
      port = std::atoi(argv[i + 1]);
    } else if (i + 1 < argc && flag == "--seconds") {
      seconds = std::atof(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: %s [--port P] [--seconds N]\n", argv[0]);
      return 2;
    }
  }
  // Failed invocations are the point here: do not log each one.
  fnhost::Host host = fnhost::Host::create({.log_sink = nullptr}).value();
  auto add = [&host](std::string name, fnhost::Handler handler) {
    return host.register_function({.name = std::move(name), .handler = std::move(handler)}).ok();
  };
  const bool registered =
      add("greet", [](const Event& event, Context&) -> Result { return "hello " + event.data; }) &&
      add("resize",
          [](const Event& event, Context& ctx) -> Result {
            ctx.sleep_for(absl::Milliseconds(5 + event.data.size() % 30));  // waits, as I/O does
            return std::string("resized");
          }) &&
      add("charge", [](const Event& event, Context&) -> Result {
        if (event.data.size() % 10 == 0) return absl::InternalError("card declined");
        return std::string("charged");
      });
  auto gateway = fnhost::http::Gateway::start(host, {.port = port});
  if (!registered || !gateway.ok()) {
    std::fprintf(stderr, "cannot start: %s\n",
                 registered ? gateway.status().ToString().c_str() : "registration failed");
    return 1;
  }
  std::printf("dashboard: http://127.0.0.1:%d/   (JSON: /api/dashboard, Prometheus: /metrics)\n",
              (*gateway)->port());
  std::fflush(stdout);
  std::signal(SIGINT, request_stop);
  std::signal(SIGTERM, request_stop);

  // Every 50 ms a batch whose size follows a 20-second wave, so the executor grows and shrinks.
  const absl::Time end =
      seconds < 0 ? absl::InfiniteFuture() : absl::Now() + absl::Seconds(seconds);
  for (int tick = 0; stop_requested == 0 && absl::Now() < end; ++tick) {
    const int batch = 1 + static_cast<int>(20 * (1 + std::sin(tick * 2 * std::numbers::pi / 400)));
    for (int i = 0; i < batch; ++i) {
      const std::string data(static_cast<size_t>(tick + i) % 40 + 1, 'x');
      (void)host.invoke_async(i % 3 == 0   ? "charge"
                              : i % 3 == 1 ? "resize"
                                           : "greet",
                              Event::with_data(data));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  (*gateway)->stop();
  host.shutdown(absl::Seconds(10));
  const fnhost::HostMetrics metrics = host.metrics();
  int64_t invocations = 0, errors = 0;
  for (const fnhost::FunctionStats& function : metrics.functions) {
    invocations += function.invocations;
    errors += function.errors;
  }
  std::printf("served %lld invocations, %lld errors, peak %lld threads\n",
              static_cast<long long>(invocations), static_cast<long long>(errors),
              static_cast<long long>(metrics.executor.peak_threads));
  return invocations > 0 ? 0 : 1;
}

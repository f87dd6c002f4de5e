// The README's first program: register a function, invoke it synchronously and as an event,
// shut down. Expected output: "hello world (<invocation id>)"; exit code 0.
#include <fnhost/fnhost.hpp>
#include <cstdio>

int main() {
  fnhost::Host host = fnhost::Host::create().value();
  absl::Status registered = host.register_function({
      .name = "greet",
      .handler = [](const fnhost::Event& event, fnhost::Context& ctx) -> fnhost::Result {
        if (event.data.empty()) return absl::InvalidArgumentError("who should I greet?");
        return "hello " + event.data + " (" + ctx.invocation_id() + ")";
      },
      .timeout = absl::Seconds(1),
      .max_concurrency = 8,
  });
  if (!registered.ok()) return 1;
  fnhost::Result result = host.invoke("greet", fnhost::Event::with_data("world")).get();
  std::printf("%s\n", result.ok() ? result->c_str() : result.status().ToString().c_str());
  absl::Status queued = host.invoke_async("greet", fnhost::Event::with_data("later"));
  fnhost::ShutdownReport report = host.shutdown(absl::Seconds(5));
  return queued.ok() && report.drained() ? 0 : 1;
}

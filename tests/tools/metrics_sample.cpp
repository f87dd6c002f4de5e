// SPDX-License-Identifier: Apache-2.0
// Prints the Prometheus exposition of a host that has run a little of everything — successes,
// errors, a cold start with init, triggers whose patterns need escaping (quotes, backslashes,
// newlines, bytes that are not UTF-8), a schedule — for `promtool check metrics` to validate.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fnhost/fnhost.hpp"

int main() {
  fnhost::Host host = fnhost::Host::create().value();
  const auto ok = [](const absl::Status& status) {
    if (!status.ok()) {
      std::fprintf(stderr, "metrics_sample: %s\n", status.ToString().c_str());
      std::exit(1);
    }
  };
  ok(host.register_function({.name = "resize.v2-thumb",
                             .handler = [](const fnhost::Event& event,
                                           fnhost::Context&) -> fnhost::Result {
                               if (event.data == "bad") return absl::InvalidArgumentError("bad");
                               return event.data;
                             }}));
  ok(host.register_function(
      {.name = "with_init",
       .handler = [](const fnhost::Event&, fnhost::Context&) -> fnhost::Result { return ""; },
       .init = [](const fnhost::InitContext&) -> absl::StatusOr<fnhost::InstanceState> {
         return fnhost::InstanceState();
       }}));
  for (const char* pattern : {"uploads/\"quoted\"/+", "back\\slash/#", "new\nline", "bad\xff\xfe/+"}) {
    ok(host.subscribe({.pattern = pattern, .function = "resize.v2-thumb"}).status());
  }
  ok(host.schedule({.expression = "rate(1 hour)", .function = "with_init"}).status());
  for (int i = 0; i < 20; ++i) {
    (void)host.invoke("resize.v2-thumb", fnhost::Event::with_data(i % 5 == 0 ? "bad" : "ok")).get();
  }
  (void)host.invoke("with_init", {}).get();
  ok(host.publish(fnhost::Event{.topic = "uploads/\"quoted\"/cat.png"}));
  ok(host.publish(fnhost::Event{.topic = "nobody/listens"}));
  host.shutdown(absl::Seconds(10));
  std::fputs(fnhost::prometheus_text(host.metrics()).c_str(), stdout);
  return 0;
}

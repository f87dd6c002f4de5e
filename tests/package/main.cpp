// SPDX-License-Identifier: Apache-2.0
// Consumer smoke test: uses only the installed public API. Creates a Host, registers a
// function, invokes it and checks the result. Exits non-zero on any failure.
#include <cstdio>
#include <fnhost/fnhost.hpp>

int main() {
  absl::StatusOr<fnhost::Host> host = fnhost::Host::create();
  if (!host.ok()) {
    std::fprintf(stderr, "Host::create failed: %s\n", host.status().ToString().c_str());
    return 1;
  }

  absl::Status registered = host->register_function({
      .name = "greet",
      .handler = [](const fnhost::Event& event, fnhost::Context&) -> fnhost::Result {
        return "hello, " + event.data;
      },
  });
  if (!registered.ok()) {
    std::fprintf(stderr, "register_function failed: %s\n", registered.ToString().c_str());
    return 1;
  }

  fnhost::Completion completion = host->invoke("greet", fnhost::Event::with_data("package"));
  if (!completion.wait_for(absl::Seconds(60))) {
    std::fprintf(stderr, "invoke did not complete within 60s\n");
    return 1;
  }
  const fnhost::Result& result = completion.get();
  if (!result.ok()) {
    std::fprintf(stderr, "invoke failed: %s\n", result.status().ToString().c_str());
    return 1;
  }
  if (*result != "hello, package") {
    std::fprintf(stderr, "unexpected result: \"%s\"\n", result->c_str());
    return 1;
  }

  std::printf("fnhost %s package test: ok (%s)\n", fnhost::kVersion, result->c_str());
  return 0;
}

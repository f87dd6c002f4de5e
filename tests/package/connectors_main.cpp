// SPDX-License-Identifier: Apache-2.0
// Consumer smoke test of the installed connectors: each one linked, its header found, and its
// start() reached, which refuses options that name nothing to serve or read without touching
// the network. Exits non-zero on any failure.
#include <cstdio>
#include <fnhost/fnhost.hpp>
#include <string>

#if FNHOST_HAS_HTTP
#include <fnhost/http/gateway.hpp>
#endif
#if FNHOST_HAS_REDIS
#include <fnhost/redis/stream_trigger.hpp>
#endif
#if FNHOST_HAS_MQTT
#include <fnhost/mqtt/connector.hpp>
#endif

namespace {

// A refusal naming a field is what a consumer gets for bad options; anything else fails.
bool refused(const char* connector, const absl::Status& status) {
  if (status.code() == absl::StatusCode::kInvalidArgument) return true;
  std::fprintf(stderr, "%s: expected InvalidArgument, got %s\n", connector,
               status.ToString().c_str());
  return false;
}

}  // namespace

int main() {
  absl::StatusOr<fnhost::Host> host = fnhost::Host::create({.log_sink = nullptr});
  if (!host.ok()) return 1;
  bool ok = true;
#if FNHOST_HAS_HTTP
  fnhost::http::GatewayOptions gateway;
  gateway.port = -1;
  ok = refused("http", fnhost::http::Gateway::start(*host, gateway).status()) && ok;
#endif
#if FNHOST_HAS_REDIS
  ok = refused("redis", fnhost::redis::StreamTrigger::start(*host, {}).status()) && ok;
#endif
#if FNHOST_HAS_MQTT
  ok = refused("mqtt", fnhost::mqtt::Connector::start(*host, {}).status()) && ok;
#endif
  if (ok) std::puts("connectors linked and reachable");
  return ok ? 0 : 1;
}

// SPDX-License-Identifier: Apache-2.0
// File: fnhost/caller.hpp
// `Caller`: the host's calls made as a principal other than the host itself — a tenant, a mod,
// a plugin, a remote client. Each call is checked against the host's policy (Host::set_policy)
// and counts against the principal's rate limit (Host::set_rate_limit) before it does anything;
// a refused call is PermissionDenied naming the statement that decided, or ResourceExhausted
// with a retry-after hint. Otherwise each method behaves exactly as the Host method of the same
// name, and the invocations it starts run as this principal: what their handlers call through
// Context is checked as this principal too (unless the function has its own
// FunctionSpec::identity).
//
//   absl::StatusOr<fnhost::Caller> tenant = host.caller("tenant-42");
//   fnhost::Completion reply = tenant->invoke("shop-cart", fnhost::Event::with_data("{}"));
//   absl::Status sent = tenant->publish({.topic = "shop/orders", .data = "..."});
//
// A Caller is a small value (copy it freely) that refers to its Host: it must not be used after
// the Host is destroyed or moved from. Thread-safe, like the Host.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fnhost/completion.hpp"
#include "fnhost/delivery.hpp"
#include "fnhost/event.hpp"
#include "fnhost/function.hpp"
#include "fnhost/router.hpp"

namespace fnhost {

struct HostCore;

namespace detail {
struct Principal;
}  // namespace detail

class Caller {
 public:
  // The principal's name.
  [[nodiscard]] std::string_view principal() const;

  // Action `invoke` on function:<name>.
  [[nodiscard]] Completion invoke(std::string_view name, Event event) const;
  [[nodiscard]] absl::Status invoke_async(std::string_view name, Event event) const;
  [[nodiscard]] absl::Status invoke_async(std::string_view name, Event event,
                                          SettledCallback on_settled) const;
  // Action `publish` on topic:<event.topic>.
  [[nodiscard]] absl::Status publish(Event event) const;
  [[nodiscard]] absl::Status publish(Event event, SettledCallback on_settled) const;

  // Action `manage` on function:<spec.name> / <name>.
  [[nodiscard]] absl::Status register_function(FunctionSpec spec) const;
  [[nodiscard]] absl::Status update_function(FunctionSpec spec) const;
  [[nodiscard]] absl::Status remove_function(std::string_view name) const;
  // Action `manage` on function:<spec.function>; the trigger's deliveries and the schedule's
  // runs are made as this principal.
  [[nodiscard]] absl::StatusOr<TriggerId> subscribe(TriggerSpec spec) const;
  [[nodiscard]] absl::StatusOr<TriggerId> schedule(ScheduleSpec spec) const;
  // Action `manage` on the function the trigger or schedule delivers to. NotFound for an
  // unknown id (checked first, so an id alone reveals nothing else).
  [[nodiscard]] absl::Status unsubscribe(TriggerId id) const;
  // Action `manage` on the dead letter's function. NotFound if the store does not keep it.
  [[nodiscard]] absl::Status redrive(uint64_t id) const;
  [[nodiscard]] absl::Status delete_dead_letter(uint64_t id) const;

 private:
  friend class Host;
  Caller(HostCore* host, const detail::Principal* principal) : host_(host), principal_(principal) {}
  // Whether this principal may `manage` `function` (or the function of dead letter `id`).
  [[nodiscard]] absl::Status may_manage(std::string_view function) const;
  [[nodiscard]] absl::Status may_manage_letter(uint64_t id) const;

  HostCore* host_;
  const detail::Principal* principal_;
};

}  // namespace fnhost

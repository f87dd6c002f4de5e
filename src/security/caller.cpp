// SPDX-License-Identifier: Apache-2.0
// Caller: the host's calls made as a principal. Invoke and publish carry the principal in their
// lineage, where admission checks it (the same check a handler's Context calls meet); the
// management calls are checked here, as `manage` on the function they change.
#include "fnhost/caller.hpp"

#include <utility>

#include "common/status_macros.hpp"
#include "host/host_core.hpp"

namespace fnhost {

namespace {

detail::Lineage lineage_of(const detail::Principal* principal) {
  return detail::Lineage{.principal = principal};
}

}  // namespace

std::string_view Caller::principal() const { return principal_->name; }

Completion Caller::invoke(std::string_view name, Event event) const {
  return host_->invoke(name, std::move(event), lineage_of(principal_));
}

absl::Status Caller::invoke_async(std::string_view name, Event event) const {
  return host_->admit(name, std::move(event), nullptr, lineage_of(principal_));
}

absl::Status Caller::invoke_async(std::string_view name, Event event,
                                  SettledCallback on_settled) const {
  return host_->invoke_async_settled(name, std::move(event), std::move(on_settled),
                                     lineage_of(principal_));
}

absl::Status Caller::publish(Event event) const {
  return host_->publish(std::move(event), lineage_of(principal_));
}

absl::Status Caller::publish(Event event, SettledCallback on_settled) const {
  return host_->publish(std::move(event), lineage_of(principal_), std::move(on_settled));
}

absl::Status Caller::may_manage(std::string_view function) const {
  return host_->authorize(principal_, Action::kManage, ResourceKind::kFunction, function);
}

absl::Status Caller::may_manage_letter(uint64_t id) const {
  absl::StatusOr<DeadLetter> letter = host_->dead_letter(id);
  if (!letter.ok()) return letter.status();
  return may_manage(letter->function);
}

absl::Status Caller::register_function(FunctionSpec spec) const {
  FNHOST_RETURN_IF_ERROR(may_manage(spec.name));
  return host_->register_function(std::move(spec), principal_);
}

absl::Status Caller::update_function(FunctionSpec spec) const {
  FNHOST_RETURN_IF_ERROR(may_manage(spec.name));
  return host_->update_function(std::move(spec), principal_);
}

absl::Status Caller::remove_function(std::string_view name) const {
  FNHOST_RETURN_IF_ERROR(may_manage(name));
  return host_->remove_function(name);
}

absl::StatusOr<TriggerId> Caller::subscribe(TriggerSpec spec) const {
  FNHOST_RETURN_IF_ERROR(may_manage(spec.function));
  return host_->subscribe(std::move(spec), principal_);
}

absl::StatusOr<TriggerId> Caller::schedule(ScheduleSpec spec) const {
  FNHOST_RETURN_IF_ERROR(may_manage(spec.function));
  return host_->schedule(std::move(spec), principal_);
}

absl::Status Caller::unsubscribe(TriggerId id) const {
  absl::StatusOr<std::string> function = host_->function_of_trigger(id);
  if (!function.ok()) return function.status();
  FNHOST_RETURN_IF_ERROR(may_manage(*function));
  return host_->unsubscribe(id);
}

absl::Status Caller::redrive(uint64_t id) const {
  FNHOST_RETURN_IF_ERROR(may_manage_letter(id));
  return host_->redrive(id);
}

absl::Status Caller::delete_dead_letter(uint64_t id) const {
  FNHOST_RETURN_IF_ERROR(may_manage_letter(id));
  return host_->delete_dead_letter(id);
}

}  // namespace fnhost

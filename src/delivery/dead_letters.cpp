// SPDX-License-Identifier: Apache-2.0
// The dead-letter API of the host: list, inspect, count, delete, and redrive — take a letter out
// of the store and queue its event again for its function, as a new event.
#include <memory>
#include <utility>

#include "fmt/format.h"
#include "host/host_core.hpp"
#include "host/messages.hpp"

namespace fnhost {

using detail::FunctionSlot;

namespace {
absl::Status not_kept(uint64_t id) {
  return absl::NotFoundError(fmt::format("no dead letter has id {}", id));
}
}  // namespace

std::vector<DeadLetter> HostCore::dead_letters(std::string_view function, size_t limit) const {
  if (options.dead_letter_store == nullptr) return {};
  return options.dead_letter_store->list(function, limit);
}

absl::StatusOr<DeadLetter> HostCore::dead_letter(uint64_t id) const {
  if (options.dead_letter_store == nullptr) return not_kept(id);
  std::optional<DeadLetter> letter = options.dead_letter_store->get(id);
  if (!letter.has_value()) return not_kept(id);
  return *std::move(letter);
}

int64_t HostCore::dead_letter_count(std::string_view function) const {
  if (options.dead_letter_store == nullptr) return 0;
  return options.dead_letter_store->count(function);
}

absl::Status HostCore::delete_dead_letter(uint64_t id) {
  if (options.dead_letter_store == nullptr || !options.dead_letter_store->take(id).has_value()) {
    return not_kept(id);
  }
  return absl::OkStatus();
}

absl::Status HostCore::redrive(uint64_t id) {
  if (options.dead_letter_store == nullptr) return not_kept(id);
  // Taken first, so two redrives of one letter cannot both queue it.
  std::optional<DeadLetter> letter = options.dead_letter_store->take(id);
  if (!letter.has_value()) return not_kept(id);
  absl::Status admitted;
  FunctionSlot* slot = table_.find(letter->function);
  if (slot == nullptr) {
    admitted = detail::not_registered(letter->function);
  } else {
    Event event = letter->event;  // kept for putting back if refused
    Admission admission{.owned = &event};
    admitted = admit_to(*slot, admission);
    if (admitted.ok()) {
      slot->redriven.fetch_add(1, std::memory_order_relaxed);
      return admitted;
    }
    if (has_observers()) notify_refused(slot->name, admitted, /*is_async=*/true);
  }
  const std::string message = std::string(admitted.message());
  absl::StatusOr<uint64_t> put_back = options.dead_letter_store->put(*std::move(letter));
  if (!put_back.ok() && slot != nullptr) {
    slot->dead_letters_lost.fetch_add(1, std::memory_order_relaxed);
  }
  return absl::Status(
      admitted.code(),
      put_back.ok()
          ? fmt::format("dead letter {} not redriven ({}); kept again as dead letter {}", id,
                        message, *put_back)
          : fmt::format("dead letter {} not redriven ({}) and LOST: the store refused it back: {}",
                        id, message, put_back.status().ToString()));
}

absl::StatusOr<int64_t> HostCore::redrive_all(std::string_view function, size_t limit) {
  int64_t redriven = 0;
  for (const DeadLetter& letter : dead_letters(function, limit)) {
    absl::Status driven = redrive(letter.id);
    if (driven.code() == absl::StatusCode::kNotFound &&
        driven.message() == not_kept(letter.id).message()) {
      continue;  // taken by someone else meanwhile
    }
    if (!driven.ok()) {
      return absl::Status(driven.code(), fmt::format("{} redriven, then: {}", redriven,
                                                     detail::std_view(driven.message())));
    }
    ++redriven;
  }
  return redriven;
}

}  // namespace fnhost

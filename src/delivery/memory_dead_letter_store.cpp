// SPDX-License-Identifier: Apache-2.0
// The bounded in-memory DeadLetterStore.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/sync.hpp"
#include "fmt/format.h"
#include "fnhost/delivery.hpp"

namespace fnhost {

namespace {

using detail::Mutex;
using detail::MutexLock;

class MemoryDeadLetterStore final : public DeadLetterStore {
 public:
  explicit MemoryDeadLetterStore(size_t capacity) : capacity_(capacity) {}

  absl::StatusOr<uint64_t> put(DeadLetter letter) override {
    MutexLock lock(mu_);
    if (letters_.size() >= capacity_) {
      return absl::ResourceExhaustedError(fmt::format(
          "dead-letter store full ({} letters); take or delete some, or give it more capacity",
          capacity_));
    }
    const uint64_t id = next_id_++;
    letter.id = id;
    by_function_[letter.function].insert(id);
    letters_.emplace(id, std::move(letter));
    return id;
  }

  std::vector<DeadLetter> list(std::string_view function, size_t limit) const override {
    std::vector<DeadLetter> found;
    MutexLock lock(mu_);
    if (function.empty()) {
      for (auto it = letters_.begin(); it != letters_.end() && found.size() < limit; ++it) {
        found.push_back(it->second);
      }
      return found;
    }
    auto ids = by_function_.find(absl::string_view(function.data(), function.size()));
    if (ids == by_function_.end()) return found;
    for (auto it = ids->second.begin(); it != ids->second.end() && found.size() < limit; ++it) {
      found.push_back(letters_.at(*it));
    }
    return found;
  }

  std::optional<DeadLetter> get(uint64_t id) const override {
    MutexLock lock(mu_);
    auto it = letters_.find(id);
    if (it == letters_.end()) return std::nullopt;
    return it->second;
  }

  std::optional<DeadLetter> take(uint64_t id) override {
    MutexLock lock(mu_);
    auto it = letters_.find(id);
    if (it == letters_.end()) return std::nullopt;
    DeadLetter letter = std::move(it->second);
    letters_.erase(it);
    auto ids = by_function_.find(letter.function);
    ids->second.erase(id);
    if (ids->second.empty()) by_function_.erase(ids);
    return letter;
  }

  int64_t count(std::string_view function) const override {
    MutexLock lock(mu_);
    if (function.empty()) return static_cast<int64_t>(letters_.size());
    auto ids = by_function_.find(absl::string_view(function.data(), function.size()));
    return ids == by_function_.end() ? 0 : static_cast<int64_t>(ids->second.size());
  }

 private:
  const size_t capacity_;
  mutable Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, DeadLetter> letters_ ABSL_GUARDED_BY(mu_);  // by id: oldest first
  absl::flat_hash_map<std::string, std::set<uint64_t>> by_function_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::shared_ptr<DeadLetterStore> make_memory_dead_letter_store(size_t capacity) {
  return std::make_shared<MemoryDeadLetterStore>(capacity < 1 ? 1 : capacity);
}

}  // namespace fnhost

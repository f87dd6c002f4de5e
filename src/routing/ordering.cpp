// SPDX-License-Identifier: Apache-2.0
#include "routing/ordering.hpp"

namespace fnhost::detail {

namespace {
std::optional<std::string_view> non_empty(std::string_view value) {
  if (value.empty()) return std::nullopt;
  return value;
}
}  // namespace

bool OrderingTable::is_valid_attribute(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::optional<std::string_view> OrderingTable::key_of(const Event& event) const {
  if (attribute_ == "id") return non_empty(event.id);
  if (attribute_ == "source") return non_empty(event.source);
  if (attribute_ == "type") return non_empty(event.type);
  if (attribute_ == "subject") return non_empty(event.subject);
  if (attribute_ == "datacontenttype") return non_empty(event.datacontenttype);
  if (attribute_ == "topic") return non_empty(event.topic);
  std::optional<std::string_view> value = event.extension(attribute_);
  return value ? non_empty(*value) : std::nullopt;
}

OrderingGroup* OrderingTable::enter(std::string_view key,
                                    const std::shared_ptr<const Event>& event,
                                    const Lineage& lineage, bool* first) {
  MutexLock lock(mu_);
  auto [it, inserted] = groups_.try_emplace(absl::string_view(key.data(), key.size()));
  if (inserted) {
    it->second = std::make_unique<OrderingGroup>();
    it->second->table = shared_from_this();
    it->second->key = std::string(key);
    *first = true;
    return it->second.get();
  }
  it->second->waiting.emplace_back(event, lineage);
  ++waiting_;
  *first = false;
  return it->second.get();
}

bool OrderingTable::next(OrderingGroup* group, std::shared_ptr<const Event>& event,
                         Lineage& lineage) {
  // Declared before the lock, so destroyed after it is released: the group may hold the last
  // reference to this table.
  std::unique_ptr<OrderingGroup> ended;
  MutexLock lock(mu_);
  if (!group->waiting.empty()) {
    event = std::move(group->waiting.front().first);
    lineage = group->waiting.front().second;
    group->waiting.pop_front();
    --waiting_;
    return true;
  }
  auto it = groups_.find(group->key);
  ended = std::move(it->second);
  groups_.erase(it);
  return false;
}

int64_t OrderingTable::waiting() const {
  MutexLock lock(mu_);
  return waiting_;
}

int64_t OrderingTable::keys() const {
  MutexLock lock(mu_);
  return static_cast<int64_t>(groups_.size());
}

}  // namespace fnhost::detail

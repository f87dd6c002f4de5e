// SPDX-License-Identifier: Apache-2.0
#include "routing/topic.hpp"

#include <algorithm>
#include <cassert>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "fmt/format.h"

namespace fnhost::detail {

namespace {

// Splits the first level off `rest` (which holds at least one level): returns it and leaves in
// `rest` what follows its '/'; sets `last` when it was the last level.
std::string_view take_level(std::string_view& rest, bool& last) {
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) {
    const std::string_view level = rest;
    rest = {};
    last = true;
    return level;
  }
  const std::string_view level = rest.substr(0, slash);
  rest.remove_prefix(slash + 1);
  return level;
}

// Debian's Abseil has its own string_view, which the hash map's heterogeneous lookup takes.
absl::string_view absl_view(std::string_view view) { return {view.data(), view.size()}; }

// `text` as an error message quotes it: in double quotes with control characters and invalid
// UTF-8 escaped (a topic may hold any byte but NUL), cut to its first 64 bytes plus its length
// when longer. The same shape as the host's quoted() for function names, which routing does not
// depend on.
std::string quote_input(std::string_view text) {
  constexpr size_t kShown = 64;
  if (text.size() <= kShown) return fmt::format("{:?}", text);
  std::string shown = fmt::format("{:?}", text.substr(0, kShown));
  shown.insert(shown.size() - 1, "...");
  return fmt::format("{} ({} bytes)", shown, text.size());
}

// The checks shared by topics and patterns; `is_pattern` allows the "+" and final "#" levels.
absl::Status validate(std::string_view text, bool is_pattern) {
  const auto invalid = [&](std::string_view problem) {
    return absl::InvalidArgumentError(fmt::format(
        "{} {}: {}", is_pattern ? "topic pattern" : "topic", quote_input(text), problem));
  };
  if (text.empty()) return invalid("must not be empty");
  if (text.size() > kMaxTopicBytes) {
    return invalid(fmt::format("must be at most {} bytes, got {}", kMaxTopicBytes, text.size()));
  }
  // Problems are reported in the order of the bytes they are at, the first one only.
  size_t levels = 1;
  for (size_t start = 0;;) {
    const size_t slash = text.find('/', start);
    const size_t end = slash == std::string_view::npos ? text.size() : slash;
    if (start == end) return invalid(fmt::format("empty level at byte {}", start));
    const std::string_view level = text.substr(start, end - start);
    if (is_pattern && level == "#" && end != text.size()) {
      return invalid(fmt::format("'#' must be the last level (byte {})", start));
    }
    if (!is_pattern || (level != "+" && level != "#")) {
      for (size_t i = start; i < end; ++i) {
        const char c = text[i];
        if (c == '+' || c == '#') {
          return invalid(is_pattern ? fmt::format("'{}' must be a whole level (byte {})", c, i)
                                    : fmt::format("'{}' is a wildcard, allowed only in a topic "
                                                  "pattern (byte {})",
                                                  c, i));
        }
        if (c == '\0') return invalid(fmt::format("must not contain a NUL byte (byte {})", i));
      }
    }
    if (end == text.size()) return absl::OkStatus();
    start = end + 1;
    if (++levels > kMaxTopicLevels) {
      const size_t total =
          levels + static_cast<size_t>(
                       std::count(text.begin() + static_cast<ptrdiff_t>(start), text.end(), '/'));
      return invalid(fmt::format("must have at most {} levels, got {} (level {} starts at byte {})",
                                 kMaxTopicLevels, total, levels, start));
    }
  }
}

// Removes one `id` from `ids` (order is not kept); false if absent.
bool remove_id(std::vector<uint64_t>& ids, uint64_t id) {
  const auto it = std::find(ids.begin(), ids.end(), id);
  if (it == ids.end()) return false;
  *it = ids.back();
  ids.pop_back();
  if (ids.empty()) ids.shrink_to_fit();  // a node keeps no memory for ids it no longer has
  return true;
}

void append(std::vector<uint64_t>& out, const std::vector<uint64_t>& ids) {
  if (!ids.empty()) out.insert(out.end(), ids.begin(), ids.end());
}

// A topic split into its levels once per match(), each level hashed at most once: the plain and
// the '+' path through the trie look up the same level at the same depth.
struct TopicLevels {
  // Where a level starts and ends in the topic, and its hash once computed. Left uninitialized
  // (no default member initializers) so that the array costs nothing beyond the levels used.
  struct Level {
    const char* begin;
    const char* end;
    size_t hash;
    bool hashed;
  };

  // Splits `topic`; `fits` is false if it has more than kMaxTopicLevels levels (then invalid).
  explicit TopicLevels(std::string_view topic) {
    const char* begin = topic.data();
    const char* const end = topic.data() + topic.size();
    for (const char* at = begin;; ++at) {
      if (at == end || *at == '/') {
        if (count == kMaxTopicLevels) {
          fits = false;
          return;
        }
        levels[count++] = {begin, at, 0, false};
        if (at == end) return;
        begin = at + 1;
      }
    }
  }

  absl::string_view level(size_t depth) const {
    const Level& at = levels[depth];
    return {at.begin, static_cast<size_t>(at.end - at.begin)};
  }

  template <typename Hash>
  size_t hash(size_t depth, const Hash& hasher) {
    Level& at = levels[depth];
    if (!at.hashed) {
      at.hash = hasher(level(depth));
      at.hashed = true;
    }
    return at.hash;
  }

  bool fits = true;
  size_t count = 0;
  Level levels[kMaxTopicLevels];
};

}  // namespace

absl::Status validate_topic(std::string_view topic) { return validate(topic, false); }

absl::Status validate_topic_pattern(std::string_view pattern) { return validate(pattern, true); }

bool topic_matches(std::string_view pattern, std::string_view topic) {
  bool pattern_done = false;
  bool topic_done = false;
  while (!pattern_done) {
    const std::string_view want = take_level(pattern, pattern_done);
    if (want == "#") return true;  // the rest, however many levels (none included)
    if (topic_done) return false;
    const std::string_view level = take_level(topic, topic_done);
    if (want != "+" && want != level) return false;
  }
  return topic_done;
}

// One level of the trie: the node reached by a pattern prefix ("" at the root).
struct TopicTrie::Node {
  absl::flat_hash_map<std::string, std::unique_ptr<Node>> children;  // plain levels
  std::unique_ptr<Node> plus;                                        // the "+" level
  std::vector<uint64_t> rest_ids;   // patterns "<prefix>/#" (or "#" at the root)
  std::vector<uint64_t> exact_ids;  // patterns "<prefix>"

  bool is_empty() const {
    return children.empty() && plus == nullptr && rest_ids.empty() && exact_ids.empty();
  }

  // Appends the ids of the patterns below this node (at `depth` levels) that match `topic`.
  void collect(TopicLevels& topic, size_t depth, std::vector<uint64_t>& out) const {
    append(out, rest_ids);  // "#" matches the remaining levels, including none
    if (depth == topic.count) {
      append(out, exact_ids);
      return;
    }
    if (!children.empty()) {
      const absl::string_view level = topic.level(depth);
      const auto it = children.find(level, topic.hash(depth, children.hash_function()));
      if (it != children.end()) it->second->collect(topic, depth + 1, out);
    }
    if (plus != nullptr) plus->collect(topic, depth + 1, out);
  }

  // Removes `id` from the pattern whose levels after this node's prefix are `rest` (`at_end`:
  // none left) and prunes the children left empty; false if it was not stored.
  bool erase(std::string_view rest, bool at_end, uint64_t id) {
    if (at_end) return remove_id(exact_ids, id);
    const std::string_view level = take_level(rest, at_end);
    if (level == "#") return remove_id(rest_ids, id);
    if (level == "+") {
      if (plus == nullptr || !plus->erase(rest, at_end, id)) return false;
      if (plus->is_empty()) plus.reset();
      return true;
    }
    const auto it = children.find(absl_view(level));
    if (it == children.end() || !it->second->erase(rest, at_end, id)) return false;
    if (it->second->is_empty()) children.erase(it);
    return true;
  }

  size_t count() const {
    size_t nodes = 1;
    for (const auto& [level, child] : children) nodes += child->count();
    if (plus != nullptr) nodes += plus->count();
    return nodes;
  }
};

TopicTrie::TopicTrie() = default;
TopicTrie::~TopicTrie() = default;

TopicTrie::TopicTrie(TopicTrie&& other) noexcept
    : root_(std::move(other.root_)),
      size_(std::exchange(other.size_, 0)),
      patterns_per_id_(std::move(other.patterns_per_id_)),
      shared_ids_(std::exchange(other.shared_ids_, 0)) {
  other.patterns_per_id_.clear();
}

TopicTrie& TopicTrie::operator=(TopicTrie&& other) noexcept {
  if (this != &other) {
    root_ = std::move(other.root_);
    size_ = std::exchange(other.size_, 0);
    patterns_per_id_ = std::move(other.patterns_per_id_);
    other.patterns_per_id_.clear();
    shared_ids_ = std::exchange(other.shared_ids_, 0);
  }
  return *this;
}

void TopicTrie::insert(std::string_view pattern, uint64_t id) {
  assert(validate_topic_pattern(pattern).ok());
  if (root_ == nullptr) root_ = std::make_unique<Node>();
  Node* node = root_.get();
  std::vector<uint64_t>* ids = nullptr;
  std::string_view rest = pattern;
  bool at_end = false;
  while (ids == nullptr) {
    if (at_end) {
      ids = &node->exact_ids;
      break;
    }
    const std::string_view level = take_level(rest, at_end);
    if (level == "#") {
      ids = &node->rest_ids;
    } else if (level == "+") {
      if (node->plus == nullptr) node->plus = std::make_unique<Node>();
      node = node->plus.get();
    } else {
      auto it = node->children.find(absl_view(level));
      if (it == node->children.end()) {
        it = node->children.emplace(std::string(level), std::make_unique<Node>()).first;
      }
      node = it->second.get();
    }
  }
  // An id not stored under any pattern cannot be at this node: the scan is only for the rare
  // id stored under several patterns.
  const auto [count, first_pattern] = patterns_per_id_.try_emplace(id, 0);
  if (!first_pattern && std::find(ids->begin(), ids->end(), id) != ids->end()) return;
  ids->push_back(id);
  ++size_;
  if (++count->second == 2) ++shared_ids_;
}

bool TopicTrie::erase(std::string_view pattern, uint64_t id) {
  assert(validate_topic_pattern(pattern).ok());
  const auto count = patterns_per_id_.find(id);
  if (count == patterns_per_id_.end() || !root_->erase(pattern, false, id)) return false;
  --size_;
  if (--count->second == 1) {
    --shared_ids_;
  } else if (count->second == 0) {
    patterns_per_id_.erase(count);
  }
  if (root_->is_empty()) root_.reset();
  return true;
}

void TopicTrie::match(std::string_view topic, std::vector<uint64_t>& out) const {
  if (root_ == nullptr) return;
  const size_t first = out.size();
  TopicLevels levels(topic);
  // An invalid topic too deep for the levels array matches nothing rather than overrunning it.
  if (!levels.fits) return;
  root_->collect(levels, 0, out);
  // Only an id stored under two or more patterns can be appended twice.
  if (shared_ids_ > 0 && out.size() - first > 1) {
    const auto begin = out.begin() + static_cast<ptrdiff_t>(first);
    std::sort(begin, out.end());
    out.erase(std::unique(begin, out.end()), out.end());
  }
}

size_t TopicTrie::node_count() const { return root_ == nullptr ? 0 : root_->count(); }

}  // namespace fnhost::detail

// SPDX-License-Identifier: Apache-2.0
// File: src/routing/topic.hpp
// MQTT-style topics and topic patterns for the event router (internal, not installed).
//
// A topic names where an event is published: '/'-separated levels ("devices/42/temp"). A pattern
// selects topics: a level may be "+" (any one level) or, as the last level, "#" (the rest,
// zero or more levels). validate_topic / validate_topic_pattern check the rules below;
// topic_matches is the definition of matching; TopicTrie stores many patterns with an id each
// and finds, per published topic, the ids of every pattern that matches it, in time that grows
// with the topic's levels, not with the number of patterns.
//
//   TopicTrie trie;
//   trie.insert("devices/+/temp", 1);
//   trie.insert("devices/#", 2);
//   std::vector<uint64_t> ids;
//   trie.match("devices/42/temp", ids);  // ids holds 1 and 2, in some order
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"

namespace fnhost::detail {

// A topic or pattern is 1..kMaxTopicBytes bytes with at most kMaxTopicLevels levels.
inline constexpr size_t kMaxTopicBytes = 1024;
inline constexpr size_t kMaxTopicLevels = 64;

// Checks that `topic` is a topic: 1..1024 bytes of '/'-separated levels, at most 64 of them,
// every level non-empty, no '+' or '#' anywhere and no NUL byte (any other bytes are allowed;
// there is no special case for levels starting with '$'). InvalidArgument names the problem and
// its 0-based byte offset and quotes at most 64 bytes of `topic`, escaped:
// `topic "a//b": empty level at byte 2`. Thread-safe; allocates only for an error.
[[nodiscard]] absl::Status validate_topic(std::string_view topic);

// Checks that `pattern` is a topic pattern: like a topic, except that a level may be exactly "+"
// (matches any one level) and the last level may be exactly "#" (matches the remaining levels,
// zero or more: "a/#" matches "a", "a/b" and "a/b/c"; "#" alone matches every topic). A '+' or
// '#' inside a longer level ("a+/b", "a/b#") and a '#' before the last level ("a/#/b") are
// invalid. Errors as for validate_topic:
// `topic pattern "a/#/b": '#' must be the last level (byte 2)`. Thread-safe; allocates only for
// an error.
[[nodiscard]] absl::Status validate_topic_pattern(std::string_view pattern);

// True if `pattern` matches `topic`, level by level: a plain level equal to the topic's level,
// "+" any one level, a final "#" whatever levels remain (none included). Both arguments must be
// valid (unchecked). The reference definition TopicTrie agrees with; linear in the two lengths.
bool topic_matches(std::string_view pattern, std::string_view topic);

// A set of (pattern, id) pairs, searchable by topic: a trie over levels, where each node has
// its plain children by level, a '+' child, the ids of patterns ending in "#" there and the ids
// of patterns ending exactly there. match() splits the topic once, hashes each of its levels at
// most once and probes one table per node it visits (at most two paths go on from a node: the
// plain and the '+' child), so its cost follows the topic's levels and the patterns that match,
// not the number stored; it does not allocate beyond growing `out`.
//
// An id may be stored under several patterns (the router gives each subscription its own id, so
// normally it is not); match() then still appends it once. The trie counts the ids stored under
// more than one pattern and deduplicates only while there are some, so the usual case pays
// nothing for it.
//
// Not thread-safe: calls must not overlap, except const calls with each other. An empty trie
// holds no nodes; a moved-from trie is empty.
class TopicTrie {
 public:
  TopicTrie();
  ~TopicTrie();
  TopicTrie(TopicTrie&& other) noexcept;
  TopicTrie& operator=(TopicTrie&& other) noexcept;
  TopicTrie(const TopicTrie&) = delete;
  TopicTrie& operator=(const TopicTrie&) = delete;

  // Stores (`pattern`, `id`); a pair already stored is stored once. `pattern` must be valid
  // (validate_topic_pattern; asserted only in debug builds). Allocates the missing nodes.
  void insert(std::string_view pattern, uint64_t id);

  // Removes (`pattern`, `id`) and the nodes left empty; false if it was not stored. `pattern`
  // must be valid.
  bool erase(std::string_view pattern, uint64_t id);

  // Appends to `out` the id of every stored pair whose pattern matches `topic` (a valid topic,
  // unchecked; one of more than 64 levels matches nothing), each id once, in no particular
  // order; does not clear `out`. Allocates only when `out` grows.
  void match(std::string_view topic, std::vector<uint64_t>& out) const;

  // Number of stored (pattern, id) pairs.
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Number of trie nodes, the root included (0 when empty): what the tests check pruning by.
  // Walks the whole trie.
  size_t node_count() const;

 private:
  struct Node;

  // Null while the trie is empty.
  std::unique_ptr<Node> root_;
  size_t size_ = 0;
  // How many patterns each stored id is stored under, and how many ids are stored under more
  // than one (match() deduplicates only while that is non-zero).
  absl::flat_hash_map<uint64_t, uint32_t> patterns_per_id_;
  size_t shared_ids_ = 0;
};

}  // namespace fnhost::detail

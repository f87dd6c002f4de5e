// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for topics and topic patterns (src/routing/topic.cpp). Any bytes given to the
// validators return OK or a bounded InvalidArgument. The input's lines then become a TopicTrie:
// every line but the last a pattern (with an id), the last a topic; when the topic is valid the
// trie must match exactly the ids the reference matcher topic_matches finds, before and after
// erasing some of the pairs, and erasing all of them must leave no node.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "routing/topic.hpp"

namespace {

using fnhost::detail::topic_matches;
using fnhost::detail::TopicTrie;
using fnhost::detail::validate_topic;
using fnhost::detail::validate_topic_pattern;

void check(bool condition) {
  if (!condition) std::abort();
}

// A refusal is InvalidArgument with a message that quotes at most 64 bytes of the input (each
// escaped as at most 4 characters) plus a fixed-size explanation.
void check_refusal(const absl::Status& status) {
  if (status.ok()) return;
  check(status.code() == absl::StatusCode::kInvalidArgument);
  check(status.message().size() <= 64 * 4 + 160);
}

// Validates `text` both ways; returns whether it is a valid pattern and a valid topic.
std::pair<bool, bool> validate_both(std::string_view text) {
  const absl::Status pattern = validate_topic_pattern(text);
  const absl::Status topic = validate_topic(text);
  check_refusal(pattern);
  check_refusal(topic);
  // The topic rules are the pattern rules without wildcards.
  if (topic.ok()) {
    check(pattern.ok());
    check(topic_matches(text, text));
  }
  return {pattern.ok(), topic.ok()};
}

void check_match(const TopicTrie& trie,
                 const std::set<std::pair<std::string_view, uint64_t>>& stored,
                 std::string_view topic) {
  std::vector<uint64_t> got;
  trie.match(topic, got);
  std::sort(got.begin(), got.end());
  check(std::adjacent_find(got.begin(), got.end()) == got.end());  // each id once
  std::set<uint64_t> want;
  for (const auto& [pattern, id] : stored) {
    if (topic_matches(pattern, topic)) want.insert(id);
  }
  check(std::equal(got.begin(), got.end(), want.begin(), want.end()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  validate_both(input);

  std::vector<std::string_view> lines;
  for (std::string_view rest = input;;) {
    const size_t newline = rest.find('\n');
    lines.push_back(rest.substr(0, newline));
    if (newline == std::string_view::npos) break;
    rest.remove_prefix(newline + 1);
  }
  const std::string_view topic = lines.back();
  lines.pop_back();

  // An input starting with an odd byte draws ids from 0..3, so one id is often stored under
  // several patterns (match() must still append it once).
  const bool shared_ids = size > 0 && (data[0] & 1) != 0;
  TopicTrie trie;
  std::set<std::pair<std::string_view, uint64_t>> stored;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (!validate_both(lines[i]).first) continue;
    const uint64_t id = shared_ids ? i % 4 : i;
    trie.insert(lines[i], id);
    stored.emplace(lines[i], id);
  }
  check(trie.size() == stored.size());
  if (!validate_both(topic).second) return 0;

  check_match(trie, stored, topic);
  bool erase = true;
  for (auto it = stored.begin(); it != stored.end(); erase = !erase) {
    if (!erase) {
      ++it;
      continue;
    }
    check(trie.erase(it->first, it->second));
    check(!trie.erase(it->first, it->second));
    it = stored.erase(it);
  }
  check(trie.size() == stored.size());
  check_match(trie, stored, topic);
  for (const auto& [pattern, id] : stored) check(trie.erase(pattern, id));
  check(trie.empty() && trie.node_count() == 0);
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
// Topics and topic patterns (internal): validation and its messages, MQTT matching semantics,
// and TopicTrie against the reference matcher on random pattern sets.
#include "routing/topic.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using fnhost::detail::kMaxTopicBytes;
using fnhost::detail::kMaxTopicLevels;
using fnhost::detail::topic_matches;
using fnhost::detail::TopicTrie;
using fnhost::detail::validate_topic;
using fnhost::detail::validate_topic_pattern;

std::string message_of(const absl::Status& status) {
  return std::string(status.message().data(), status.message().size());
}

// `count` levels "l" joined by '/'.
std::string levels_of(size_t count) {
  std::string text = "l";
  for (size_t i = 1; i < count; ++i) text += "/l";
  return text;
}

std::vector<uint64_t> sorted_match(const TopicTrie& trie, std::string_view topic) {
  std::vector<uint64_t> ids;
  trie.match(topic, ids);
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST_CASE("validate_topic accepts topics of non-empty plain levels", "[topic]") {
  for (const std::string_view topic :
       {"a", "a/b", "devices/42/temp", "$SYS/broker/load", "a b/c-d/e.f", "caf\xc3\xa9/x",
        "\x01\xff/bytes", "very/deep/topic/with/many/levels/0/1/2/3/4/5/6/7/8/9"}) {
    INFO(topic);
    CHECK(validate_topic(topic).ok());
  }
}

TEST_CASE("validate_topic rejects every invalid shape, naming the byte", "[topic]") {
  using namespace std::string_view_literals;
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"", R"(topic "": must not be empty)"},
      {"/", R"(topic "/": empty level at byte 0)"},
      {"/a", R"(topic "/a": empty level at byte 0)"},
      {"a/", R"(topic "a/": empty level at byte 2)"},
      {"a//b", R"(topic "a//b": empty level at byte 2)"},
      {"a/b//", R"(topic "a/b//": empty level at byte 4)"},
      {"+", R"(topic "+": '+' is a wildcard, allowed only in a topic pattern (byte 0))"},
      {"a/+/b", R"(topic "a/+/b": '+' is a wildcard, allowed only in a topic pattern (byte 2))"},
      {"#", R"(topic "#": '#' is a wildcard, allowed only in a topic pattern (byte 0))"},
      {"a/b#", R"(topic "a/b#": '#' is a wildcard, allowed only in a topic pattern (byte 3))"},
      {"a\0b"sv, R"(topic "a\x00b": must not contain a NUL byte (byte 1))"},
      {"ab/\n/c\0"sv, R"(topic "ab/\n/c\x00": must not contain a NUL byte (byte 6))"},
  };
  for (const auto& [topic, expected] : cases) {
    const absl::Status status = validate_topic(topic);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(message_of(status) == expected);
  }
}

TEST_CASE("validate_topic_pattern accepts '+' levels and a final '#' level", "[topic]") {
  for (const std::string_view pattern : {"a", "a/b", "#", "+", "+/+", "a/#", "+/#", "a/+/b",
                                         "a/+/#", "+/+/+/#", "devices/+/temp", "$SYS/#"}) {
    INFO(pattern);
    CHECK(validate_topic_pattern(pattern).ok());
  }
}

TEST_CASE("validate_topic_pattern rejects every invalid shape, naming the byte", "[topic]") {
  using namespace std::string_view_literals;
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"", R"(topic pattern "": must not be empty)"},
      {"a//b", R"(topic pattern "a//b": empty level at byte 2)"},
      {"/#", R"(topic pattern "/#": empty level at byte 0)"},
      {"+/", R"(topic pattern "+/": empty level at byte 2)"},
      {"a/#/b", R"(topic pattern "a/#/b": '#' must be the last level (byte 2))"},
      {"#/", R"(topic pattern "#/": '#' must be the last level (byte 0))"},
      {"#/#", R"(topic pattern "#/#": '#' must be the last level (byte 0))"},
      {"a+/b", R"(topic pattern "a+/b": '+' must be a whole level (byte 1))"},
      {"a/+b", R"(topic pattern "a/+b": '+' must be a whole level (byte 2))"},
      {"++", R"(topic pattern "++": '+' must be a whole level (byte 0))"},
      {"a/b#", R"(topic pattern "a/b#": '#' must be a whole level (byte 3))"},
      {"a/##", R"(topic pattern "a/##": '#' must be a whole level (byte 2))"},
      {"a/#+", R"(topic pattern "a/#+": '#' must be a whole level (byte 2))"},
      {"+/\0"sv, R"(topic pattern "+/\x00": must not contain a NUL byte (byte 2))"},
  };
  for (const auto& [pattern, expected] : cases) {
    const absl::Status status = validate_topic_pattern(pattern);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(message_of(status) == expected);
  }
}

TEST_CASE("topics and patterns are limited to 1024 bytes and 64 levels", "[topic]") {
  SECTION("bytes") {
    const std::string longest(kMaxTopicBytes, 'x');
    CHECK(validate_topic(longest).ok());
    CHECK(validate_topic_pattern(longest).ok());
    const std::string too_long(kMaxTopicBytes + 1, 'x');
    const absl::Status status = validate_topic(too_long);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(message_of(status) == "topic \"" + std::string(64, 'x') +
                                    "...\" (1025 bytes): must be at most 1024 bytes, got 1025");
    CHECK(message_of(validate_topic_pattern(too_long)).find("topic pattern \"") == 0);
  }
  SECTION("levels") {
    CHECK(validate_topic(levels_of(kMaxTopicLevels)).ok());
    CHECK(validate_topic_pattern(levels_of(kMaxTopicLevels - 1) + "/#").ok());
    const absl::Status status = validate_topic(levels_of(70));
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(
        message_of(status) ==
        "topic \"" + levels_of(32) + "/" +
            "...\" (139 bytes): must have at most 64 levels, got 70 (level 65 starts at byte 128)");
    const absl::Status pattern = validate_topic_pattern(levels_of(kMaxTopicLevels) + "/#");
    CHECK(pattern.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(message_of(pattern), Catch::EndsWith("must have at most 64 levels, got 65 "
                                                    "(level 65 starts at byte 128)"));
  }
  SECTION("an invalid byte earlier than the 65th level is reported first") {
    CHECK_THAT(message_of(validate_topic("a//" + levels_of(80))),
               Catch::EndsWith("empty level at byte 2"));
  }
}

TEST_CASE("topic error messages quote at most 64 bytes of the input", "[topic]") {
  SECTION("a 10 KB input") {
    const std::string huge(10 * 1024, 'h');
    for (const absl::Status& status : {validate_topic(huge), validate_topic_pattern(huge)}) {
      const std::string message = message_of(status);
      CHECK(message.size() < 160);
      CHECK(message.find('"' + std::string(64, 'h') + "...\" (10240 bytes)") != std::string::npos);
      CHECK(message.find(std::string(65, 'h')) == std::string::npos);
    }
  }
  SECTION("a problem past the quoted bytes still names its byte") {
    const std::string topic = std::string(900, 'a') + "/b/+";
    CHECK(message_of(validate_topic(topic)) ==
          "topic \"" + std::string(64, 'a') +
              "...\" (904 bytes): '+' is a wildcard, allowed only in a topic pattern (byte 903)");
  }
  SECTION("control bytes are escaped and count as one byte each") {
    const std::string topic = std::string(63, 'a') + "\n/+";
    CHECK(message_of(validate_topic_pattern(topic + "+")) ==
          "topic pattern \"" + std::string(63, 'a') +
              "\\n...\" (67 bytes): '+' must be a whole level (byte 65)");
  }
}

TEST_CASE("topic_matches follows MQTT semantics", "[topic]") {
  struct Case {
    std::string_view pattern;
    std::string_view topic;
    bool matches;
  };
  const std::vector<Case> cases = {
      // Plain levels: equal, level by level.
      {"a", "a", true},
      {"a", "b", false},
      {"a/b", "a/b", true},
      {"a/b", "a", false},
      {"a", "a/b", false},
      {"a/b", "a/bc", false},
      {"ab", "a/b", false},
      {"A", "a", false},
      // '+': exactly one level.
      {"+", "a", true},
      {"+", "a/b", false},
      {"+/+", "a", false},
      {"+/+", "a/b", true},
      {"+/+", "a/b/c", false},
      {"a/+", "a", false},
      {"a/+", "a/b", true},
      {"a/+", "a/b/c", false},
      {"a/+/c", "a/b/c", true},
      {"a/+/c", "a/b/d", false},
      {"+/b", "a/b", true},
      {"+/b", "a/c", false},
      // '#': the rest, zero or more levels, the parent included.
      {"#", "a", true},
      {"#", "a/b/c", true},
      {"a/#", "a", true},
      {"a/#", "a/b", true},
      {"a/#", "a/b/c", true},
      {"a/#", "b", false},
      {"a/#", "ab", false},
      {"a/#", "b/a", false},
      {"a/b/#", "a", false},
      {"a/b/#", "a/b", true},
      {"a/b/#", "a/c/b", false},
      {"+/#", "a", true},
      {"+/#", "a/b/c", true},
      {"+/b/#", "a/b", true},
      {"+/b/#", "a/c", false},
      {"a/+/#", "a", false},
      {"a/+/#", "a/b", true},
      {"a/+/#", "a/b/c/d", true},
      // No special case for '$' levels.
      {"#", "$SYS/load", true},
      {"+/load", "$SYS/load", true},
  };
  for (const Case& c : cases) {
    INFO("pattern " << c.pattern << ", topic " << c.topic);
    REQUIRE(validate_topic_pattern(c.pattern).ok());
    REQUIRE(validate_topic(c.topic).ok());
    CHECK(topic_matches(c.pattern, c.topic) == c.matches);
    TopicTrie trie;
    trie.insert(c.pattern, 7);
    CHECK(sorted_match(trie, c.topic) ==
          (c.matches ? std::vector<uint64_t>{7} : std::vector<uint64_t>{}));
  }
}

TEST_CASE("a topic trie stores each (pattern, id) once and counts pairs", "[topic]") {
  TopicTrie trie;
  CHECK(trie.empty());
  CHECK(trie.size() == 0);
  CHECK(trie.node_count() == 0);
  std::vector<uint64_t> ids;
  trie.match("a/b", ids);
  CHECK(ids.empty());

  trie.insert("a/b", 1);
  trie.insert("a/b", 1);
  CHECK(trie.size() == 1);
  CHECK_FALSE(trie.empty());
  trie.insert("a/b", 2);  // another id, same pattern
  trie.insert("a/+", 3);
  trie.insert("a/#", 4);
  trie.insert("#", 5);
  CHECK(trie.size() == 5);
  CHECK(sorted_match(trie, "a/b") == std::vector<uint64_t>{1, 2, 3, 4, 5});
  CHECK(sorted_match(trie, "a/c") == std::vector<uint64_t>{3, 4, 5});
  CHECK(sorted_match(trie, "a") == std::vector<uint64_t>{4, 5});
  CHECK(sorted_match(trie, "b") == std::vector<uint64_t>{5});

  SECTION("a topic of more than 64 levels (invalid) matches nothing, not even \"#\"") {
    std::vector<uint64_t> out;
    trie.match(levels_of(kMaxTopicLevels + 1), out);
    CHECK(out.empty());
    CHECK(sorted_match(trie, levels_of(kMaxTopicLevels)) == std::vector<uint64_t>{5});
  }
  SECTION("match appends without clearing") {
    std::vector<uint64_t> out = {99};
    trie.match("a", out);
    std::sort(out.begin() + 1, out.end());
    CHECK(out == std::vector<uint64_t>{99, 4, 5});
  }
  SECTION("a moved-from trie is empty") {
    TopicTrie moved = std::move(trie);
    CHECK(moved.size() == 5);
    CHECK(sorted_match(moved, "a/c") == std::vector<uint64_t>{3, 4, 5});
    CHECK(trie.empty());  // NOLINT(bugprone-use-after-move): documented state
    CHECK(trie.node_count() == 0);
    CHECK(sorted_match(trie, "a/c").empty());
    trie.insert("x", 1);
    CHECK(sorted_match(trie, "x") == std::vector<uint64_t>{1});
    moved = std::move(trie);
    CHECK(moved.size() == 1);
    CHECK(sorted_match(moved, "a/c").empty());
  }
}

TEST_CASE("topic trie erase removes one pair and prunes the nodes left empty", "[topic]") {
  TopicTrie trie;
  trie.insert("a/b/c", 1);
  trie.insert("a/b", 2);
  trie.insert("a/+/c/#", 3);
  CHECK(trie.node_count() == 6);  // root, a, a/b, a/b/c, a/+, a/+/c (which holds the "#" id)

  SECTION("erase of what is not stored returns false and changes nothing") {
    CHECK_FALSE(trie.erase("a/b/c", 2));  // stored pattern, other id
    CHECK_FALSE(trie.erase("a/b/d", 1));  // unknown pattern, known id
    CHECK_FALSE(trie.erase("a/b/c/d", 1));
    CHECK_FALSE(trie.erase("a", 1));    // an inner node
    CHECK_FALSE(trie.erase("a/#", 1));  // '#' where no pattern ends in one
    CHECK_FALSE(trie.erase("+", 3));
    CHECK_FALSE(trie.erase("#", 9));  // unknown id
    CHECK(trie.size() == 3);
    CHECK(trie.node_count() == 6);
    CHECK(sorted_match(trie, "a/b/c") == std::vector<uint64_t>{1, 3});
  }
  SECTION("erasing a leaf pattern prunes its nodes up to the first one still in use") {
    CHECK(trie.erase("a/b/c", 1));
    CHECK_FALSE(trie.erase("a/b/c", 1));
    CHECK(trie.size() == 2);
    CHECK(trie.node_count() == 5);  // a/b/c gone; a/b holds id 2
    CHECK(sorted_match(trie, "a/b/c") == std::vector<uint64_t>{3});
    CHECK(trie.erase("a/+/c/#", 3));
    CHECK(trie.node_count() == 3);  // root, a, a/b
    CHECK(sorted_match(trie, "a/b") == std::vector<uint64_t>{2});
    CHECK(trie.erase("a/b", 2));
    CHECK(trie.empty());
    CHECK(trie.node_count() == 0);
  }
  SECTION("erasing an inner pattern keeps the nodes below it") {
    CHECK(trie.erase("a/b", 2));
    CHECK(trie.node_count() == 6);
    CHECK(sorted_match(trie, "a/b").empty());
    CHECK(sorted_match(trie, "a/b/c") == std::vector<uint64_t>{1, 3});
  }
  SECTION("a pair can be stored again after erase") {
    CHECK(trie.erase("a/b/c", 1));
    trie.insert("a/b/c", 1);
    CHECK(trie.size() == 3);
    CHECK(sorted_match(trie, "a/b/c") == std::vector<uint64_t>{1, 3});
  }
}

TEST_CASE("a topic trie appends an id stored under several matching patterns once", "[topic]") {
  TopicTrie trie;
  trie.insert("a/+", 1);
  trie.insert("a/b", 1);
  trie.insert("#", 1);
  trie.insert("a/b", 2);
  CHECK(trie.size() == 4);
  CHECK(sorted_match(trie, "a/b") == std::vector<uint64_t>{1, 2});
  std::vector<uint64_t> out = {1};  // what out held before is left alone
  trie.match("a/b", out);
  std::sort(out.begin() + 1, out.end());
  CHECK(out == std::vector<uint64_t>{1, 1, 2});
  CHECK(trie.erase("a/b", 1));
  CHECK(trie.erase("#", 1));
  CHECK(sorted_match(trie, "a/b") == std::vector<uint64_t>{1, 2});
  CHECK(sorted_match(trie, "a/c") == std::vector<uint64_t>{1});
  CHECK(trie.erase("a/+", 1));
  CHECK(trie.erase("a/b", 2));
  CHECK(trie.empty());
}

TEST_CASE("a topic trie matches topics and patterns of 64 levels", "[topic]") {
  std::string pluses = "+";
  for (size_t i = 1; i < kMaxTopicLevels; ++i) pluses += "/+";
  TopicTrie trie;
  trie.insert(levels_of(kMaxTopicLevels), 1);
  trie.insert(levels_of(kMaxTopicLevels - 1) + "/#", 2);
  trie.insert(pluses, 3);
  trie.insert(levels_of(kMaxTopicLevels - 1) + "/+", 4);
  CHECK(trie.node_count() == 2 * kMaxTopicLevels + 2);  // root, l x 64, + x 64, l x 63 then +
  CHECK(sorted_match(trie, levels_of(kMaxTopicLevels)) == std::vector<uint64_t>{1, 2, 3, 4});
  CHECK(sorted_match(trie, levels_of(kMaxTopicLevels - 1)) == std::vector<uint64_t>{2});
  CHECK(sorted_match(trie, levels_of(kMaxTopicLevels - 1) + "/x") ==
        std::vector<uint64_t>{2, 3, 4});
  CHECK(trie.erase(pluses, 3));
  CHECK(trie.node_count() == kMaxTopicLevels + 2);
}

// Random patterns over a small alphabet, so that many overlap.
std::string random_pattern(std::mt19937& random) {
  static constexpr std::string_view kLevels[] = {"a", "b", "c", "+", "#"};
  const int levels = std::uniform_int_distribution<int>(1, 4)(random);
  std::string pattern;
  for (int i = 0; i < levels; ++i) {
    if (i > 0) pattern += '/';
    const std::string_view level = kLevels[std::uniform_int_distribution<size_t>(0, 4)(random)];
    pattern += level;
    if (level == "#") break;
  }
  return pattern;
}

std::string random_topic(std::mt19937& random) {
  static constexpr std::string_view kLevels[] = {"a", "b", "c", "d"};
  const int levels = std::uniform_int_distribution<int>(1, 5)(random);
  std::string topic;
  for (int i = 0; i < levels; ++i) {
    if (i > 0) topic += '/';
    topic += kLevels[std::uniform_int_distribution<size_t>(0, 3)(random)];
  }
  return topic;
}

// The ids of `stored` whose pattern matches `topic`, by the reference matcher, each once.
std::vector<uint64_t> brute_force(const std::set<std::pair<std::string, uint64_t>>& stored,
                                  std::string_view topic) {
  std::set<uint64_t> ids;
  for (const auto& [pattern, id] : stored) {
    if (topic_matches(pattern, topic)) ids.insert(id);
  }
  return {ids.begin(), ids.end()};
}

TEST_CASE("TopicTrie matches what topic_matches matches on random pattern sets", "[topic]") {
  int checked = 0;
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    std::mt19937 random(seed);
    // Odd seeds draw ids from a small range, so one id is often stored under several patterns.
    const uint64_t max_id = seed % 2 == 1 ? 8 : 1'000'000;
    TopicTrie trie;
    std::set<std::pair<std::string, uint64_t>> stored;
    const int pairs = std::uniform_int_distribution<int>(1, 60)(random);
    for (int i = 0; i < pairs; ++i) {
      std::string pattern = random_pattern(random);
      REQUIRE(validate_topic_pattern(pattern).ok());
      const uint64_t id = std::uniform_int_distribution<uint64_t>(0, max_id)(random);
      trie.insert(pattern, id);
      stored.emplace(std::move(pattern), id);
    }
    REQUIRE(trie.size() == stored.size());
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < 50; ++i) {
        const std::string topic = random_topic(random);
        INFO("seed " << seed << ", round " << round << ", topic " << topic);
        REQUIRE(sorted_match(trie, topic) == brute_force(stored, topic));
        ++checked;
      }
      // Erase about half of the pairs, plus some that are not stored, then check again.
      for (auto it = stored.begin(); it != stored.end();) {
        if (random() % 2 == 0) {
          REQUIRE(trie.erase(it->first, it->second));
          it = stored.erase(it);
        } else {
          ++it;
        }
      }
      REQUIRE_FALSE(trie.erase(random_pattern(random), max_id + 1));
      REQUIRE(trie.size() == stored.size());
    }
    for (const auto& [pattern, id] : stored) REQUIRE(trie.erase(pattern, id));
    REQUIRE(trie.empty());
    REQUIRE(trie.node_count() == 0);
  }
  CHECK(checked == 300 * 3 * 50);
}

}  // namespace

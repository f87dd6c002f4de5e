// SPDX-License-Identifier: Apache-2.0
// Internal (src/security/policy_rules.hpp).
// What the parts of a policy statement may be, shared by Policy::create and Policy::parse so
// that both refuse exactly the same things. Each check returns a PolicyProblem (what is wrong and
// what to write instead, and the offending byte within the item when one byte is at fault); the
// caller prefixes it with where the item came from: a statement index and field for create(), a
// line and byte for parse(). Also the checks evaluate() makes on a request's names, which must
// not allocate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "fnhost/policy.hpp"

namespace fnhost::detail {

// Limits from fnhost/policy.hpp.
inline constexpr size_t kMaxPolicyTextBytes = 65536;
inline constexpr size_t kMaxPolicyStatements = 1000;
inline constexpr size_t kMaxPolicyItems = 64;  // actions, resources or principals per statement
inline constexpr size_t kMaxStatementIdBytes = 64;
inline constexpr size_t kMaxGlobBytes = 128;  // function and principal globs
inline constexpr size_t kMaxPrincipalNameBytes = 128;
inline constexpr size_t kMaxFunctionNameBytes = 128;

inline constexpr std::string_view kFunctionPrefix = "function:";
inline constexpr std::string_view kTopicPrefix = "topic:";

struct PolicyProblem {
  explicit PolicyProblem(std::string description, std::optional<size_t> at = std::nullopt)
      : what(std::move(description)), byte(at) {}

  // What is wrong and what to write instead, without the item itself (the caller quotes it).
  std::string what;
  // The offending byte within the item, when a single byte is at fault.
  std::optional<size_t> byte;
};

// Checks a statement id: 1..64 of [A-Za-z0-9_.-].
std::optional<PolicyProblem> statement_id_problem(std::string_view id);

// Checks a resource: "*", "function:<glob>" or "topic:<pattern>". A topic pattern must also be
// free of spaces, control characters and ',' (which validate_topic_pattern allows): the text
// form separates items with them, and every valid policy must survive parse(to_string()).
std::optional<PolicyProblem> resource_problem(std::string_view resource);

// Checks a principal glob: 1..128 of [A-Za-z0-9_.:@/-*?].
std::optional<PolicyProblem> principal_glob_problem(std::string_view glob);

// Checks a principal name: 1..128 of [A-Za-z0-9_.:@/-], and not "host".
std::optional<PolicyProblem> principal_name_problem(std::string_view name);

// Checks how many actions, resources or principals (`items`, plural) a statement lists.
std::optional<PolicyProblem> item_count_problem(size_t count, std::string_view items);

// "'x'" for a printable byte, "byte 0x09" otherwise, for messages about one byte.
std::string describe_byte(char c);

// A valid resource split into what it matches and its pattern (without the prefix).
enum class ResourcePatternKind : uint8_t { kEverything, kFunction, kTopic };
struct ResourcePattern {
  ResourcePatternKind kind = ResourcePatternKind::kEverything;
  std::string_view pattern;
};
// `resource` must be valid (resource_problem); the pattern views `resource`.
ResourcePattern split_resource(std::string_view resource);

// The same rules as the checks above and validate_topic, without allocating (for evaluate()).
bool is_principal_name(std::string_view name);
bool is_function_name(std::string_view name);
bool is_topic(std::string_view topic);

// Whether `action` is one of the Action enumerators (a cast integer may not be).
bool is_action(Action action);

}  // namespace fnhost::detail

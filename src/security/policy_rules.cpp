// SPDX-License-Identifier: Apache-2.0
#include "security/policy_rules.hpp"

#include <algorithm>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "fmt/format.h"
#include "routing/topic.hpp"

namespace fnhost::detail {

namespace {

bool is_id_character(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

bool is_function_glob_character(char c) { return is_id_character(c) || c == '*' || c == '?'; }

bool is_principal_character(char c) {
  return is_id_character(c) || c == ':' || c == '@' || c == '/';
}

bool is_principal_glob_character(char c) {
  return is_principal_character(c) || c == '*' || c == '?';
}

// Bytes a topic pattern in a policy may not hold, although a topic may: the text form ends an
// item at a blank or ',' and a line at '\n' (or "\r\n"), and control characters have no place
// in a line of configuration.
bool breaks_policy_text(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte <= 0x20 || byte == 0x7f || c == ',';
}

// The first byte of `text` that `allowed` refuses, if any.
std::optional<size_t> first_refused(std::string_view text, bool (*allowed)(char)) {
  const auto it = std::find_if_not(text.begin(), text.end(), allowed);
  if (it == text.end()) return std::nullopt;
  return static_cast<size_t>(it - text.begin());
}

// Checks that `text` is 1..`max_bytes` bytes of `allowed` characters; `kind` names it in the
// messages ("an id") and `characters` lists what it may hold.
std::optional<PolicyProblem> token_problem(std::string_view text, std::string_view kind,
                                           size_t max_bytes, bool (*allowed)(char),
                                           std::string_view characters) {
  if (text.empty()) {
    return PolicyProblem{
        fmt::format("{} must not be empty; write 1 to {} of {}", kind, max_bytes, characters)};
  }
  if (text.size() > max_bytes) {
    return PolicyProblem{fmt::format("{} is {} bytes; it may be at most {} (of {})", kind,
                                     text.size(), max_bytes, characters)};
  }
  if (const std::optional<size_t> at = first_refused(text, allowed)) {
    return PolicyProblem{
        fmt::format("{} is not allowed in {}; use {}", describe_byte(text[*at]), kind, characters),
        *at};
  }
  return std::nullopt;
}

constexpr std::string_view kIdCharacters = "letters, digits, '_', '.' and '-'";
constexpr std::string_view kFunctionGlobCharacters = "letters, digits, '_', '.', '-', '*' and '?'";
constexpr std::string_view kPrincipalCharacters =
    "letters, digits, '_', '.', ':', '@', '/' and '-'";
constexpr std::string_view kPrincipalGlobCharacters =
    "letters, digits, '_', '.', ':', '@', '/', '-', '*' and '?'";

std::optional<PolicyProblem> function_glob_problem(std::string_view glob) {
  std::optional<PolicyProblem> problem = token_problem(
      glob, "a function glob", kMaxGlobBytes, is_function_glob_character, kFunctionGlobCharacters);
  if (problem) {
    if (glob.empty()) problem->what += " after 'function:' (function:* is every function)";
    if (problem->byte) *problem->byte += kFunctionPrefix.size();
  }
  return problem;
}

std::optional<PolicyProblem> topic_pattern_problem(std::string_view pattern) {
  if (pattern.empty()) {
    return PolicyProblem{
        "a topic pattern must follow 'topic:'; write e.g. topic:shop/# or topic:devices/+/temp"};
  }
  if (const std::optional<size_t> at =
          first_refused(pattern, [](char c) { return !breaks_policy_text(c); })) {
    return PolicyProblem{
        fmt::format("{} is not allowed in a policy's topic pattern (spaces, control characters "
                    "and ',' would break its text form); pick topics without them",
                    describe_byte(pattern[*at])),
        kTopicPrefix.size() + *at};
  }
  if (const absl::Status status = validate_topic_pattern(pattern); !status.ok()) {
    return PolicyProblem{std::string(status.message().data(), status.message().size()),
                         std::nullopt};
  }
  return std::nullopt;
}

}  // namespace

std::string describe_byte(char c) {
  if (c > 0x20 && c < 0x7f) return fmt::format("'{}'", c);
  if (c == ' ') return "' ' (a space)";
  return fmt::format("byte 0x{:02x}", static_cast<unsigned char>(c));
}

std::optional<PolicyProblem> statement_id_problem(std::string_view id) {
  return token_problem(id, "an id", kMaxStatementIdBytes, is_id_character, kIdCharacters);
}

std::optional<PolicyProblem> resource_problem(std::string_view resource) {
  if (resource == "*") return std::nullopt;
  if (resource.starts_with(kFunctionPrefix)) {
    return function_glob_problem(resource.substr(kFunctionPrefix.size()));
  }
  if (resource.starts_with(kTopicPrefix)) {
    return topic_pattern_problem(resource.substr(kTopicPrefix.size()));
  }
  return PolicyProblem{
      "a resource is '*', function:<glob> or topic:<pattern> (e.g. function:shop-*, "
      "topic:shop/#); prefixes are lowercase"};
}

std::optional<PolicyProblem> principal_glob_problem(std::string_view glob) {
  return token_problem(glob, "a principal glob", kMaxGlobBytes, is_principal_glob_character,
                       kPrincipalGlobCharacters);
}

std::optional<PolicyProblem> principal_name_problem(std::string_view name) {
  if (name == "host") {
    return PolicyProblem{
        "\"host\" is the host's own principal, which no policy restricts; choose another name"};
  }
  return token_problem(name, "a principal name", kMaxPrincipalNameBytes, is_principal_character,
                       kPrincipalCharacters);
}

std::optional<PolicyProblem> item_count_problem(size_t count, std::string_view items) {
  if (count == 0) {
    return PolicyProblem{fmt::format("a statement needs at least one of its {}", items)};
  }
  if (count > kMaxPolicyItems) {
    return PolicyProblem{
        fmt::format("{} {}, but a statement may list at most {}; split it into several statements",
                    count, items, kMaxPolicyItems)};
  }
  return std::nullopt;
}

ResourcePattern split_resource(std::string_view resource) {
  if (resource.starts_with(kFunctionPrefix)) {
    return {ResourcePatternKind::kFunction, resource.substr(kFunctionPrefix.size())};
  }
  if (resource.starts_with(kTopicPrefix)) {
    return {ResourcePatternKind::kTopic, resource.substr(kTopicPrefix.size())};
  }
  return {ResourcePatternKind::kEverything, resource};
}

bool is_principal_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxPrincipalNameBytes && name != "host" &&
         std::all_of(name.begin(), name.end(), is_principal_character);
}

// As src/host/function.cpp names functions: "." and ".." would name directories where a name
// becomes a path segment.
bool is_function_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxFunctionNameBytes && name != "." && name != ".." &&
         std::all_of(name.begin(), name.end(), is_id_character);
}

// validate_topic's rules (src/routing/topic.hpp), which allocate for their error message.
bool is_topic(std::string_view topic) {
  if (topic.empty() || topic.size() > kMaxTopicBytes) return false;
  size_t levels = 1;
  bool level_empty = true;
  for (const char c : topic) {
    if (c == '/') {
      if (level_empty || ++levels > kMaxTopicLevels) return false;
      level_empty = true;
      continue;
    }
    if (c == '+' || c == '#' || c == '\0') return false;
    level_empty = false;
  }
  return !level_empty;
}

bool is_action(Action action) {
  return action == Action::kInvoke || action == Action::kPublish || action == Action::kManage;
}

}  // namespace fnhost::detail

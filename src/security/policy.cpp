// SPDX-License-Identifier: Apache-2.0
// Policy: validation (shared with the text reader through security/policy_rules.hpp), the
// compiled form evaluate() walks, and glob matching. The compiled form keeps, per statement, an
// action bit set and each resource split into its kind and pattern, all viewing the statements'
// own strings, so that evaluate() only compares bytes and never allocates.
#include "fnhost/policy.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/quote.hpp"
#include "common/status_macros.hpp"
#include "fmt/format.h"
#include "routing/topic.hpp"
#include "security/policy_rules.hpp"
#include "security/policy_text.hpp"

namespace fnhost {

namespace {

using detail::PolicyProblem;
using detail::ResourcePattern;
using detail::ResourcePatternKind;

// One statement as evaluate() reads it.
struct CompiledStatement {
  std::string_view id;
  bool is_deny = false;
  uint8_t action_bits = 0;  // bit (1 << action) per action listed
  std::vector<ResourcePattern> resources;
  std::vector<std::string_view> principals;
};

// 0 for a value that is no Action (a cast integer), which then matches no statement.
uint8_t action_bit(Action action) {
  if (!detail::is_action(action)) return 0;
  return static_cast<uint8_t>(1u << static_cast<unsigned>(action));
}

// What evaluate() knows about one request, worked out once for all statements.
struct Request {
  std::string_view principal;
  bool principal_is_valid = false;
  uint8_t action_bit = 0;
  ResourceKind kind = ResourceKind::kFunction;
  std::string_view name;
  bool name_is_valid = false;  // a valid function name or topic, as `kind` says
};

bool is_valid_name(ResourceKind kind, std::string_view name) {
  switch (kind) {
    case ResourceKind::kFunction:
      return detail::is_function_name(name);
    case ResourceKind::kTopic:
      return detail::is_topic(name);
  }
  return false;
}

// Names that are not valid match only the "*" resource (everything), never a function glob or
// topic pattern, even "function:*" or "topic:#": those cover functions and topics, and an
// invalid name is neither.
bool resource_matches(const ResourcePattern& resource, const Request& request) {
  switch (resource.kind) {
    case ResourcePatternKind::kEverything:
      return true;
    case ResourcePatternKind::kFunction:
      return request.kind == ResourceKind::kFunction && request.name_is_valid &&
             glob_matches(resource.pattern, request.name);
    case ResourcePatternKind::kTopic:
      return request.kind == ResourceKind::kTopic && request.name_is_valid &&
             detail::topic_matches(resource.pattern, request.name);
  }
  return false;
}

// An invalid principal (a caller the host should never have made) matches only the glob "*".
bool principal_matches(std::string_view glob, const Request& request) {
  if (!request.principal_is_valid) return glob == "*";
  return glob_matches(glob, request.principal);
}

bool statement_matches(const CompiledStatement& statement, const Request& request) {
  if ((statement.action_bits & request.action_bit) == 0) return false;
  bool resource_matched = false;
  for (const ResourcePattern& resource : statement.resources) {
    if (resource_matches(resource, request)) {
      resource_matched = true;
      break;
    }
  }
  if (!resource_matched) return false;
  for (const std::string_view glob : statement.principals) {
    if (principal_matches(glob, request)) return true;
  }
  return false;
}

CompiledStatement compile(const PolicyStatement& statement) {
  CompiledStatement compiled;
  compiled.id = statement.id;
  compiled.is_deny = statement.effect == Effect::kDeny;
  for (const Action action : statement.actions) compiled.action_bits |= action_bit(action);
  compiled.resources.reserve(statement.resources.size());
  for (const std::string& resource : statement.resources) {
    compiled.resources.push_back(detail::split_resource(resource));
  }
  compiled.principals.assign(statement.principals.begin(), statement.principals.end());
  return compiled;
}

// Words create()'s errors: statement indexes count from 1 ("statement 3" is the third), item
// indexes from 0 as subscripts of the field ("resources[1]" is its second element).
class StatementChecker {
 public:
  StatementChecker(const PolicyStatement& statement, size_t index)
      : statement_(statement), index_(index) {}

  absl::Status error(std::string_view what) const {
    return absl::InvalidArgumentError(fmt::format("policy statement {} ({}): {}", index_ + 1,
                                                  detail::quote_for_message(statement_.id), what));
  }

  absl::Status check() const {
    if (const std::optional<PolicyProblem> problem = detail::statement_id_problem(statement_.id)) {
      return problem_error("id", *problem);
    }
    if (statement_.effect != Effect::kAllow && statement_.effect != Effect::kDeny) {
      return error(
          fmt::format("effect is not an Effect (value {}); use Effect::kAllow or "
                      "Effect::kDeny",
                      static_cast<int>(statement_.effect)));
    }
    FNHOST_RETURN_IF_ERROR(check_actions());
    FNHOST_RETURN_IF_ERROR(
        check_items("resources", statement_.resources, detail::resource_problem));
    return check_items("principals", statement_.principals, detail::principal_glob_problem);
  }

 private:
  absl::Status problem_error(std::string_view field, const PolicyProblem& problem) const {
    if (problem.byte)
      return error(fmt::format("{}, byte {}: {}", field, *problem.byte, problem.what));
    return error(fmt::format("{}: {}", field, problem.what));
  }

  absl::Status check_actions() const {
    const std::vector<Action>& actions = statement_.actions;
    if (const std::optional<PolicyProblem> problem =
            detail::item_count_problem(actions.size(), "actions")) {
      return problem_error("actions", *problem);
    }
    for (size_t i = 0; i < actions.size(); ++i) {
      if (!detail::is_action(actions[i])) {
        return error(
            fmt::format("actions[{}] is not an Action (value {}); use Action::kInvoke, "
                        "Action::kPublish or Action::kManage",
                        i, static_cast<int>(actions[i])));
      }
    }
    return absl::OkStatus();
  }

  absl::Status check_items(std::string_view field, const std::vector<std::string>& items,
                           std::optional<PolicyProblem> (*check_item)(std::string_view)) const {
    if (const std::optional<PolicyProblem> problem =
            detail::item_count_problem(items.size(), field)) {
      return problem_error(field, *problem);
    }
    for (size_t i = 0; i < items.size(); ++i) {
      if (const std::optional<PolicyProblem> problem = check_item(items[i])) {
        return problem_error(
            fmt::format("{}[{}] {}", field, i, detail::quote_for_message(items[i])), *problem);
      }
    }
    return absl::OkStatus();
  }

  const PolicyStatement& statement_;
  size_t index_;
};

absl::Status check_statements(const std::vector<PolicyStatement>& statements) {
  std::unordered_map<std::string_view, size_t> index_of_id;
  size_t text_size = 0;
  for (size_t i = 0; i < statements.size(); ++i) {
    const StatementChecker checker(statements[i], i);
    if (i == detail::kMaxPolicyStatements) {
      return checker.error(fmt::format(
          "a policy holds at most {} statements, got {}; merge statements (one may list up to {} "
          "actions, resources and principals)",
          detail::kMaxPolicyStatements, statements.size(), detail::kMaxPolicyItems));
    }
    FNHOST_RETURN_IF_ERROR(checker.check());
    if (const auto [it, inserted] = index_of_id.try_emplace(statements[i].id, i); !inserted) {
      return checker.error(
          fmt::format("id is already the id of statement {}; ids must be unique "
                      "within a policy",
                      it->second + 1));
    }
    // Every valid policy must survive parse(to_string()), whose text is limited.
    text_size += detail::policy_statement_text_size(statements[i]);
    if (text_size > detail::kMaxPolicyTextBytes) {
      return checker.error(fmt::format(
          "with this statement the policy's text form (to_string()) would be {} bytes, over the "
          "limit of {} that parse() reads; shorten or merge statements",
          text_size, detail::kMaxPolicyTextBytes));
    }
  }
  return absl::OkStatus();
}

}  // namespace

// The statements as given, and the compiled form that views their strings: built in place by
// make_shared and never copied or moved afterwards, so the views stay valid.
struct Policy::Compiled {
  explicit Compiled(std::vector<PolicyStatement> given) : statements(std::move(given)) {
    rules.reserve(statements.size());
    for (const PolicyStatement& statement : statements) rules.push_back(compile(statement));
  }
  Compiled(const Compiled&) = delete;
  Compiled& operator=(const Compiled&) = delete;

  const std::vector<PolicyStatement> statements;
  std::vector<CompiledStatement> rules;
};

std::string_view action_name(Action action) {
  switch (action) {
    case Action::kInvoke:
      return "invoke";
    case Action::kPublish:
      return "publish";
    case Action::kManage:
      return "manage";
  }
  return "unknown";
}

Policy::Policy() = default;

Policy::Policy(std::shared_ptr<const Compiled> compiled) : compiled_(std::move(compiled)) {}

absl::StatusOr<Policy> Policy::create(std::vector<PolicyStatement> statements) {
  FNHOST_RETURN_IF_ERROR(check_statements(statements));
  return Policy(std::make_shared<const Compiled>(std::move(statements)));
}

absl::StatusOr<Policy> Policy::parse(std::string_view text) {
  absl::StatusOr<std::vector<PolicyStatement>> statements = detail::read_policy_text(text);
  if (!statements.ok()) return statements.status();
  // The reader has already applied create()'s rules, with line and byte in its errors; create()
  // checks again so that the two ways in can never accept different policies.
  return create(*std::move(statements));
}

AccessDecision Policy::evaluate(std::string_view principal, Action action, ResourceKind kind,
                                std::string_view name) const {
  if (compiled_ == nullptr) return {};
  const Request request{.principal = principal,
                        .principal_is_valid = detail::is_principal_name(principal),
                        .action_bit = action_bit(action),
                        .kind = kind,
                        .name = name,
                        .name_is_valid = is_valid_name(kind, name)};
  // IAM's order: a matching deny anywhere wins over any allow, so the scan only stops early on
  // a deny; the first matching allow is remembered meanwhile.
  const CompiledStatement* first_allow = nullptr;
  for (const CompiledStatement& statement : compiled_->rules) {
    if (!statement.is_deny && first_allow != nullptr) continue;
    if (!statement_matches(statement, request)) continue;
    if (statement.is_deny) {
      return {.allowed = false, .statement = statement.id, .explicit_deny = true};
    }
    first_allow = &statement;
  }
  if (first_allow == nullptr) return {};
  return {.allowed = true, .statement = first_allow->id, .explicit_deny = false};
}

const std::vector<PolicyStatement>& Policy::statements() const {
  static const std::vector<PolicyStatement> kNoStatements;
  return compiled_ == nullptr ? kNoStatements : compiled_->statements;
}

std::string Policy::to_string() const {
  std::string text;
  for (const PolicyStatement& statement : statements()) {
    detail::write_policy_statement(statement, text);
  }
  return text;
}

absl::Status validate_principal_name(std::string_view name) {
  const std::optional<PolicyProblem> problem = detail::principal_name_problem(name);
  if (!problem) return absl::OkStatus();
  const std::string quoted = detail::quote_for_message(name);
  if (problem->byte) {
    return absl::InvalidArgumentError(
        fmt::format("principal {}, byte {}: {}", quoted, *problem->byte, problem->what));
  }
  return absl::InvalidArgumentError(fmt::format("principal {}: {}", quoted, problem->what));
}

// Two pointers over pattern and text. On a mismatch after a '*', the '*' takes one more byte of
// text and matching resumes just after it; only the latest '*' needs revisiting, since any
// earlier one could only absorb text that the latest can absorb as well. Each restart advances
// the text position the '*' took, so the work is at most pattern × text steps.
bool glob_matches(std::string_view pattern, std::string_view text) {
  constexpr size_t kNoStar = std::string_view::npos;
  size_t p = 0;
  size_t t = 0;
  size_t star = kNoStar;  // the latest '*' seen in the pattern
  size_t star_text = 0;   // where in the text that '*' currently ends
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_text = t;
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (star != kNoStar) {
      p = star + 1;
      t = ++star_text;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace fnhost

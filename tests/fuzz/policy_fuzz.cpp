// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for access policies (src/security/policy*.cpp). Any bytes given to
// Policy::parse either fail with InvalidArgument "policy line L, byte B: ..." (L and B inside the
// text, the message bounded) or give a policy that
//   - prints to canonical text within the text limit that parses back to an equal policy, which
//     prints the same text again;
//   - create(statements()) accepts and compiles into an equal policy;
//   - decides every request as a plain reference evaluator does (IAM order, over the statements
//     as written, with its own glob matcher and the topic validator), for the same decisions in
//     the parsed, re-parsed and re-created copies, without allocating. Requests are a fixed set
//     plus one taken from the last line: "[#] <principal> <name>".
// Then the input's two halves, as pattern and text, go through glob_matches and two reference
// matchers: a dynamic-programming table (up to 256 bytes each) and a memoized recursive one (up
// to 16 bytes each).
#include <sanitizer/allocator_interface.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fnhost/policy.hpp"
#include "routing/topic.hpp"

namespace {

using fnhost::AccessDecision;
using fnhost::Action;
using fnhost::Effect;
using fnhost::Policy;
using fnhost::PolicyStatement;
using fnhost::ResourceKind;

void check(bool condition) {
  if (!condition) std::abort();
}

// Allocations seen by the sanitizer's hook; libFuzzer runs the input on one thread.
size_t allocations = 0;
void count_allocation(const volatile void*, size_t) { ++allocations; }
void ignore_free(const volatile void*) {}

// ---- Reference glob matchers ---------------------------------------------------------------

// match[i][j]: pattern[i..] matches text[j..]; filled from the ends.
bool table_glob(std::string_view pattern, std::string_view text) {
  const size_t columns = text.size() + 1;
  std::vector<char> match((pattern.size() + 1) * columns, 0);
  const auto at = [&](size_t i, size_t j) -> char& { return match[i * columns + j]; };
  at(pattern.size(), text.size()) = 1;
  for (size_t i = pattern.size(); i-- > 0;) {
    for (size_t j = text.size() + 1; j-- > 0;) {
      if (pattern[i] == '*') {
        at(i, j) = static_cast<char>(at(i + 1, j) || (j < text.size() && at(i, j + 1)));
      } else {
        at(i, j) = static_cast<char>(
            j < text.size() && (pattern[i] == '?' || pattern[i] == text[j]) && at(i + 1, j + 1));
      }
    }
  }
  return at(0, 0) != 0;
}

// The definition written as recursion; remembering answers keeps it polynomial.
class RecursiveGlob {
 public:
  static constexpr size_t kMaxBytes = 16;

  RecursiveGlob(std::string_view pattern, std::string_view text) : pattern_(pattern), text_(text) {}

  bool matches(size_t p = 0, size_t t = 0) {
    std::optional<bool>& known = memo_[p][t];
    if (known) return *known;
    bool result;
    if (p == pattern_.size()) {
      result = t == text_.size();
    } else if (pattern_[p] == '*') {
      result = matches(p + 1, t) || (t < text_.size() && matches(p, t + 1));
    } else {
      result = t < text_.size() && (pattern_[p] == '?' || pattern_[p] == text_[t]) &&
               matches(p + 1, t + 1);
    }
    known = result;
    return result;
  }

 private:
  std::string_view pattern_;
  std::string_view text_;
  std::array<std::array<std::optional<bool>, kMaxBytes + 1>, kMaxBytes + 1> memo_{};
};

void check_glob(std::string_view pattern, std::string_view text) {
  const bool got = fnhost::glob_matches(pattern, text);
  if (pattern.size() <= 256 && text.size() <= 256) check(got == table_glob(pattern, text));
  if (pattern.size() <= RecursiveGlob::kMaxBytes && text.size() <= RecursiveGlob::kMaxBytes) {
    check(got == RecursiveGlob(pattern, text).matches());
  }
}

// ---- Reference evaluator -------------------------------------------------------------------

bool is_function_name(std::string_view name) {
  if (name.empty() || name.size() > 128 || name == "." || name == "..") return false;
  for (const char c : name) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    if (!allowed) return false;
  }
  return true;
}

struct Request {
  std::string_view principal;
  Action action;
  ResourceKind kind;
  std::string_view name;
};

bool reference_resource_matches(std::string_view resource, const Request& request) {
  if (resource == "*") return true;
  if (resource.starts_with("function:")) {
    return request.kind == ResourceKind::kFunction && is_function_name(request.name) &&
           table_glob(resource.substr(9), request.name);
  }
  check(resource.starts_with("topic:"));
  return request.kind == ResourceKind::kTopic &&
         fnhost::detail::validate_topic(request.name).ok() &&
         fnhost::detail::topic_matches(resource.substr(6), request.name);
}

bool reference_statement_matches(const PolicyStatement& statement, const Request& request) {
  bool action = false;
  for (const Action listed : statement.actions) action = action || listed == request.action;
  bool resource = false;
  for (const std::string& listed : statement.resources) {
    resource = resource || reference_resource_matches(listed, request);
  }
  const bool valid_principal = fnhost::validate_principal_name(request.principal).ok();
  bool principal = false;
  for (const std::string& glob : statement.principals) {
    principal = principal || (valid_principal ? table_glob(glob, request.principal) : glob == "*");
  }
  return action && resource && principal;
}

AccessDecision reference_evaluate(const std::vector<PolicyStatement>& statements,
                                  const Request& request) {
  const PolicyStatement* first_allow = nullptr;
  for (const PolicyStatement& statement : statements) {
    if (!reference_statement_matches(statement, request)) continue;
    if (statement.effect == Effect::kDeny) {
      return {.allowed = false, .statement = statement.id, .explicit_deny = true};
    }
    if (first_allow == nullptr) first_allow = &statement;
  }
  if (first_allow == nullptr) return {};
  return {.allowed = true, .statement = first_allow->id, .explicit_deny = false};
}

bool same(const AccessDecision& a, const AccessDecision& b) {
  return a.allowed == b.allowed && a.statement == b.statement && a.explicit_deny == b.explicit_deny;
}

AccessDecision evaluate_without_allocating(const Policy& policy, const Request& request) {
  const size_t before = allocations;
  const AccessDecision decision =
      policy.evaluate(request.principal, request.action, request.kind, request.name);
  check(allocations == before);
  return decision;
}

std::vector<Request> requests_for(std::string_view tail) {
  static constexpr std::string_view kPrincipals[] = {"tenant-7", "a", "admin-1", "host", "", "a b"};
  static constexpr std::string_view kFunctions[] = {"shop-cart", "a", "billing-x", "..", "a b"};
  static constexpr std::string_view kTopics[] = {"shop/orders", "a", "a/b/c", "a//b", "a/+"};
  std::vector<Request> requests;
  for (const std::string_view principal : kPrincipals) {
    for (const Action action : {Action::kInvoke, Action::kPublish, Action::kManage}) {
      for (const std::string_view name : kFunctions) {
        requests.push_back({principal, action, ResourceKind::kFunction, name});
      }
      for (const std::string_view name : kTopics) {
        requests.push_back({principal, action, ResourceKind::kTopic, name});
      }
    }
  }
  // "[#] <principal> <name>" on the last line.
  while (!tail.empty() && (tail.front() == '#' || tail.front() == ' ')) tail.remove_prefix(1);
  const size_t space = tail.find(' ');
  const std::string_view principal = tail.substr(0, space);
  const std::string_view name = space == std::string_view::npos ? "" : tail.substr(space + 1);
  for (const Action action : {Action::kInvoke, Action::kPublish, Action::kManage}) {
    requests.push_back({principal, action, ResourceKind::kFunction, name});
    requests.push_back({principal, action, ResourceKind::kTopic, name});
  }
  return requests;
}

// ---- Errors --------------------------------------------------------------------------------

// Reads a decimal number at the front of `text`, removing it.
std::optional<size_t> take_number(std::string_view& text) {
  size_t value = 0;
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9' && digits < 9) {
    value = value * 10 + static_cast<size_t>(text[digits] - '0');
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  text.remove_prefix(digits);
  return value;
}

// "policy line L, byte B: ..." with line L of `text` (from 1) and B at most its length.
void check_parse_error(const absl::Status& status, std::string_view text) {
  check(status.code() == absl::StatusCode::kInvalidArgument);
  std::string_view message(status.message().data(), status.message().size());
  // Two quoted items at most (64 bytes each, escaped as up to 6 characters) and the wording.
  check(message.size() <= 2 * (64 * 6 + 32) + 400);
  check(message.starts_with("policy line "));
  message.remove_prefix(12);
  const std::optional<size_t> line = take_number(message);
  check(line.has_value() && message.starts_with(", byte "));
  message.remove_prefix(7);
  const std::optional<size_t> byte = take_number(message);
  check(byte.has_value() && message.starts_with(": "));
  std::string_view rest = text;
  for (size_t i = 1; i < *line; ++i) {
    const size_t newline = rest.find('\n');
    check(newline != std::string_view::npos);
    rest.remove_prefix(newline + 1);
  }
  check(*byte <= rest.substr(0, rest.find('\n')).size());
}

void check_policy(const Policy& policy, std::string_view tail) {
  const std::string canonical = policy.to_string();
  check(canonical.size() <= 65536);
  const absl::StatusOr<Policy> again = Policy::parse(canonical);
  check(again.ok() && *again == policy && again->to_string() == canonical);
  const absl::StatusOr<Policy> created = Policy::create(policy.statements());
  check(created.ok() && *created == policy);

  for (const Request& request : requests_for(tail)) {
    const AccessDecision decision = evaluate_without_allocating(policy, request);
    check(same(decision, reference_evaluate(policy.statements(), request)));
    check(same(decision, evaluate_without_allocating(*again, request)));
    check(same(decision, evaluate_without_allocating(*created, request)));
    check(!decision.explicit_deny || !decision.allowed);
    check(decision.statement.empty() == (!decision.allowed && !decision.explicit_deny));
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  __sanitizer_install_malloc_and_free_hooks(count_allocation, ignore_free);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<Policy> policy = Policy::parse(input);
  if (policy.ok()) {
    const size_t last_newline = input.rfind('\n');
    check_policy(*policy,
                 last_newline == std::string_view::npos ? input : input.substr(last_newline + 1));
  } else {
    check_parse_error(policy.status(), input);
  }
  check_glob(input.substr(0, size / 2), input.substr(size / 2));
  return 0;
}

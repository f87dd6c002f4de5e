// SPDX-License-Identifier: Apache-2.0
// File: fnhost/policy.hpp
// Access policies: who (a principal) may do what (an action) to which functions and topics (a
// resource). A Policy is a list of allow and deny statements, evaluated in IAM's order: an
// explicit deny that matches wins; otherwise an allow that matches allows; otherwise the call is
// denied (implicitly). Install one with Host::set_policy(); calls made through a Caller
// (Host::caller) and by handlers (Context) are then checked against it.
//
//   absl::StatusOr<fnhost::Policy> policy = fnhost::Policy::parse(R"(
//     # tenants call their own functions and publish under their own topics
//     tenant-calls:   allow invoke on function:shop-* for tenant-*
//     tenant-events:  allow publish on topic:shop/# for tenant-*
//     no-billing:     deny * on function:billing-* for tenant-*
//   )");
//   host.set_policy(*policy);
//
// Text form (what parse() reads and to_string() writes), one statement per line:
//   statement := id ':' effect actions 'on' resources 'for' principals
//   effect    := 'allow' | 'deny'
//   actions   := action {',' action}         action := 'invoke' | 'publish' | 'manage' | '*'
//   resources := resource {',' resource}     resource := '*' | 'function:' glob | 'topic:' pattern
//   principals:= principal_glob {',' principal_glob}
// Spaces and tabs may appear between tokens (around ',' and ':' too); a '#' starts a comment
// that runs to the end of the line (outside a resource or principal token, where '#' is a
// topic wildcard: a comment's '#' follows a space or tab, or starts the line); blank lines are
// skipped. Keywords are lowercase.
//   id             1..64 of [A-Za-z0-9_.-]; unique within a policy
//   function glob  1..128 of [A-Za-z0-9_.-*?]: '*' matches any run of characters (none
//                  included), '?' exactly one; "function:*" is every function
//   topic pattern  an MQTT-style topic pattern, as a trigger's (levels split by '/', '+' one
//                  level, a last '#' the rest: "topic:shop/#", "topic:devices/+/temp"),
//                  without blanks, control bytes or ',' (the text form could not hold them)
//   principal glob 1..128 of the principal characters below, plus '*' and '?' as above
// A principal's name is 1..128 of [A-Za-z0-9_.:@/-] and is never "host" (the host's own
// principal, which no policy restricts). Limits, so hostile text cannot exhaust memory: at most
// 65,536 bytes of text (parse's input, and the canonical text of a policy from create(), so
// that parse(to_string()) always round-trips), 1,000 statements, and 64 actions, resources or
// principals in one. A '*' action is kept as the three actions. CRLF line ends are accepted.
// Every error names the line and the byte within it, and quotes at most 64 bytes of the text.
//
// Resources by action:
//   invoke   function:<name>   Host::invoke / invoke_async (through a Caller), Context::invoke
//                              and invoke_async
//   publish  topic:<topic>     publish (through a Caller), Context::publish. The triggers the
//                              event then reaches need no invoke permission (a subscription is
//                              the function owner's consent, as with SNS)
//   manage   function:<name>   register_function, update_function, remove_function, subscribe,
//                              unsubscribe, schedule, set_unrouted_function (the function the
//                              trigger, schedule or catch-all delivers to), redrive and
//                              delete_dead_letter (the letter's function)
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fnhost {

// What a call does (see the table at the top of this file).
enum class Action : uint8_t { kInvoke, kPublish, kManage };
// "invoke", "publish", "manage".
[[nodiscard]] std::string_view action_name(Action action);

enum class Effect : uint8_t { kAllow, kDeny };

// The kind of thing a call acts on.
enum class ResourceKind : uint8_t { kFunction, kTopic };

// One statement. Field order is API: fields are only ever appended.
struct PolicyStatement {
  // Names the statement in PermissionDenied messages and metrics: 1..64 of [A-Za-z0-9_.-],
  // unique within the policy.
  std::string id;
  Effect effect = Effect::kAllow;
  // Which actions it covers; at least one, at most 64 (duplicates are allowed).
  std::vector<Action> actions;
  // Which resources: "*" (everything), "function:<glob>" or "topic:<pattern>" (as in the text
  // form above). At least one, at most 64.
  std::vector<std::string> resources;
  // Which principals: globs over principal names ("tenant-*", "*"). At least one, at most 64.
  std::vector<std::string> principals;

  friend bool operator==(const PolicyStatement&, const PolicyStatement&) = default;
};

// How a policy decided one request. `statement` points into the Policy that decided (valid
// while a copy of it lives).
struct AccessDecision {
  bool allowed = false;
  // The id of the statement that decided: the first deny that matched (in statement order),
  // else the first allow that matched; empty when nothing matched (implicit deny).
  std::string_view statement;
  // True when a deny statement decided.
  bool explicit_deny = false;
};

// A validated, immutable list of statements. A value type: copies share one compiled form, so
// copying is cheap and any number of threads may evaluate one at once. The default Policy has
// no statements and so denies everything.
class Policy {
 public:
  Policy();
  // Checks every statement (InvalidArgument names the statement — "policy statement 3" is the
  // third — and its id, the field with a 0-based index, "resources[1]", and what is wrong) and
  // compiles the patterns.
  [[nodiscard]] static absl::StatusOr<Policy> create(std::vector<PolicyStatement> statements);
  // Reads the text form (top of this file). InvalidArgument names the line (1-based), the
  // byte within it (0-based) and what was expected.
  [[nodiscard]] static absl::StatusOr<Policy> parse(std::string_view text);

  // Whether `principal` may do `action` to the resource of `kind` named `name` (a function name,
  // or a topic). Names that are not valid principals, functions or topics match no statement's
  // pattern except "*" patterns that the rules above say match them. Thread-safe; does not
  // allocate; linear in the statements.
  [[nodiscard]] AccessDecision evaluate(std::string_view principal, Action action,
                                        ResourceKind kind, std::string_view name) const;

  // The statements, as given (create) or read (parse).
  [[nodiscard]] const std::vector<PolicyStatement>& statements() const;
  // The text form, one statement per line in order, actions, resources and principals as given:
  // parse(to_string()) yields an equal policy.
  [[nodiscard]] std::string to_string() const;

  friend bool operator==(const Policy& a, const Policy& b) {
    return a.statements() == b.statements();
  }

 private:
  struct Compiled;
  explicit Policy(std::shared_ptr<const Compiled> compiled);
  std::shared_ptr<const Compiled> compiled_;
};

// Whether `name` is a valid principal name (1..128 of [A-Za-z0-9_.:@/-], not "host").
[[nodiscard]] absl::Status validate_principal_name(std::string_view name);

// Glob matching as policies use it: '*' any run of characters (none included), '?' exactly one
// character, every other character itself. No recursion; at worst pattern × text steps, so a
// hostile pattern cannot blow up (both are at most 128 bytes where policies use it).
[[nodiscard]] bool glob_matches(std::string_view pattern, std::string_view text);

}  // namespace fnhost

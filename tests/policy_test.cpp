// SPDX-License-Identifier: Apache-2.0
// Tests for Policy (fnhost/policy.hpp): IAM evaluation order, each action and resource kind,
// globs and topic patterns, names that are not valid, the text form (comments, errors with
// line and byte, limits, round trips), create()'s checks, principal names, and evaluation of one
// shared policy from several threads.
#include "fnhost/policy.hpp"

#include <catch2/catch.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fmt/format.h"

namespace {

using fnhost::AccessDecision;
using fnhost::Action;
using fnhost::Effect;
using fnhost::glob_matches;
using fnhost::Policy;
using fnhost::PolicyStatement;
using fnhost::ResourceKind;

std::string message_of(const absl::Status& status) {
  return std::string(status.message().data(), status.message().size());
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

Policy parsed(std::string_view text) {
  absl::StatusOr<Policy> policy = Policy::parse(text);
  INFO("text: " << text);
  INFO("status: " << policy.status().ToString());
  REQUIRE(policy.ok());
  return *std::move(policy);
}

Policy created(std::vector<PolicyStatement> statements) {
  absl::StatusOr<Policy> policy = Policy::create(std::move(statements));
  INFO("status: " << policy.status().ToString());
  REQUIRE(policy.ok());
  return *std::move(policy);
}

// The message of parse(text)'s error, which must be InvalidArgument.
std::string parse_error(std::string_view text) {
  const absl::StatusOr<Policy> policy = Policy::parse(text);
  INFO("text: " << text);
  REQUIRE_FALSE(policy.ok());
  CHECK(policy.status().code() == absl::StatusCode::kInvalidArgument);
  return message_of(policy.status());
}

std::string create_error(std::vector<PolicyStatement> statements) {
  const absl::StatusOr<Policy> policy = Policy::create(std::move(statements));
  REQUIRE_FALSE(policy.ok());
  CHECK(policy.status().code() == absl::StatusCode::kInvalidArgument);
  return message_of(policy.status());
}

PolicyStatement statement(std::string id, Effect effect, std::vector<Action> actions,
                          std::vector<std::string> resources, std::vector<std::string> principals) {
  return PolicyStatement{.id = std::move(id),
                         .effect = effect,
                         .actions = std::move(actions),
                         .resources = std::move(resources),
                         .principals = std::move(principals)};
}

PolicyStatement allow_all(std::string id) {
  return statement(std::move(id), Effect::kAllow, {Action::kInvoke}, {"*"}, {"*"});
}

bool allows(const Policy& policy, std::string_view principal, Action action, ResourceKind kind,
            std::string_view name) {
  return policy.evaluate(principal, action, kind, name).allowed;
}

bool invoke_allowed(const Policy& policy, std::string_view principal, std::string_view function) {
  return allows(policy, principal, Action::kInvoke, ResourceKind::kFunction, function);
}

bool publish_allowed(const Policy& policy, std::string_view principal, std::string_view topic) {
  return allows(policy, principal, Action::kPublish, ResourceKind::kTopic, topic);
}

constexpr std::string_view kHeaderExample = R"(
    # tenants call their own functions and publish under their own topics
    tenant-calls:   allow invoke on function:shop-* for tenant-*
    tenant-events:  allow publish on topic:shop/# for tenant-*
    no-billing:     deny * on function:billing-* for tenant-*
  )";

}  // namespace

TEST_CASE("The header's example policy parses and decides as its comments say", "[policy]") {
  const Policy policy = parsed(kHeaderExample);
  REQUIRE(policy.statements().size() == 3);

  const AccessDecision call =
      policy.evaluate("tenant-7", Action::kInvoke, ResourceKind::kFunction, "shop-cart");
  CHECK(call.allowed);
  CHECK(call.statement == "tenant-calls");
  CHECK_FALSE(call.explicit_deny);

  const AccessDecision event =
      policy.evaluate("tenant-7", Action::kPublish, ResourceKind::kTopic, "shop/orders/new");
  CHECK(event.allowed);
  CHECK(event.statement == "tenant-events");

  const AccessDecision billing =
      policy.evaluate("tenant-7", Action::kInvoke, ResourceKind::kFunction, "billing-run");
  CHECK_FALSE(billing.allowed);
  CHECK(billing.explicit_deny);
  CHECK(billing.statement == "no-billing");

  // Other tenants' resources, other principals and other actions are denied implicitly.
  for (const AccessDecision& decision :
       {policy.evaluate("guest", Action::kInvoke, ResourceKind::kFunction, "shop-cart"),
        policy.evaluate("tenant-7", Action::kManage, ResourceKind::kFunction, "shop-cart"),
        policy.evaluate("tenant-7", Action::kPublish, ResourceKind::kTopic, "billing/x"),
        policy.evaluate("tenant-7", Action::kInvoke, ResourceKind::kFunction, "admin")}) {
    CHECK_FALSE(decision.allowed);
    CHECK_FALSE(decision.explicit_deny);
    CHECK(decision.statement.empty());
  }
}

TEST_CASE("A matching deny wins over a matching allow, whichever comes first", "[policy]") {
  const PolicyStatement allow =
      statement("allow-shop", Effect::kAllow, {Action::kInvoke}, {"function:shop-*"}, {"*"});
  const PolicyStatement deny =
      statement("deny-cart", Effect::kDeny, {Action::kInvoke}, {"function:shop-cart"}, {"*"});
  for (const Policy& policy : {created({allow, deny}), created({deny, allow})}) {
    const AccessDecision decision =
        policy.evaluate("alice", Action::kInvoke, ResourceKind::kFunction, "shop-cart");
    CHECK_FALSE(decision.allowed);
    CHECK(decision.explicit_deny);
    CHECK(decision.statement == "deny-cart");
    CHECK(invoke_allowed(policy, "alice", "shop-list"));
  }
}

TEST_CASE("The first matching deny in statement order is the one reported", "[policy]") {
  const Policy policy = parsed(
      "a: allow invoke on * for *\n"
      "first-deny: deny invoke on function:x* for *\n"
      "second-deny: deny invoke on * for *\n");
  const AccessDecision decision =
      policy.evaluate("p", Action::kInvoke, ResourceKind::kFunction, "xy");
  CHECK(decision.statement == "first-deny");
  CHECK(policy.evaluate("p", Action::kInvoke, ResourceKind::kFunction, "y").statement ==
        "second-deny");
}

TEST_CASE("The first matching allow in statement order is the one reported", "[policy]") {
  const Policy policy = parsed(
      "narrow: allow invoke on function:shop-cart for alice\n"
      "broad: allow invoke on function:* for *\n"
      "broader: allow invoke,publish on * for *\n");
  CHECK(policy.evaluate("alice", Action::kInvoke, ResourceKind::kFunction, "shop-cart").statement ==
        "narrow");
  CHECK(policy.evaluate("bob", Action::kInvoke, ResourceKind::kFunction, "shop-cart").statement ==
        "broad");
  CHECK(policy.evaluate("bob", Action::kPublish, ResourceKind::kTopic, "t").statement == "broader");
}

TEST_CASE("With no matching statement the request is denied implicitly", "[policy]") {
  SECTION("a default Policy has no statements and denies everything") {
    const Policy policy;
    CHECK(policy.statements().empty());
    CHECK(policy.to_string().empty());
    const AccessDecision decision =
        policy.evaluate("alice", Action::kInvoke, ResourceKind::kFunction, "f");
    CHECK_FALSE(decision.allowed);
    CHECK_FALSE(decision.explicit_deny);
    CHECK(decision.statement.empty());
    CHECK(policy == parsed(""));
    CHECK(policy == created({}));
  }
  SECTION("an empty or comment-only text gives the same policy") {
    const Policy policy = parsed("# nothing here\n\n   \t\n");
    CHECK(policy.statements().empty());
    CHECK_FALSE(invoke_allowed(policy, "alice", "f"));
  }
  SECTION("statements that do not match leave the request denied") {
    const Policy policy = parsed("a: allow invoke on function:f for bob");
    const AccessDecision decision =
        policy.evaluate("alice", Action::kInvoke, ResourceKind::kFunction, "f");
    CHECK_FALSE(decision.allowed);
    CHECK_FALSE(decision.explicit_deny);
    CHECK(decision.statement.empty());
  }
}

TEST_CASE("Each action is matched on its own and '*' covers all three", "[policy]") {
  const Policy policy = parsed(
      "calls: allow invoke on function:f for caller\n"
      "events: allow publish on topic:t for publisher\n"
      "admin: allow manage on function:f for admin\n"
      "all: allow * on * for root\n");
  CHECK(invoke_allowed(policy, "caller", "f"));
  CHECK_FALSE(allows(policy, "caller", Action::kManage, ResourceKind::kFunction, "f"));
  CHECK(publish_allowed(policy, "publisher", "t"));
  CHECK_FALSE(allows(policy, "publisher", Action::kInvoke, ResourceKind::kFunction, "f"));
  CHECK(allows(policy, "admin", Action::kManage, ResourceKind::kFunction, "f"));
  CHECK_FALSE(invoke_allowed(policy, "admin", "f"));
  for (const Action action : {Action::kInvoke, Action::kPublish, Action::kManage}) {
    CHECK(allows(policy, "root", action, ResourceKind::kFunction, "f"));
    CHECK(allows(policy, "root", action, ResourceKind::kTopic, "t"));
  }
  // '*' is stored as the three actions.
  CHECK(policy.statements()[3].actions ==
        std::vector<Action>{Action::kInvoke, Action::kPublish, Action::kManage});
  // A value that is no Action matches nothing.
  CHECK_FALSE(allows(policy, "root", static_cast<Action>(7), ResourceKind::kFunction, "f"));
}

TEST_CASE("Function globs match only functions, topic patterns only topics, '*' both", "[policy]") {
  const Policy policy = parsed(
      "functions: allow invoke,publish on function:* for fn-user\n"
      "topics: allow invoke,publish on topic:# for topic-user\n"
      "everything: allow invoke,publish on * for any-user\n");
  CHECK(invoke_allowed(policy, "fn-user", "shop"));
  CHECK_FALSE(publish_allowed(policy, "fn-user", "shop"));
  CHECK(publish_allowed(policy, "topic-user", "shop"));
  CHECK_FALSE(invoke_allowed(policy, "topic-user", "shop"));
  CHECK(invoke_allowed(policy, "any-user", "shop"));
  CHECK(publish_allowed(policy, "any-user", "shop/a/b"));
}

TEST_CASE("Topic patterns match by level with '+' and a final '#'", "[policy]") {
  const Policy policy = parsed(
      "temps: allow publish on topic:devices/+/temp for *\n"
      "shop: allow publish on topic:shop/# for *\n"
      "exact: allow publish on topic:a/b for *\n");
  CHECK(publish_allowed(policy, "p", "devices/42/temp"));
  CHECK_FALSE(publish_allowed(policy, "p", "devices/42/humidity"));
  CHECK_FALSE(publish_allowed(policy, "p", "devices/42/x/temp"));
  CHECK(publish_allowed(policy, "p", "shop"));  // '#' matches zero levels too
  CHECK(publish_allowed(policy, "p", "shop/orders/new"));
  CHECK_FALSE(publish_allowed(policy, "p", "shopping"));
  CHECK(publish_allowed(policy, "p", "a/b"));
  CHECK_FALSE(publish_allowed(policy, "p", "a/b/c"));
  CHECK_FALSE(publish_allowed(policy, "p", "a"));
}

TEST_CASE("A name that is not a valid topic matches no topic pattern, only '*'", "[policy]") {
  const Policy patterns = parsed("any-topic: allow publish on topic:#,topic:+,topic:a/+ for *");
  const Policy star = parsed("everything: allow publish on * for *");
  const std::string too_many_levels = [] {
    std::string topic = "a";
    for (int i = 0; i < 64; ++i) topic += "/a";
    return topic;
  }();
  const std::string too_long(1025, 'x');
  for (const std::string_view topic :
       {std::string_view(""), std::string_view("a//b"), std::string_view("a/+"),
        std::string_view("a/#"), std::string_view("/a"), std::string_view("a/"),
        std::string_view("a\0b", 3), std::string_view(too_many_levels),
        std::string_view(too_long)}) {
    INFO("topic: " << topic);
    CHECK_FALSE(publish_allowed(patterns, "p", topic));
    CHECK(publish_allowed(star, "p", topic));
  }
  CHECK(publish_allowed(patterns, "p", "a/x"));
  CHECK(publish_allowed(patterns, "p", std::string(1024, 'x')));
}

TEST_CASE("A name that is not a valid function matches no function glob, only '*'", "[policy]") {
  const Policy globs = parsed("functions: allow invoke on function:*,function:?? for *");
  const Policy star = parsed("everything: allow invoke on * for *");
  const std::string too_long(129, 'f');
  for (const std::string_view name :
       {std::string_view(""), std::string_view("a b"), std::string_view(".."),
        std::string_view("a/b"), std::string_view(too_long)}) {
    INFO("name: " << name);
    CHECK_FALSE(invoke_allowed(globs, "p", name));
    CHECK(invoke_allowed(star, "p", name));
  }
  CHECK(invoke_allowed(globs, "p", std::string(128, 'f')));
}

TEST_CASE("A principal that is not a valid name matches only the principal glob '*'", "[policy]") {
  const Policy globs = parsed("globs: allow invoke on * for ?*,*?,h*");
  const Policy star = parsed("everything: allow invoke on * for *");
  const std::string too_long(129, 'p');
  for (const std::string_view principal :
       {std::string_view(""), std::string_view("host"), std::string_view("a b"),
        std::string_view("tenant#1"), std::string_view(too_long)}) {
    INFO("principal: " << principal);
    CHECK_FALSE(invoke_allowed(globs, principal, "f"));
    CHECK(invoke_allowed(star, principal, "f"));
  }
  CHECK(invoke_allowed(globs, "hostname", "f"));
  CHECK(invoke_allowed(globs, "user@example.com:svc/a_b.c-d", "f"));
}

TEST_CASE("glob_matches: '*' any run including none, '?' exactly one byte", "[policy]") {
  struct Case {
    std::string_view pattern;
    std::string_view text;
    bool matches;
  };
  for (const Case& c : {
           Case{"", "", true},
           Case{"", "a", false},
           Case{"*", "", true},
           Case{"*", "anything", true},
           Case{"**", "", true},
           Case{"a*", "a", true},  // the run may be empty
           Case{"*a", "a", true},
           Case{"a*b", "ab", true},
           Case{"a*b", "axxb", true},
           Case{"a*b", "axxbx", false},
           Case{"a*b*c", "abbbcbc", true},
           Case{"?", "", false},
           Case{"?", "a", true},
           Case{"?", "ab", false},
           Case{"??", "ab", true},
           Case{"a?c", "abc", true},
           Case{"a?c", "ac", false},
           Case{"*?", "", false},
           Case{"*?", "a", true},
           Case{"shop-*", "shop-", true},
           Case{"shop-*", "shop", false},
           Case{"shop-*", "Shop-x", false},  // case matters
           Case{"tenant-*", "tenant-7", true},
           Case{"*-cart", "shop-cart", true},
           Case{"*-cart", "shop-carts", false},
           Case{"a*a*a*b", "aaaaaab", true},
           Case{"a*a*a*b", "aaaaaa", false},
       }) {
    INFO("pattern \"" << c.pattern << "\" text \"" << c.text << "\"");
    CHECK(glob_matches(c.pattern, c.text) == c.matches);
  }
}

TEST_CASE("glob_matches finishes at once on patterns that defeat naive backtracking", "[policy]") {
  // A recursive matcher takes exponential time here; the two-pointer one pattern × text steps.
  const std::string as(100000, 'a');
  CHECK_FALSE(glob_matches("a*a*a*a*a*b", as));
  CHECK(glob_matches("a*a*a*a*a*", as));
  CHECK_FALSE(
      glob_matches("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", std::string(128, 'a')));
  CHECK_FALSE(glob_matches(std::string(64, '*') + "b", as));
  const std::string pattern = [] {
    std::string text;
    for (int i = 0; i < 63; ++i) text += "a*";
    return text + "b";
  }();
  const Policy policy = created({statement("hostile", Effect::kAllow, {Action::kInvoke},
                                           {"function:" + pattern}, {pattern})});
  CHECK_FALSE(invoke_allowed(policy, std::string(128, 'a'), std::string(128, 'a')));
}

TEST_CASE("Comments start at a line's start or after a blank, never inside a token", "[policy]") {
  const Policy policy = parsed(
      "# a comment line\n"
      "   # an indented comment line\n"
      "shop: allow publish on topic:shop/#,topic:# for tenant-* # a trailing comment\n"
      "all:\tallow\tinvoke\ton\t*\tfor\tadmin\t#\ttab before the comment\n");
  REQUIRE(policy.statements().size() == 2);
  CHECK(policy.statements()[0].resources == std::vector<std::string>{"topic:shop/#", "topic:#"});
  CHECK(policy.statements()[0].principals == std::vector<std::string>{"tenant-*"});
  CHECK(policy.statements()[1].principals == std::vector<std::string>{"admin"});
  // A '#' glued to a principal is part of it, and no principal holds '#'.
  CHECK(contains(parse_error("a: allow invoke on * for tenant-*# not a comment"),
                 "policy line 1, byte 33: principal glob \"tenant-*#\": '#' is not allowed"));
}

TEST_CASE("The text form allows blanks around ',' and ':' and CRLF line endings", "[policy]") {
  const Policy spaced = parsed(
      "  spaced   :   deny   invoke , publish   on   function:a ,topic:b/+   for   x ,  y  \r\n"
      "tight:allow manage on * for *\r\n");
  const Policy canonical = parsed(
      "spaced: deny invoke,publish on function:a,topic:b/+ for x,y\n"
      "tight: allow manage on * for *\n");
  CHECK(spaced == canonical);
  CHECK(spaced.to_string() ==
        "spaced: deny invoke,publish on function:a,topic:b/+ for x,y\n"
        "tight: allow manage on * for *\n");
}

TEST_CASE("Every parse error names the line, the byte and what was expected", "[policy]") {
  struct Case {
    std::string_view text;
    std::string_view message;
  };
  for (const Case& c : {
           Case{": allow invoke on * for *",
                "policy line 1, byte 0: expected a statement id (1 to 64 of letters, digits, "
                "'_', '.' and '-') at the start of the line, found \":\""},
           Case{"\n\n  a$b: allow invoke on * for *",
                "policy line 3, byte 3: statement id \"a$b\": '$' is not allowed in an id"},
           Case{"# comment\nallow invoke on * for *",
                "policy line 2, byte 6: expected ':' after the statement id \"allow\", found "
                "\"invoke\""},
           Case{"a: permit invoke on * for *",
                "policy line 1, byte 3: expected 'allow' or 'deny' after the ':', found "
                "\"permit\""},
           Case{"a: Allow invoke on * for *",
                "policy line 1, byte 3: expected 'allow' or 'deny' after the ':', found "
                "\"Allow\" (keywords are lowercase)"},
           Case{"a: allow call on * for *",
                "policy line 1, byte 9: expected an action (invoke, publish, manage or *) after "
                "'allow', found \"call\""},
           Case{"a: deny invoke,,publish on * for *",
                "policy line 1, byte 15: expected an action (invoke, publish, manage or *) after "
                "',', found \",\""},
           Case{"a: allow invoke publish on * for *",
                "policy line 1, byte 16: expected 'on' after the actions, found \"publish\""},
           Case{"ok: allow invoke on * for *\nb: allow invoke of * for *",
                "policy line 2, byte 16: expected 'on' after the actions, found \"of\""},
           Case{"a: allow invoke on",
                "policy line 1, byte 18: expected a resource ('*', function:<glob> or "
                "topic:<pattern>) after 'on', found the end of the line"},
           Case{"a: allow invoke on func:x for *",
                "policy line 1, byte 19: resource \"func:x\": a resource is '*', function:<glob> "
                "or topic:<pattern>"},
           Case{"a: allow invoke on function:shop$ for *",
                "policy line 1, byte 32: resource \"function:shop$\": '$' is not allowed in a "
                "function glob"},
           Case{"a: allow publish on topic:a/#/b for *",
                "policy line 1, byte 20: resource \"topic:a/#/b\": topic pattern \"a/#/b\": '#' "
                "must be the last level (byte 2)"},
           Case{"a: allow publish on topic: for *",
                "policy line 1, byte 20: resource \"topic:\": a topic pattern must follow "
                "'topic:'"},
           Case{"a: allow invoke on * to *",
                "policy line 1, byte 21: expected 'for' after the resources, found \"to\""},
           Case{"a: allow invoke on * for",
                "policy line 1, byte 24: expected a principal glob (such as tenant-* or *) after "
                "'for', found the end of the line"},
           Case{"a: allow invoke on * for bob,",
                "policy line 1, byte 29: expected a principal glob (such as tenant-* or *) after "
                "',', found the end of the line"},
           Case{"a: allow invoke on * for bob alice",
                "policy line 1, byte 29: expected ',' or the end of the line after the "
                "principals, found \"alice\""},
           Case{"a: allow invoke on * for b\xff",
                "policy line 1, byte 26: principal glob \"b\\xff\": byte 0xff is not allowed in a "
                "principal glob"},
           Case{"a: allow invoke on * for *\nb: allow invoke on * for *\n\na: deny invoke on * "
                "for *",
                "policy line 4, byte 0: statement id \"a\" is already used on line 1; ids must be "
                "unique within a policy"},
       }) {
    INFO("text: " << c.text);
    CHECK_THAT(parse_error(c.text), Catch::Matchers::StartsWith(std::string(c.message)));
  }
}

TEST_CASE("Parse errors quote at most 64 bytes of the text", "[policy]") {
  const std::string long_id(5000, 'x');
  const std::string message = parse_error(long_id + ": allow invoke on * for *");
  CHECK(contains(message, "policy line 1, byte 0: statement id \"" + std::string(64, 'x') +
                              "...\" (5000 bytes): an id is 5000 bytes; it may be at most 64"));
  CHECK(message.size() < 400);
  const std::string bad_resource =
      parse_error("a: allow invoke on " + std::string(300, 'r') + " for *");
  CHECK(bad_resource.size() < 400);
}

TEST_CASE("Text over 65,536 bytes is refused before parsing, naming where the limit falls",
          "[policy]") {
  // 65,537 bytes of which no line is a statement: only the size can be wrong.
  const std::string line(999, ' ');
  std::string text;
  while (text.size() <= 65536) text += line + "\n";
  text.resize(65537);
  const std::string message = parse_error(text);
  // Byte 65,536 is on line 66 (65 lines of 1,000 bytes before it), at byte 536.
  CHECK_THAT(message, Catch::Matchers::StartsWith("policy line 66, byte 536: the text is 65537 "
                                                  "bytes, over the limit of 65536"));
  text.resize(65536);
  CHECK(parsed(text).statements().empty());
}

TEST_CASE("Statement, item, id and glob limits hold in parse and create alike", "[policy]") {
  SECTION("1,000 statements, not 1,001") {
    std::string text;
    std::vector<PolicyStatement> statements;
    for (int i = 0; i < 1001; ++i) {
      text += fmt::format("s{}: allow invoke on * for *\n", i);
      statements.push_back(allow_all(fmt::format("s{}", i)));
    }
    CHECK_THAT(parse_error(text),
               Catch::Matchers::StartsWith("policy line 1001, byte 0: a policy holds at most 1000 "
                                           "statements"));
    CHECK_THAT(create_error(statements),
               Catch::Matchers::StartsWith("policy statement 1001 (\"s1000\"): a policy holds at "
                                           "most 1000 statements, got 1001"));
    statements.pop_back();
    text.resize(text.rfind("s1000"));
    CHECK(parsed(text).statements().size() == 1000);
    CHECK(created(statements).statements().size() == 1000);
  }
  SECTION("64 actions, resources or principals, not 65") {
    std::vector<std::string> names;
    std::vector<std::string> resources;
    for (int i = 0; i < 65; ++i) {
      names.push_back(fmt::format("p{}", i));
      resources.push_back(fmt::format("function:f{}", i));
    }
    const std::string joined_names = fmt::format("{}", fmt::join(names, ","));
    const std::string joined_resources = fmt::format("{}", fmt::join(resources, ","));
    const std::string message = parse_error("a: allow invoke on * for " + joined_names);
    CHECK_THAT(message, Catch::Matchers::StartsWith(fmt::format(
                            "policy line 1, byte {}: 65 principals, but a statement may list at "
                            "most 64",
                            std::string_view("a: allow invoke on * for ").size() +
                                joined_names.rfind("p64"))));
    CHECK(contains(parse_error("a: allow invoke on " + joined_resources + " for *"),
                   "65 resources, but a statement may list at most 64"));
    // '*' counts as the three actions it stands for: 22 of them are 66.
    std::string stars = "*";
    for (int i = 1; i < 22; ++i) stars += ",*";
    CHECK(contains(parse_error("a: allow " + stars + " on * for *"),
                   "66 actions ('*' counts as three), but a statement may list at most 64"));
    CHECK(
        contains(create_error({statement("a", Effect::kAllow,
                                         std::vector<Action>(65, Action::kInvoke), {"*"}, {"*"})}),
                 "policy statement 1 (\"a\"): actions: 65 actions, but a statement may list at "
                 "most 64"));
    CHECK(contains(create_error({statement("a", Effect::kAllow, {Action::kInvoke}, {"*"}, names)}),
                   "policy statement 1 (\"a\"): principals: 65 principals"));
    names.pop_back();
    resources.pop_back();
    const Policy most = created({statement(
        "a", Effect::kAllow, std::vector<Action>(64, Action::kPublish), resources, names)});
    CHECK(parsed(most.to_string()) == most);
  }
  SECTION("ids of 64 bytes and globs of 128, not more") {
    const std::string id64(64, 'i');
    const std::string glob128 = std::string(127, 'g') + "*";
    const Policy policy =
        parsed(fmt::format("{}: allow invoke on function:{} for {}", id64, glob128, glob128));
    CHECK(invoke_allowed(policy, std::string(128, 'g'), std::string(127, 'g')));
    CHECK(contains(parse_error(id64 + "i: allow invoke on * for *"),
                   "an id is 65 bytes; it may be at most 64"));
    CHECK(contains(parse_error("a: allow invoke on function:" + glob128 + "g for *"),
                   "a function glob is 129 bytes; it may be at most 128"));
    CHECK(contains(parse_error("a: allow invoke on * for " + glob128 + "g"),
                   "policy line 1, byte 25: principal glob"));
    CHECK(contains(
        create_error({statement(id64 + "i", Effect::kAllow, {Action::kInvoke}, {"*"}, {"*"})}),
        "policy statement 1 (\"" + id64 + "...\" (65 bytes)): id: an id is 65 bytes"));
  }
  SECTION("the canonical text, where '*' is three actions, must fit too") {
    // 21 bytes of "*,*,...": each statement's canonical line is far longer than its source.
    std::string stars = "*";
    for (int i = 1; i < 21; ++i) stars += ",*";
    std::string text;
    int statements = 0;
    while (text.size() < 60000) {
      text += fmt::format("s{}: allow {} on * for *\n", statements++, stars);
    }
    REQUIRE(text.size() <= 65536);
    const std::string message = parse_error(text);
    CHECK(contains(message, "would be"));
    CHECK(contains(message, "bytes, over the limit of 65536"));
    // The same statements through create() are refused the same way.
    std::vector<PolicyStatement> many;
    for (int i = 0; i < statements; ++i) {
      many.push_back(statement(fmt::format("s{}", i), Effect::kAllow,
                               std::vector<Action>(63, Action::kPublish), {"*"}, {"*"}));
    }
    CHECK(contains(create_error(many), "over the limit of 65536 that parse() reads"));
  }
}

TEST_CASE("to_string writes canonical text that parses back to an equal policy", "[policy]") {
  const std::vector<std::string_view> texts = {
      "",
      kHeaderExample,
      "a: allow invoke on function:x for y",
      "dup: deny invoke,invoke,*,manage on *,*,function:?,topic:+/+/# for *,?,a:b@c/d-e_f.g",
      "u: allow publish on topic:caf\xc3\xa9/menu,topic:$SYS/# for svc:*\n"
      "v:deny manage on function:a.b-c_d for z",
  };
  for (const std::string_view text : texts) {
    const Policy policy = parsed(text);
    const std::string canonical = policy.to_string();
    INFO("canonical: " << canonical);
    const Policy again = parsed(canonical);
    CHECK(again == policy);
    CHECK(again.to_string() == canonical);
  }
  CHECK(parsed(kHeaderExample).to_string() ==
        "tenant-calls: allow invoke on function:shop-* for tenant-*\n"
        "tenant-events: allow publish on topic:shop/# for tenant-*\n"
        "no-billing: deny invoke,publish,manage on function:billing-* for tenant-*\n");
  const Policy built = created(
      {statement("x", Effect::kDeny, {Action::kManage, Action::kInvoke}, {"topic:a/+"}, {"p?"}),
       allow_all("y")});
  CHECK(built.to_string() ==
        "x: deny manage,invoke on topic:a/+ for p?\ny: allow invoke on * for *\n");
  CHECK(parsed(built.to_string()) == built);
}

TEST_CASE("create() errors name the statement (from 1), its id, the field and the fix",
          "[policy]") {
  const PolicyStatement good = allow_all("good");
  struct Case {
    PolicyStatement bad;
    std::string_view message;
  };
  for (const Case& c : {
           Case{statement("", Effect::kAllow, {Action::kInvoke}, {"*"}, {"*"}),
                "policy statement 2 (\"\"): id: an id must not be empty"},
           Case{statement("no billing", Effect::kAllow, {Action::kInvoke}, {"*"}, {"*"}),
                "policy statement 2 (\"no billing\"): id, byte 2: ' ' (a space) is not allowed "
                "in an id"},
           Case{statement("e", static_cast<Effect>(9), {Action::kInvoke}, {"*"}, {"*"}),
                "policy statement 2 (\"e\"): effect is not an Effect (value 9)"},
           Case{statement("a", Effect::kAllow, {}, {"*"}, {"*"}),
                "policy statement 2 (\"a\"): actions: a statement needs at least one of its "
                "actions"},
           Case{statement("a", Effect::kAllow, {Action::kInvoke, static_cast<Action>(5)}, {"*"},
                          {"*"}),
                "policy statement 2 (\"a\"): actions[1] is not an Action (value 5)"},
           Case{
               statement("no-billing", Effect::kDeny, {Action::kInvoke}, {"*", "billing-*"}, {"*"}),
               "policy statement 2 (\"no-billing\"): resources[1] \"billing-*\": a resource is "
               "'*', function:<glob> or topic:<pattern>"},
           Case{statement("a", Effect::kAllow, {Action::kInvoke}, {"function:"}, {"*"}),
                "policy statement 2 (\"a\"): resources[0] \"function:\": a function glob must "
                "not be empty"},
           Case{statement("a", Effect::kAllow, {Action::kInvoke}, {"topic:a b"}, {"*"}),
                "policy statement 2 (\"a\"): resources[0] \"topic:a b\", byte 7: ' ' (a space) "
                "is not allowed in a policy's topic pattern"},
           Case{statement("a", Effect::kAllow, {Action::kInvoke}, {"topic:a,b"}, {"*"}),
                "policy statement 2 (\"a\"): resources[0] \"topic:a,b\", byte 7: ',' is not "
                "allowed in a policy's topic pattern"},
           Case{statement("a", Effect::kAllow, {Action::kInvoke}, {"topic:a+"}, {"*"}),
                "policy statement 2 (\"a\"): resources[0] \"topic:a+\": topic pattern \"a+\": "
                "'+' must be a whole level (byte 1)"},
           Case{statement("a", Effect::kAllow, {Action::kInvoke}, {}, {"*"}),
                "policy statement 2 (\"a\"): resources: a statement needs at least one of its "
                "resources"},
           Case{statement("a", Effect::kAllow, {Action::kInvoke}, {"*"}, {}),
                "policy statement 2 (\"a\"): principals: a statement needs at least one"},
           Case{statement("a", Effect::kAllow, {Action::kInvoke}, {"*"}, {"ok", "ten ant"}),
                "policy statement 2 (\"a\"): principals[1] \"ten ant\", byte 3: ' ' (a space) "
                "is not allowed in a principal glob"},
           Case{statement("good", Effect::kDeny, {Action::kInvoke}, {"*"}, {"*"}),
                "policy statement 2 (\"good\"): id is already the id of statement 1; ids must be "
                "unique"},
       }) {
    INFO("statement: " << c.bad.id);
    CHECK_THAT(create_error({good, c.bad}), Catch::Matchers::StartsWith(std::string(c.message)));
  }
}

TEST_CASE("validate_principal_name accepts principal names and refuses \"host\"", "[policy]") {
  CHECK(fnhost::validate_principal_name("tenant-7").ok());
  CHECK(fnhost::validate_principal_name("svc:billing@eu/worker_1.a").ok());
  CHECK(fnhost::validate_principal_name(std::string(128, 'p')).ok());
  CHECK(fnhost::validate_principal_name("hosts").ok());

  struct Case {
    std::string name;
    std::string_view message;
  };
  for (const Case& c : {
           Case{"host", "principal \"host\": \"host\" is the host's own principal"},
           Case{"", "principal \"\": a principal name must not be empty"},
           Case{std::string(129, 'p'), "a principal name is 129 bytes; it may be at most 128"},
           Case{"tenant*",
                "principal \"tenant*\", byte 6: '*' is not allowed in a principal "
                "name; use letters, digits, '_', '.', ':', '@', '/' and '-'"},
           Case{"a\nb", "principal \"a\\x0ab\", byte 1: byte 0x0a is not allowed"},
       }) {
    const absl::Status status = fnhost::validate_principal_name(c.name);
    INFO("name: " << c.name);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(contains(message_of(status), c.message));
    CHECK(message_of(status).size() < 300);
  }
}

TEST_CASE("action_name names each action as the text form does", "[policy]") {
  CHECK(fnhost::action_name(Action::kInvoke) == "invoke");
  CHECK(fnhost::action_name(Action::kPublish) == "publish");
  CHECK(fnhost::action_name(Action::kManage) == "manage");
}

TEST_CASE("Copies share one compiled policy and decisions outlive the original", "[policy]") {
  AccessDecision decision;
  Policy copy;
  {
    const Policy original = parsed("keeper: allow invoke on * for *");
    copy = original;
    CHECK(copy == original);
  }
  decision = copy.evaluate("p", Action::kInvoke, ResourceKind::kFunction, "f");
  CHECK(decision.allowed);
  CHECK(decision.statement == "keeper");
  CHECK_FALSE(copy == Policy());
}

TEST_CASE("Eight threads evaluating one shared policy get the same answers as one", "[policy]") {
  const Policy policy = parsed(std::string(kHeaderExample) +
                               "admins: allow * on * for admin-?\n"
                               "no-root: deny manage on * for *\n");
  struct Request {
    std::string principal;
    Action action;
    ResourceKind kind;
    std::string name;
  };
  std::vector<Request> requests;
  for (const char* principal : {"tenant-1", "admin-a", "admin-ab", "guest", "host", ""}) {
    for (const Action action : {Action::kInvoke, Action::kPublish, Action::kManage}) {
      requests.push_back({principal, action, ResourceKind::kFunction, "shop-cart"});
      requests.push_back({principal, action, ResourceKind::kFunction, "billing-x"});
      requests.push_back({principal, action, ResourceKind::kTopic, "shop/orders"});
      requests.push_back({principal, action, ResourceKind::kTopic, "shop//bad"});
    }
  }
  std::vector<AccessDecision> expected;
  for (const Request& r : requests) {
    expected.push_back(policy.evaluate(r.principal, r.action, r.kind, r.name));
  }
  constexpr int kThreads = 8;
  constexpr int kRounds = 200;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t, shared = policy] {
      for (int round = 0; round < kRounds; ++round) {
        for (size_t i = 0; i < requests.size(); ++i) {
          const Request& r = requests[i];
          const AccessDecision got = shared.evaluate(r.principal, r.action, r.kind, r.name);
          if (got.allowed != expected[i].allowed || got.statement != expected[i].statement ||
              got.explicit_deny != expected[i].explicit_deny) {
            ++mismatches[static_cast<size_t>(t)];
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const int count : mismatches) CHECK(count == 0);
  // And the answers themselves are the rules' answers.
  CHECK(
      policy.evaluate("admin-a", Action::kManage, ResourceKind::kFunction, "shop-cart").statement ==
      "no-root");
  CHECK(
      policy.evaluate("admin-a", Action::kInvoke, ResourceKind::kFunction, "billing-x").statement ==
      "admins");
  CHECK(policy.evaluate("tenant-1", Action::kInvoke, ResourceKind::kFunction, "billing-x")
            .statement == "no-billing");
}

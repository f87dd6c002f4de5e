// SPDX-License-Identifier: Apache-2.0
// The policy text form: one statement per line, read token by token with the byte position of
// each token kept for error messages. A line holds no nesting, so the reader is a flat sequence
// of steps (id, ':', effect, actions, 'on', resources, 'for', principals, end of line).
#include "security/policy_text.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <initializer_list>
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
#include "fnhost/policy.hpp"
#include "security/policy_rules.hpp"

namespace fnhost::detail {

namespace {

constexpr std::array<Action, 3> kAllActions = {Action::kInvoke, Action::kPublish, Action::kManage};

bool is_blank(char c) { return c == ' ' || c == '\t'; }

bool is_blank_line(std::string_view line) {
  return std::all_of(line.begin(), line.end(), is_blank);
}

// The part of a line that holds a statement: without the '\r' of a CRLF line ending and without
// a comment. A '#' starts a comment only at the start of the line or after a blank; elsewhere it
// belongs to a token (topic:shop/#). No valid token starts with '#', so cutting there never
// cuts a statement short.
std::string_view statement_part(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '#' && (i == 0 || is_blank(line[i - 1]))) return line.substr(0, i);
  }
  return line;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

// " (keywords are lowercase)" when `word` is one of `keywords` in another case.
std::string case_hint(std::string_view word, std::initializer_list<std::string_view> keywords) {
  for (const std::string_view keyword : keywords) {
    if (equals_ignoring_case(word, keyword)) return " (keywords are lowercase)";
  }
  return "";
}

std::optional<Action> action_of_keyword(std::string_view word) {
  for (const Action action : kAllActions) {
    if (word == action_name(action)) return action;
  }
  return std::nullopt;
}

// Reads one statement from one line (without its comment).
class StatementReader {
 public:
  StatementReader(std::string_view line, size_t line_number)
      : line_(line), line_number_(line_number) {}

  absl::Status error(size_t byte, std::string_view what) const {
    return absl::InvalidArgumentError(
        fmt::format("policy line {}, byte {}: {}", line_number_, byte, what));
  }

  absl::StatusOr<PolicyStatement> read() {
    PolicyStatement statement;
    FNHOST_RETURN_IF_ERROR(read_id(statement));
    FNHOST_RETURN_IF_ERROR(read_effect(statement));
    FNHOST_RETURN_IF_ERROR(read_actions(statement));
    FNHOST_RETURN_IF_ERROR(read_keyword("on", "the actions"));
    FNHOST_RETURN_IF_ERROR(read_resources(statement));
    FNHOST_RETURN_IF_ERROR(read_keyword("for", "the resources"));
    FNHOST_RETURN_IF_ERROR(read_principals(statement));
    FNHOST_RETURN_IF_ERROR(read_end());
    return statement;
  }

  // Where the statement's id starts (after read()).
  size_t id_byte() const { return id_byte_; }

  // Where the statement starts: its first byte that is not a blank.
  size_t first_byte() const {
    return static_cast<size_t>(std::find_if_not(line_.begin(), line_.end(), is_blank) -
                               line_.begin());
  }

 private:
  using ProblemCheck = std::optional<PolicyProblem> (*)(std::string_view);

  void skip_blanks() {
    while (position_ < line_.size() && is_blank(line_[position_])) ++position_;
  }

  bool at(char c) const { return position_ < line_.size() && line_[position_] == c; }

  static bool ends_item(char c) { return is_blank(c) || c == ','; }

  // Takes the run of bytes from the current position up to a blank, ',' or `also_ending`.
  std::string_view take_item(char also_ending = ',') {
    const size_t start = position_;
    while (position_ < line_.size() && !ends_item(line_[position_]) &&
           line_[position_] != also_ending) {
      ++position_;
    }
    return line_.substr(start, position_ - start);
  }

  // What is at `byte`, for "found ..." in a message: the item there, quoted, or the single byte
  // that ends items (',' or a blank), or the end of the line.
  std::string found_at(size_t byte) const {
    if (byte >= line_.size()) return "the end of the line";
    const auto item_end =
        std::find_if(line_.begin() + static_cast<ptrdiff_t>(byte), line_.end(), ends_item);
    const size_t size = std::max<size_t>(1, static_cast<size_t>(item_end - line_.begin()) - byte);
    return quote_for_message(line_.substr(byte, size));
  }

  absl::Status problem_error(size_t item_byte, std::string_view label, std::string_view item,
                             const PolicyProblem& problem) const {
    return error(item_byte + problem.byte.value_or(0),
                 fmt::format("{} {}: {}", label, quote_for_message(item), problem.what));
  }

  absl::Status read_id(PolicyStatement& statement) {
    skip_blanks();
    id_byte_ = position_;
    const std::string_view id = take_item(':');
    if (id.empty()) {
      return error(position_,
                   fmt::format("expected a statement id (1 to {} of letters, digits, '_', '.' "
                               "and '-') at the start of the line, found {}",
                               kMaxStatementIdBytes, found_at(position_)));
    }
    if (const std::optional<PolicyProblem> problem = statement_id_problem(id)) {
      return problem_error(id_byte_, "statement id", id, *problem);
    }
    skip_blanks();
    if (!at(':')) {
      return error(position_, fmt::format("expected ':' after the statement id {}, found {}; a "
                                          "statement reads \"<id>: allow|deny <actions> on "
                                          "<resources> for <principals>\"",
                                          quote_for_message(id), found_at(position_)));
    }
    ++position_;
    statement.id = std::string(id);
    return absl::OkStatus();
  }

  absl::Status read_effect(PolicyStatement& statement) {
    skip_blanks();
    const size_t start = position_;
    const std::string_view word = take_item();
    if (word == "allow") {
      statement.effect = Effect::kAllow;
    } else if (word == "deny") {
      statement.effect = Effect::kDeny;
    } else {
      return error(start, fmt::format("expected 'allow' or 'deny' after the ':', found {}{}",
                                      found_at(start), case_hint(word, {"allow", "deny"})));
    }
    effect_word_ = word == "allow" ? "'allow'" : "'deny'";
    return absl::OkStatus();
  }

  // Reads `item, item, ...` (blanks allowed around the commas), passing each item, its byte and
  // what came before it ("'on'", "','") to `read_item`. `expected` describes one item.
  template <typename ReadItem>
  absl::Status read_list(std::string_view expected, std::string_view after, ReadItem read_item) {
    while (true) {
      skip_blanks();
      const size_t start = position_;
      const std::string_view item = take_item();
      if (item.empty()) {
        return error(
            start, fmt::format("expected {} after {}, found {}", expected, after, found_at(start)));
      }
      FNHOST_RETURN_IF_ERROR(read_item(item, start, after));
      skip_blanks();
      if (!at(',')) return absl::OkStatus();
      ++position_;
      after = "','";
    }
  }

  absl::Status read_actions(PolicyStatement& statement) {
    return read_list("an action (invoke, publish, manage or *)", effect_word_,
                     [&](std::string_view item, size_t byte, std::string_view after) {
                       return read_action(item, byte, after, statement);
                     });
  }

  absl::Status read_resources(PolicyStatement& statement) {
    return read_list("a resource ('*', function:<glob> or topic:<pattern>)", "'on'",
                     [&](std::string_view item, size_t byte, std::string_view) {
                       return read_checked_item(item, byte, "resource", "resources",
                                                resource_problem, statement.resources);
                     });
  }

  absl::Status read_principals(PolicyStatement& statement) {
    return read_list("a principal glob (such as tenant-* or *)", "'for'",
                     [&](std::string_view item, size_t byte, std::string_view) {
                       return read_checked_item(item, byte, "principal glob", "principals",
                                                principal_glob_problem, statement.principals);
                     });
  }

  // '*' stands for all three actions and is stored as them, so a statement's actions are always
  // Action values; the count limit applies to what is stored.
  absl::Status read_action(std::string_view item, size_t byte, std::string_view after,
                           PolicyStatement& statement) {
    if (item == "*") {
      statement.actions.insert(statement.actions.end(), kAllActions.begin(), kAllActions.end());
    } else if (const std::optional<Action> action = action_of_keyword(item)) {
      statement.actions.push_back(*action);
    } else {
      return error(
          byte,
          fmt::format("expected an action (invoke, publish, manage or *) after {}, found "
                      "{}{}",
                      after, found_at(byte), case_hint(item, {"invoke", "publish", "manage"})));
    }
    if (statement.actions.size() > kMaxPolicyItems) {
      return error(byte, fmt::format("{} actions ('*' counts as three), but a statement may list "
                                     "at most {}; split it into several statements",
                                     statement.actions.size(), kMaxPolicyItems));
    }
    return absl::OkStatus();
  }

  // Appends a resource or principal glob to `items` after checking it and the count.
  absl::Status read_checked_item(std::string_view item, size_t byte, std::string_view label,
                                 std::string_view plural, ProblemCheck check,
                                 std::vector<std::string>& items) {
    if (const std::optional<PolicyProblem> problem = item_count_problem(items.size() + 1, plural)) {
      return error(byte, problem->what);
    }
    if (const std::optional<PolicyProblem> problem = check(item)) {
      return problem_error(byte, label, item, *problem);
    }
    items.emplace_back(item);
    return absl::OkStatus();
  }

  absl::Status read_keyword(std::string_view keyword, std::string_view after) {
    skip_blanks();
    const size_t start = position_;
    const std::string_view word = take_item();
    if (word == keyword) return absl::OkStatus();
    return error(start, fmt::format("expected '{}' after {}, found {}{}", keyword, after,
                                    found_at(start), case_hint(word, {keyword})));
  }

  absl::Status read_end() {
    skip_blanks();
    if (position_ == line_.size()) return absl::OkStatus();
    return error(position_,
                 fmt::format("expected ',' or the end of the line after the principals, found {}",
                             found_at(position_)));
  }

  std::string_view line_;
  size_t line_number_;
  size_t position_ = 0;
  size_t id_byte_ = 0;
  std::string_view effect_word_;
};

// Reads a policy line by line, keeping what spans lines: the statements so far, the line of
// each id (ids are unique) and the size of the text to_string() will write.
class PolicyTextReader {
 public:
  absl::Status read_line(std::string_view line, size_t line_number) {
    const std::string_view content = statement_part(line);
    if (is_blank_line(content)) return absl::OkStatus();
    StatementReader reader(content, line_number);
    if (statements_.size() == kMaxPolicyStatements) {
      return reader.error(
          reader.first_byte(),
          fmt::format("a policy holds at most {} statements and this is one more; merge "
                      "statements (one may list up to {} actions, resources and principals)",
                      kMaxPolicyStatements, kMaxPolicyItems));
    }
    absl::StatusOr<PolicyStatement> statement = reader.read();
    if (!statement.ok()) return statement.status();
    if (const auto [it, inserted] = line_of_id_.try_emplace(statement->id, line_number);
        !inserted) {
      return reader.error(reader.id_byte(),
                          fmt::format("statement id {} is already used on line {}; ids must be "
                                      "unique within a policy",
                                      quote_for_message(statement->id), it->second));
    }
    // parse(to_string()) must give the policy back, so its canonical text, which may be
    // longer than this text ('*' becomes invoke,publish,manage), must fit the limit too.
    text_size_ += policy_statement_text_size(*statement);
    if (text_size_ > kMaxPolicyTextBytes) {
      return reader.error(
          reader.first_byte(),
          fmt::format("with this statement the policy's text form (to_string(), which writes "
                      "'*' as invoke,publish,manage) would be {} bytes, over the limit of {}; "
                      "shorten or merge statements",
                      text_size_, kMaxPolicyTextBytes));
    }
    statements_.push_back(*std::move(statement));
    return absl::OkStatus();
  }

  std::vector<PolicyStatement> take_statements() { return std::move(statements_); }

 private:
  std::vector<PolicyStatement> statements_;
  std::unordered_map<std::string, size_t> line_of_id_;
  size_t text_size_ = 0;
};

// The error for text over the limit names the line and byte of its first byte over it.
absl::Status too_long(std::string_view text) {
  const std::string_view allowed = text.substr(0, kMaxPolicyTextBytes);
  const size_t line = 1 + static_cast<size_t>(std::count(allowed.begin(), allowed.end(), '\n'));
  const size_t last_newline = allowed.rfind('\n');
  const size_t byte = last_newline == std::string_view::npos
                          ? kMaxPolicyTextBytes
                          : kMaxPolicyTextBytes - last_newline - 1;
  return absl::InvalidArgumentError(
      fmt::format("policy line {}, byte {}: the text is {} bytes, over the limit of {} (this is "
                  "the first byte past it); shorten the policy: one statement may list up to {} "
                  "actions, resources and principals",
                  line, byte, text.size(), kMaxPolicyTextBytes, kMaxPolicyItems));
}

void append_joined(const std::vector<std::string>& items, std::string& out) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += items[i];
  }
}

}  // namespace

absl::StatusOr<std::vector<PolicyStatement>> read_policy_text(std::string_view text) {
  if (text.size() > kMaxPolicyTextBytes) return too_long(text);
  PolicyTextReader reader;
  size_t line_number = 1;
  for (std::string_view rest = text;; ++line_number) {
    const size_t newline = rest.find('\n');
    FNHOST_RETURN_IF_ERROR(reader.read_line(rest.substr(0, newline), line_number));
    if (newline == std::string_view::npos) break;
    rest.remove_prefix(newline + 1);
  }
  return reader.take_statements();
}

void write_policy_statement(const PolicyStatement& statement, std::string& out) {
  out += statement.id;
  out += statement.effect == Effect::kDeny ? ": deny " : ": allow ";
  for (size_t i = 0; i < statement.actions.size(); ++i) {
    if (i > 0) out += ',';
    out += action_name(statement.actions[i]);
  }
  out += " on ";
  append_joined(statement.resources, out);
  out += " for ";
  append_joined(statement.principals, out);
  out += '\n';
}

// Writing the line is the one definition of its size; this runs once per statement when a
// policy is made, never on evaluation.
size_t policy_statement_text_size(const PolicyStatement& statement) {
  std::string line;
  write_policy_statement(statement, line);
  return line.size();
}

}  // namespace fnhost::detail

// SPDX-License-Identifier: Apache-2.0
// Filter: a tree of all / any / not / exact / prefix / suffix nodes stored as one array in
// pre-order, shared between copies. Each node records the size of its subtree and its parent,
// so evaluation, printing and comparison walk the array without recursion, and destroying a
// deep filter is one array free. Only the parser recurses, at most Filter::kMaxDepth deep.
#include "fnhost/filter.hpp"

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/quote.hpp"
#include "common/status_macros.hpp"
#include "fmt/format.h"
#include "fnhost/event.hpp"

namespace fnhost {

namespace detail {

struct FilterTree {
  enum class Kind : uint8_t { kAll, kAny, kNot, kExact, kPrefix, kSuffix };
  // Which Event field a test reads, resolved from the name once, when the node is made.
  enum class Attribute : uint8_t {
    kId,
    kSource,
    kType,
    kSubject,
    kDataContentType,
    kTopic,
    kTime,
    kExtension
  };

  struct Node {
    Kind kind = Kind::kAll;
    Attribute attribute = Attribute::kExtension;  // exact / prefix / suffix nodes only
    uint32_t size = 1;    // nodes in the subtree rooted here, this one included
    uint32_t parent = 0;  // index of the enclosing node; unused for the root (index 0)
    // exact / prefix / suffix nodes only: where the attribute name and the value sit in `text`.
    size_t name_offset = 0;
    size_t name_size = 0;
    size_t value_offset = 0;
    size_t value_size = 0;
  };

  std::vector<Node> nodes;  // pre-order: a node's children follow it, each after the subtree
                            // of the one before
  std::string text;         // the attribute names and (unescaped) values, back to back
  int depth = 1;            // nodes on the longest path from the root to a leaf
  bool always_true = true;  // holds for every event without reading an attribute
  bool always_false = false;
  size_t canonical_size = 5;  // to_string().size()
};

}  // namespace detail

namespace {

using Tree = detail::FilterTree;
using Kind = Tree::Kind;
using Attribute = Tree::Attribute;
using Node = Tree::Node;

// The default filter's nodes: one empty all().
constexpr Node kMatchAllNodes[1] = {Node{}};

std::span<const Node> nodes_of(const Tree* tree) {
  if (tree == nullptr) return kMatchAllNodes;
  return tree->nodes;
}

std::string_view text_of(const Tree* tree) {
  if (tree == nullptr) return {};
  return tree->text;
}

bool is_test(Kind kind) {
  return kind == Kind::kExact || kind == Kind::kPrefix || kind == Kind::kSuffix;
}

std::string_view keyword(Kind kind) {
  switch (kind) {
    case Kind::kAll:
      return "all";
    case Kind::kAny:
      return "any";
    case Kind::kNot:
      return "not";
    case Kind::kExact:
      return "exact";
    case Kind::kPrefix:
      return "prefix";
    case Kind::kSuffix:
      return "suffix";
  }
  return "";
}

std::optional<Kind> kind_of_keyword(std::string_view word) {
  for (Kind kind :
       {Kind::kAll, Kind::kAny, Kind::kNot, Kind::kExact, Kind::kPrefix, Kind::kSuffix}) {
    if (word == keyword(kind)) return kind;
  }
  return std::nullopt;
}

Attribute attribute_of_name(std::string_view name) {
  if (name == "id") return Attribute::kId;
  if (name == "source") return Attribute::kSource;
  if (name == "type") return Attribute::kType;
  if (name == "subject") return Attribute::kSubject;
  if (name == "datacontenttype") return Attribute::kDataContentType;
  if (name == "topic") return Attribute::kTopic;
  if (name == "time") return Attribute::kTime;
  return Attribute::kExtension;
}

bool is_attribute_character(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

bool is_valid_attribute(std::string_view name) {
  return !name.empty() && name.size() <= Filter::kMaxAttributeSize &&
         std::all_of(name.begin(), name.end(), is_attribute_character);
}

bool is_whitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

size_t escaped_size(std::string_view value) {
  return value.size() + static_cast<size_t>(std::count_if(value.begin(), value.end(), [](char c) {
           return c == '"' || c == '\\';
         }));
}

std::string quoted(std::string_view text) { return detail::quote_for_message(text); }

// Fills in a tree's summary (depth, the always_* flags, canonical_size) from its nodes.
void summarize(Tree& tree) {
  const size_t count = tree.nodes.size();
  std::vector<int> depth(count, 1);
  std::vector<bool> always_true(count);
  std::vector<bool> always_false(count);
  size_t canonical_size = 0;
  for (size_t i = 0; i < count; ++i) {
    const Node& node = tree.nodes[i];
    always_true[i] = node.kind == Kind::kAll;
    always_false[i] = node.kind == Kind::kAny;
    canonical_size += keyword(node.kind).size() + 2;  // "kw(" and ")"
    if (is_test(node.kind)) {
      canonical_size += node.name_size + 2 +  // ", "
                        escaped_size(std::string_view(tree.text).substr(node.value_offset,
                                                                        node.value_size)) +
                        2;  // the quotes
    }
    if (i > 0 && node.parent + 1 != i) canonical_size += 2;  // ", " before a later sibling
  }
  // Children come after their parent, so a reverse pass folds each finished subtree into its
  // parent.
  for (size_t i = count; i-- > 1;) {
    const size_t parent = tree.nodes[i].parent;
    depth[parent] = std::max(depth[parent], depth[i] + 1);
    switch (tree.nodes[parent].kind) {
      case Kind::kAll:
        always_true[parent] = always_true[parent] && always_true[i];
        always_false[parent] = always_false[parent] || always_false[i];
        break;
      case Kind::kAny:
        always_true[parent] = always_true[parent] || always_true[i];
        always_false[parent] = always_false[parent] && always_false[i];
        break;
      case Kind::kNot:
        always_true[parent] = always_false[i];
        always_false[parent] = always_true[i];
        break;
      default:
        assert(false && "a test node has no children");
    }
  }
  tree.depth = depth[0];
  tree.always_true = always_true[0];
  tree.always_false = always_false[0];
  tree.canonical_size = canonical_size;
}

// Appends a test node (no children) to `tree`.
void append_test(Tree& tree, Kind kind, uint32_t parent, std::string_view name,
                 std::string_view value) {
  Node node{.kind = kind, .attribute = attribute_of_name(name), .size = 1, .parent = parent};
  node.name_offset = tree.text.size();
  node.name_size = name.size();
  tree.text += name;
  node.value_offset = tree.text.size();
  node.value_size = value.size();
  tree.text += value;
  tree.nodes.push_back(node);
}

std::shared_ptr<const Tree> make_test(Kind kind, std::string_view name, std::string_view value) {
  auto tree = std::make_shared<Tree>();
  append_test(*tree, kind, 0, name, value);
  summarize(*tree);
  return tree;
}

// all / any / not over `children`: the new root, then each child's nodes re-based.
std::shared_ptr<const Tree> make_combination(Kind kind, std::span<const Tree* const> children) {
  auto tree = std::make_shared<Tree>();
  tree->nodes.push_back(Node{.kind = kind});
  for (const Tree* child_tree : children) {
    const std::span<const Node> child_nodes = nodes_of(child_tree);
    const auto node_base = static_cast<uint32_t>(tree->nodes.size());
    const size_t text_base = tree->text.size();
    for (size_t i = 0; i < child_nodes.size(); ++i) {
      Node node = child_nodes[i];
      node.parent = i == 0 ? 0 : node.parent + node_base;
      node.name_offset += text_base;
      node.value_offset += text_base;
      tree->nodes.push_back(node);
    }
    tree->text += text_of(child_tree);
  }
  tree->nodes[0].size = static_cast<uint32_t>(tree->nodes.size());
  summarize(*tree);
  return tree;
}

// Recursive descent over the text form into a Tree. Recursion is bounded by Filter::kMaxDepth.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  absl::StatusOr<std::shared_ptr<const Tree>> parse() {
    if (text_.size() > Filter::kMaxTextSize) {
      return absl::InvalidArgumentError(
          fmt::format("filter {}: longer than {} bytes", quoted(text_), Filter::kMaxTextSize));
    }
    auto tree = std::make_shared<Tree>();
    tree_ = tree.get();
    if (absl::Status status = parse_filter(0, 1); !status.ok()) return status;
    skip_whitespace();
    if (position_ != text_.size()) return error(position_, "expected the end of the text");
    summarize(*tree);
    if (tree->canonical_size > Filter::kMaxTextSize) {
      return absl::InvalidArgumentError(fmt::format(
          "filter {}: its canonical text (with a space after each comma) would be {} bytes, "
          "over the limit of {}",
          quoted(text_), tree->canonical_size, Filter::kMaxTextSize));
    }
    return tree;
  }

 private:
  absl::Status error(size_t position, std::string_view what) const {
    return absl::InvalidArgumentError(
        fmt::format("filter {}: byte {}: {}", quoted(text_), position, what));
  }

  void skip_whitespace() {
    while (position_ < text_.size() && is_whitespace(text_[position_])) ++position_;
  }

  // Skips whitespace, then consumes `c` if it comes next.
  bool consume(char c) {
    skip_whitespace();
    if (position_ < text_.size() && text_[position_] == c) {
      ++position_;
      return true;
    }
    return false;
  }

  std::string_view take_while(bool (*accept)(char)) {
    const size_t start = position_;
    while (position_ < text_.size() && accept(text_[position_])) ++position_;
    return text_.substr(start, position_ - start);
  }

  // Parses one filter at `depth` (the top level is 1) as a child of node `parent`.
  absl::Status parse_filter(uint32_t parent, int depth) {
    skip_whitespace();
    const size_t start = position_;
    const std::string_view word = take_while(is_letter);
    const std::optional<Kind> kind = kind_of_keyword(word);
    if (!kind) {
      return error(start, "expected a filter: all, any, not, exact, prefix or suffix");
    }
    if (depth > Filter::kMaxDepth) {
      return error(start, fmt::format("nesting deeper than {} levels", Filter::kMaxDepth));
    }
    if (!consume('(')) return error(position_, fmt::format("expected '(' after '{}'", word));
    if (is_test(*kind)) return parse_test(*kind, parent);

    const auto index = static_cast<uint32_t>(tree_->nodes.size());
    tree_->nodes.push_back(Node{.kind = *kind, .parent = parent});
    if (*kind == Kind::kNot) {
      FNHOST_RETURN_IF_ERROR(parse_filter(index, depth + 1));
      if (!consume(')')) return error(position_, "expected ')' after the filter in not(...)");
    } else if (!consume(')')) {
      while (true) {
        FNHOST_RETURN_IF_ERROR(parse_filter(index, depth + 1));
        if (consume(')')) break;
        if (!consume(',')) {
          return error(position_, fmt::format("expected ',' or ')' in {}(...)", word));
        }
      }
    }
    tree_->nodes[index].size = static_cast<uint32_t>(tree_->nodes.size() - index);
    return absl::OkStatus();
  }

  // Parses `attribute, "value")` after the '(' of a test.
  absl::Status parse_test(Kind kind, uint32_t parent) {
    skip_whitespace();
    const size_t name_start = position_;
    const std::string_view name = take_while(is_attribute_character);
    if (name.empty()) {
      return error(name_start, "expected an attribute name (letters, digits, '_', '.', '-')");
    }
    if (name.size() > Filter::kMaxAttributeSize) {
      return error(name_start,
                   fmt::format("attribute name longer than {} bytes", Filter::kMaxAttributeSize));
    }
    if (!consume(',')) return error(position_, "expected ',' after the attribute name");
    skip_whitespace();
    if (position_ == text_.size() || text_[position_] != '"') {
      return error(position_, "expected a double-quoted value after ','");
    }
    const size_t open = position_++;
    std::string value;
    while (true) {
      if (position_ == text_.size()) {
        return error(position_, fmt::format("unterminated value: the '\"' at byte {} is "
                                            "never closed",
                                            open));
      }
      const char c = text_[position_];
      if (c == '"') break;
      if (c == '\\') {
        if (position_ + 1 == text_.size()) {
          return error(position_ + 1, fmt::format("unterminated value: the '\"' at byte {} is "
                                                  "never closed",
                                                  open));
        }
        const char escaped = text_[position_ + 1];
        if (escaped != '"' && escaped != '\\') {
          return error(position_, "unsupported escape: a value allows only \\\" and \\\\");
        }
        value += escaped;
        position_ += 2;
      } else {
        value += c;
        ++position_;
      }
    }
    ++position_;  // the closing quote
    if (!consume(')')) return error(position_, "expected ')' after the value");
    append_test(*tree_, kind, parent, name, value);
    return absl::OkStatus();
  }

  std::string_view text_;
  size_t position_ = 0;
  Tree* tree_ = nullptr;
};

// RFC 3339 UTC text of an event time, formatted on first use into a buffer on the stack.
class TimeText {
 public:
  explicit TimeText(absl::Time time) : time_(time) {}

  std::optional<std::string_view> get() {
    if (time_ == absl::InfinitePast() || time_ == absl::InfiniteFuture()) return std::nullopt;
    if (size_ == 0) format();
    return std::string_view(buffer_, size_);
  }

 private:
  void format() {
    const absl::TimeZone::CivilInfo info = absl::UTCTimeZone().At(time_);
    const absl::CivilSecond& second = info.cs;
    // At most 40 + 10 + 1 bytes of the 64.
    auto end = fmt::format_to_n(buffer_, 40, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", second.year(),
                                second.month(), second.day(), second.hour(), second.minute(),
                                second.second())
                   .out;
    int64_t nanoseconds = absl::ToInt64Nanoseconds(info.subsecond);
    if (nanoseconds > 0) {
      int digits = 9;
      while (nanoseconds % 10 == 0) {
        nanoseconds /= 10;
        --digits;
      }
      end = fmt::format_to_n(end, 11, ".{:0{}}", nanoseconds, digits).out;
    }
    *end++ = 'Z';
    size_ = static_cast<size_t>(end - buffer_);
  }

  absl::Time time_;
  // Years are 4 digits for RFC 3339, but absl::Time spans more; 64 bytes hold any of them.
  char buffer_[64] = {};
  size_t size_ = 0;
};

std::optional<std::string_view> non_empty(std::string_view value) {
  if (value.empty()) return std::nullopt;
  return value;
}

std::optional<std::string_view> attribute_value(const Event& event, const Node& node,
                                                std::string_view name, TimeText& time) {
  switch (node.attribute) {
    case Attribute::kId:
      return non_empty(event.id);
    case Attribute::kSource:
      return non_empty(event.source);
    case Attribute::kType:
      return non_empty(event.type);
    case Attribute::kSubject:
      return non_empty(event.subject);
    case Attribute::kDataContentType:
      return non_empty(event.datacontenttype);
    case Attribute::kTopic:
      return non_empty(event.topic);
    case Attribute::kTime:
      return time.get();
    case Attribute::kExtension:
      return event.extension(name);
  }
  return std::nullopt;
}

bool test_matches(const Event& event, const Node& node, std::string_view text, TimeText& time) {
  const std::optional<std::string_view> actual =
      attribute_value(event, node, text.substr(node.name_offset, node.name_size), time);
  if (!actual) return false;
  const std::string_view expected = text.substr(node.value_offset, node.value_size);
  switch (node.kind) {
    case Kind::kExact:
      return *actual == expected;
    case Kind::kPrefix:
      return actual->starts_with(expected);
    case Kind::kSuffix:
      return actual->ends_with(expected);
    default:
      assert(false && "not a test node");
      return false;
  }
}

}  // namespace

Filter::Filter() = default;

Filter::Filter(std::shared_ptr<const detail::FilterTree> tree) : tree_(std::move(tree)) {}

Filter Filter::exact(std::string attribute, std::string value) {
  return Filter(make_test(Kind::kExact, attribute, value));
}

Filter Filter::prefix(std::string attribute, std::string value) {
  return Filter(make_test(Kind::kPrefix, attribute, value));
}

Filter Filter::suffix(std::string attribute, std::string value) {
  return Filter(make_test(Kind::kSuffix, attribute, value));
}

Filter Filter::all(std::vector<Filter> filters) {
  if (filters.empty()) return Filter();
  std::vector<const Tree*> children;
  children.reserve(filters.size());
  for (const Filter& filter : filters) children.push_back(filter.tree_.get());
  return Filter(make_combination(Kind::kAll, children));
}

Filter Filter::any(std::vector<Filter> filters) {
  std::vector<const Tree*> children;
  children.reserve(filters.size());
  for (const Filter& filter : filters) children.push_back(filter.tree_.get());
  return Filter(make_combination(Kind::kAny, children));
}

Filter Filter::negate(Filter filter) {
  const Tree* child = filter.tree_.get();
  return Filter(make_combination(Kind::kNot, std::span<const Tree* const>(&child, 1)));
}

absl::StatusOr<Filter> Filter::parse(std::string_view text) {
  absl::StatusOr<std::shared_ptr<const Tree>> tree = Parser(text).parse();
  if (!tree.ok()) return tree.status();
  return Filter(*std::move(tree));
}

absl::Status Filter::validate() const {
  if (tree_ == nullptr) return absl::OkStatus();
  const auto invalid = [&](std::string message) {
    return absl::InvalidArgumentError(fmt::format("filter {}: {}", quoted(to_string()), message));
  };
  for (const Node& node : tree_->nodes) {
    if (!is_test(node.kind)) continue;
    const std::string_view name =
        std::string_view(tree_->text).substr(node.name_offset, node.name_size);
    if (!is_valid_attribute(name)) {
      return invalid(fmt::format(
          "attribute name {} must be 1 to {} bytes of letters, digits, '_', '.' and '-'",
          quoted(name), kMaxAttributeSize));
    }
  }
  if (tree_->depth > kMaxDepth) {
    return invalid(
        fmt::format("nested {} levels deep, more than the limit of {}", tree_->depth, kMaxDepth));
  }
  if (tree_->canonical_size > kMaxTextSize) {
    return invalid(fmt::format("its text is {} bytes, over the limit of {}", tree_->canonical_size,
                               kMaxTextSize));
  }
  return absl::OkStatus();
}

std::string Filter::to_string() const {
  const std::span<const Node> nodes = nodes_of(tree_.get());
  const std::string_view text = text_of(tree_.get());
  std::string out;
  out.reserve(tree_ == nullptr ? 5 : tree_->canonical_size);
  // The ends (one past the last node) of the subtrees whose ")" is still to be written.
  std::vector<size_t> open_ends;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& node = nodes[i];
    if (i > 0 && node.parent + 1 != i) out += ", ";
    out += keyword(node.kind);
    out += '(';
    if (is_test(node.kind)) {
      out += text.substr(node.name_offset, node.name_size);
      out += ", \"";
      for (char c : text.substr(node.value_offset, node.value_size)) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
      }
      out += "\")";
    } else {
      open_ends.push_back(i + node.size);
    }
    while (!open_ends.empty() && open_ends.back() == i + 1) {
      out += ')';
      open_ends.pop_back();
    }
  }
  assert(open_ends.empty());
  return out;
}

bool Filter::matches(const Event& event) const {
  if (tree_ == nullptr || tree_->always_true) return true;
  if (tree_->always_false) return false;
  const std::span<const Node> nodes = tree_->nodes;
  const std::string_view text = tree_->text;
  TimeText time(event.time);
  size_t i = 0;
  while (true) {
    // Descend from node i along first children to a test or an empty all() / any().
    bool result = false;
    while (true) {
      const Node& node = nodes[i];
      if (is_test(node.kind)) {
        result = test_matches(event, node, text, time);
        break;
      }
      if (node.size == 1) {
        result = node.kind == Kind::kAll;
        break;
      }
      ++i;
    }
    // Climb while the result decides the parent; stop at the next sibling still to evaluate.
    while (true) {
      if (i == 0) return result;
      const size_t parent = nodes[i].parent;
      const Node& up = nodes[parent];
      if (up.kind == Kind::kNot) {
        result = !result;
        i = parent;
        continue;
      }
      // all() is decided by a false child, any() by a true one; after the last child the
      // result is that child's.
      const bool decided = up.kind == Kind::kAll ? !result : result;
      const size_t next = i + nodes[i].size;
      if (decided || next == parent + up.size) {
        i = parent;
        continue;
      }
      i = next;
      break;
    }
  }
}

bool Filter::is_match_all() const { return tree_ == nullptr || tree_->always_true; }

bool operator==(const Filter& a, const Filter& b) {
  if (a.tree_ == b.tree_) return true;
  const std::span<const Node> a_nodes = nodes_of(a.tree_.get());
  const std::span<const Node> b_nodes = nodes_of(b.tree_.get());
  if (a_nodes.size() != b_nodes.size()) return false;
  const std::string_view a_text = text_of(a.tree_.get());
  const std::string_view b_text = text_of(b.tree_.get());
  for (size_t i = 0; i < a_nodes.size(); ++i) {
    const Node& x = a_nodes[i];
    const Node& y = b_nodes[i];
    if (x.kind != y.kind || x.size != y.size) return false;
    if (is_test(x.kind) &&
        (a_text.substr(x.name_offset, x.name_size) != b_text.substr(y.name_offset, y.name_size) ||
         a_text.substr(x.value_offset, x.value_size) !=
             b_text.substr(y.value_offset, y.value_size))) {
      return false;
    }
  }
  return true;
}

}  // namespace fnhost

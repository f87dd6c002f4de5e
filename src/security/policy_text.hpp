// SPDX-License-Identifier: Apache-2.0
// Internal (src/security/policy_text.hpp).
// The text form of a policy (grammar at the top of fnhost/policy.hpp): the reader behind
// Policy::parse and the writer behind Policy::to_string. The reader checks every rule that
// Policy::create checks (with the rules of security/policy_rules.hpp), so that each error can
// name a line and byte rather than a statement index.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "fnhost/policy.hpp"

namespace fnhost::detail {

// Reads the statements of `text`. InvalidArgument "policy line L, byte B: ..." (L from 1, B from
// 0 within the line), quoting at most 64 bytes of the text.
absl::StatusOr<std::vector<PolicyStatement>> read_policy_text(std::string_view text);

// Appends `statement`'s line, '\n' included:
// "id: allow invoke,publish on function:a-*,topic:x/# for tenant-*". Each stored action is
// written by name; the reader stores '*' as the three actions, so it comes back as
// "invoke,publish,manage", which reads back as the same three.
void write_policy_statement(const PolicyStatement& statement, std::string& out);

// The size of that line, '\n' included, without writing it.
size_t policy_statement_text_size(const PolicyStatement& statement);

}  // namespace fnhost::detail

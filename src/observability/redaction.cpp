// SPDX-License-Identifier: Apache-2.0
#include "observability/redaction.hpp"

#include <algorithm>

namespace fnhost::detail {

std::shared_ptr<const std::vector<std::string>> secret_values(const FunctionSpec& spec) {
  std::vector<std::string> values;
  for (const std::string& key : spec.secret_env) {
    const auto it = spec.env.find(key);
    if (it != spec.env.end() && !it->second.empty()) values.push_back(it->second);
  }
  if (values.empty()) return nullptr;
  std::sort(values.begin(), values.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  });
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return std::make_shared<const std::vector<std::string>>(std::move(values));
}

std::string redact(std::string_view message, const std::vector<std::string>& secrets) {
  // One pass over the message, trying the longest secret first at each byte: what a marker
  // replaced is never searched again, so a secret found inside "[redacted]" cannot mangle it.
  std::string out;
  size_t copied = 0;
  for (size_t at = 0; at < message.size();) {
    const auto found = std::find_if(secrets.begin(), secrets.end(), [&](const std::string& s) {
      return message.compare(at, s.size(), s) == 0;
    });
    if (found == secrets.end()) {
      ++at;
      continue;
    }
    out.append(message.substr(copied, at - copied));
    out.append(kRedacted);
    at += found->size();
    copied = at;
  }
  out.append(message.substr(copied));
  return out;
}

}  // namespace fnhost::detail

// SPDX-License-Identifier: Apache-2.0
// A fresh directory for what a test's child processes write (configuration, logs, persistence,
// a browser profile), removed with everything in it when the test ends, failed or not; and
// reading back a file from it, to check a tool's output or print a server's log on failure.
#pragma once

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

namespace fnhost::testing {

class TemporaryDirectory {
 public:
  // A new directory "<prefix>XXXXXX" under the system's temporary directory; the prefix names
  // what left it behind should removal ever fail.
  explicit TemporaryDirectory(const std::string& prefix) {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  // Errors are ignored: a destructor must not fail the test, and a leftover is harmless.
  ~TemporaryDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The whole file, bytes as they are; empty if it cannot be read (a log not written yet).
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

}  // namespace fnhost::testing

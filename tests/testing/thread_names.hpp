// SPDX-License-Identifier: Apache-2.0
// Test helpers for looking at the process's threads by name: the calling thread's name, and the
// names of every thread in /proc/self/task (Linux), so a test can check which threads the host
// keeps and on which thread user code ran.
#pragma once

#include <pthread.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace fnhost::testing {

// The name of the calling thread (at most 15 characters on Linux), or "" if unreadable.
inline std::string current_thread_name() {
  char name[64] = {};
  if (pthread_getname_np(pthread_self(), name, sizeof(name)) != 0) return "";
  return name;
}

// The names of all threads of this process now. A thread that exits while it is read is
// skipped.
inline std::vector<std::string> thread_names() {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task", error)) {
    std::ifstream comm(entry.path() / "comm");
    std::string name;
    if (!comm || !std::getline(comm, name)) continue;
    names.push_back(std::move(name));
  }
  return names;
}

// How many threads of this process are named exactly `name`.
inline std::size_t count_threads_named(std::string_view name) {
  const std::vector<std::string> names = thread_names();
  return static_cast<std::size_t>(
      std::count_if(names.begin(), names.end(), [&](const std::string& n) { return n == name; }));
}

// How many threads of this process have a name starting with `prefix`.
inline std::size_t count_threads_with_prefix(std::string_view prefix) {
  const std::vector<std::string> names = thread_names();
  return static_cast<std::size_t>(std::count_if(names.begin(), names.end(), [&](const std::string& n) {
    return std::string_view(n).substr(0, prefix.size()) == prefix;
  }));
}

// All thread names joined with ", ", for INFO().
inline std::string describe_thread_names() {
  std::string joined;
  for (const std::string& name : thread_names()) {
    if (!joined.empty()) joined += ", ";
    joined += name;
  }
  return joined;
}

}  // namespace fnhost::testing

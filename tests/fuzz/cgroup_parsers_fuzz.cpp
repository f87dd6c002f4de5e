// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the /proc parsers of src/platform/platform.cpp: the cgroup parsers behind
// the executor's CPU count (any bytes read from /proc/self/cgroup or cpu.max must parse without
// crashing, and a parsed CPU count is >= 1) and the syscall-line reader behind the monitor's
// lock-wait check (any bytes; a "yes" needs at least four fields).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "platform/platform.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (const auto cpus = fnhost::detail::platform::cpus_from_cgroup_cpu_max(text)) {
    if (*cpus < 1) std::abort();
  }
  if (const auto path = fnhost::detail::platform::cgroup_v2_path(text)) {
    if (path->size() > size) std::abort();
  }
  if (fnhost::detail::platform::syscall_waits_for_lock(text) && size < 7) std::abort();
  return 0;
}

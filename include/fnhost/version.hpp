// SPDX-License-Identifier: Apache-2.0
// File: fnhost/version.hpp
// The library version, for code that must adapt to it.
#pragma once

#define FNHOST_VERSION_MAJOR 0
#define FNHOST_VERSION_MINOR 1
#define FNHOST_VERSION_PATCH 0

namespace fnhost {
inline constexpr const char* kVersion = "0.1.0";
}  // namespace fnhost

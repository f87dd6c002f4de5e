// SPDX-License-Identifier: Apache-2.0
// File: fnhost/version.hpp
// The library version, for code that must adapt to it. The one place it is written: CMake reads
// it from here.
#pragma once

#define FNHOST_VERSION_MAJOR 0
#define FNHOST_VERSION_MINOR 1
#define FNHOST_VERSION_PATCH 0

#define FNHOST_VERSION_STRINGIFY_(x) #x
#define FNHOST_VERSION_STRINGIFY(x) FNHOST_VERSION_STRINGIFY_(x)

namespace fnhost {
// "major.minor.patch".
inline constexpr const char* kVersion =
    FNHOST_VERSION_STRINGIFY(FNHOST_VERSION_MAJOR) "." FNHOST_VERSION_STRINGIFY(
        FNHOST_VERSION_MINOR) "." FNHOST_VERSION_STRINGIFY(FNHOST_VERSION_PATCH);
}  // namespace fnhost

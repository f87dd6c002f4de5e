# SPDX-License-Identifier: Apache-2.0
# fnhost_set_warnings(<target>)
#
# Adds fnhost's warning flags to <target> as PRIVATE compile options (they never reach a
# consumer): -Wall -Wextra -Wpedantic -Wconversion -Wshadow, plus -Werror when
# FNHOST_WARNINGS_AS_ERRORS is ON (every preset and CI turn it on). Clang builds also get
# -Wthread-safety for the ABSL_GUARDED_BY annotations. The -Wno-* exceptions are explained
# below. MSVC gets the nearest equivalents.
include_guard(GLOBAL)

function(fnhost_set_warnings target)
  if(NOT TARGET ${target})
    message(FATAL_ERROR "fnhost_set_warnings: '${target}' is not a target")
  endif()
  if(MSVC)
    target_compile_options(${target} PRIVATE /W4 /permissive-)
    if(FNHOST_WARNINGS_AS_ERRORS)
      target_compile_options(${target} PRIVATE /WX)
    endif()
    return()
  endif()
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wconversion -Wshadow)
  # fnhost's options are aggregates filled with designated initializers that name only the
  # fields they change ({.name = "echo", .handler = ...}); GCC < 14 reports every omitted field
  # under -Wextra's -Wmissing-field-initializers, which would reject the intended usage.
  target_compile_options(${target} PRIVATE -Wno-missing-field-initializers)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    # GCC 12 at -O3 reports std::string members of default-constructed options (the SSO
    # buffer) as maybe-uninitialized (GCC PR 105562 and duplicates), which fails Release
    # builds under -Werror for correct code. -Wuninitialized (definite cases) stays on.
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
    # GCC 12 at -O3 also reports assigning a string literal to a std::string as an overlapping
    # memcpy of ~2^63 bytes (-Wrestrict, GCC PR 105329), again for correct code.
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    target_compile_options(${target} PRIVATE -Wthread-safety)
  endif()
  if(FNHOST_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

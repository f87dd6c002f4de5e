# SPDX-License-Identifier: Apache-2.0
# fnhost_enable_sanitizer(<target> [PRIVATE|PUBLIC])
#
# Applies the sanitizer chosen by FNHOST_SANITIZER to <target>'s compile and link options
# (never to CMAKE_CXX_FLAGS):
#   ""        nothing
#   address   AddressSanitizer + UndefinedBehaviorSanitizer (UB is fatal, not just reported)
#   thread    ThreadSanitizer
# PRIVATE (the default) instruments just <target>. PUBLIC is for the library: the flags also
# propagate to every in-tree target linking it, wrapped in $<BUILD_INTERFACE:...> so the
# installed package never carries them.
include_guard(GLOBAL)

set(_fnhost_known_sanitizers "" address thread)
if(NOT FNHOST_SANITIZER IN_LIST _fnhost_known_sanitizers)
  message(FATAL_ERROR
    "FNHOST_SANITIZER must be empty, 'address' or 'thread', got '${FNHOST_SANITIZER}'")
endif()
if(FNHOST_SANITIZER AND MSVC)
  message(FATAL_ERROR "FNHOST_SANITIZER is supported with GCC and Clang only")
endif()

function(fnhost_enable_sanitizer target)
  if(NOT TARGET ${target})
    message(FATAL_ERROR "fnhost_enable_sanitizer: '${target}' is not a target")
  endif()
  set(scope PRIVATE)
  if(ARGC GREATER 1)
    set(scope ${ARGV1})
  endif()

  if(FNHOST_SANITIZER STREQUAL "address")
    set(flags -fsanitize=address,undefined -fno-sanitize-recover=undefined
              -fno-omit-frame-pointer)
  elseif(FNHOST_SANITIZER STREQUAL "thread")
    set(flags -fsanitize=thread -fno-omit-frame-pointer)
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      # GCC's -Wtsan flags every std::atomic_thread_fence as not modelled by TSan, and
      # moodycamel's queue (included by src/ and tests) uses them: under -Werror that would stop
      # the build. If TSan ever reports a race inside moodycamel:: because of a missed fence,
      # that is the place for a narrow suppression in tests/tsan.supp.
      list(APPEND flags -Wno-tsan)
    endif()
  else()
    return()
  endif()

  if(NOT scope STREQUAL "PRIVATE")
    list(TRANSFORM flags REPLACE "^(.+)$" "$<BUILD_INTERFACE:\\1>")
  endif()
  target_compile_options(${target} ${scope} ${flags})
  target_link_options(${target} ${scope} ${flags})
endfunction()

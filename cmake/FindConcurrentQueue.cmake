# SPDX-License-Identifier: Apache-2.0
# FindConcurrentQueue
# -------------------
# Finds moodycamel::ConcurrentQueue (header-only), e.g. Debian's libconcurrentqueue-dev, which
# ships /usr/include/concurrentqueue/*.h and no CMake package.
#
# Code includes it as <concurrentqueue/blockingconcurrentqueue.h>.
#
# Tries, in order:
#   1. an upstream/vcpkg CMake config package `concurrentqueue` (target
#      concurrentqueue::concurrentqueue), making sure the include path above still resolves;
#   2. find_path() for concurrentqueue/blockingconcurrentqueue.h.
#
# Result variables:
#   ConcurrentQueue_FOUND         TRUE when the headers were found
#   ConcurrentQueue_INCLUDE_DIRS  the directory holding concurrentqueue/
# Cache variable:
#   ConcurrentQueue_INCLUDE_DIR   same, settable by hand
# Imported target:
#   concurrentqueue::concurrentqueue  INTERFACE IMPORTED
include(FindPackageHandleStandardArgs)

set(_cq_hints "")
if(NOT TARGET concurrentqueue::concurrentqueue)
  find_package(concurrentqueue CONFIG QUIET)
endif()
if(TARGET concurrentqueue::concurrentqueue)
  # Upstream's config points inside the install (…/include/concurrentqueue/moodycamel), so look
  # for our include layout at and above its include directories.
  get_target_property(_cq_dirs concurrentqueue::concurrentqueue INTERFACE_INCLUDE_DIRECTORIES)
  if(_cq_dirs)
    foreach(_cq_dir IN LISTS _cq_dirs)
      get_filename_component(_cq_up1 "${_cq_dir}" DIRECTORY)
      get_filename_component(_cq_up2 "${_cq_up1}" DIRECTORY)
      list(APPEND _cq_hints "${_cq_dir}" "${_cq_up1}" "${_cq_up2}")
    endforeach()
  endif()
endif()

find_path(ConcurrentQueue_INCLUDE_DIR
  NAMES concurrentqueue/blockingconcurrentqueue.h
  HINTS ${_cq_hints}
  DOC "Directory containing concurrentqueue/blockingconcurrentqueue.h")
mark_as_advanced(ConcurrentQueue_INCLUDE_DIR)

find_package_handle_standard_args(ConcurrentQueue
  REQUIRED_VARS ConcurrentQueue_INCLUDE_DIR)

if(ConcurrentQueue_FOUND)
  set(ConcurrentQueue_INCLUDE_DIRS "${ConcurrentQueue_INCLUDE_DIR}")
  if(TARGET concurrentqueue::concurrentqueue)
    # The config's target exists: add our include layout to it if it lacks it.
    get_target_property(_cq_dirs concurrentqueue::concurrentqueue INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT "${ConcurrentQueue_INCLUDE_DIR}" IN_LIST _cq_dirs)
      set_property(TARGET concurrentqueue::concurrentqueue APPEND PROPERTY
        INTERFACE_INCLUDE_DIRECTORIES "${ConcurrentQueue_INCLUDE_DIR}")
    endif()
  else()
    add_library(concurrentqueue::concurrentqueue INTERFACE IMPORTED)
    set_target_properties(concurrentqueue::concurrentqueue PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${ConcurrentQueue_INCLUDE_DIR}")
  endif()
endif()

unset(_cq_hints)
unset(_cq_dirs)
unset(_cq_dir)
unset(_cq_up1)
unset(_cq_up2)

// SPDX-License-Identifier: Apache-2.0
// Internal (connectors/http/src/dashboard_page.hpp).
// The dashboard page served at `/`: connectors/http/dashboard/index.html, embedded at build
// time (CMake writes it into a generated .cpp), one self-contained document.
#pragma once

#include <string_view>

namespace fnhost::http::detail {

// The page's bytes (UTF-8 HTML), static for the life of the program.
std::string_view dashboard_page();

}  // namespace fnhost::http::detail

// SPDX-License-Identifier: Apache-2.0
// File: fnhost/fnhost.hpp
// The whole public API of fnhost: include this one header.
#pragma once

#include "fnhost/caller.hpp"
#include "fnhost/clock.hpp"
#include "fnhost/completion.hpp"
#include "fnhost/delivery.hpp"
#include "fnhost/event.hpp"
#include "fnhost/executor.hpp"
#include "fnhost/filter.hpp"
#include "fnhost/function.hpp"
#include "fnhost/host.hpp"
#include "fnhost/limits.hpp"
#include "fnhost/metering.hpp"
#include "fnhost/metrics.hpp"
#include "fnhost/observability.hpp"
#include "fnhost/policy.hpp"
#include "fnhost/router.hpp"
#include "fnhost/schedule.hpp"
#include "fnhost/task.hpp"
#include "fnhost/trace.hpp"
#include "fnhost/tracing.hpp"
#include "fnhost/version.hpp"

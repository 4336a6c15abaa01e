// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// X10: the clock of run and delivery times.
#pragma once

#include <QtCore/qglobal.h>

#include <chrono>
#include <cstdint>

#if defined(Q_OS_LINUX)
#include <time.h>
#endif

namespace qdispatch::detail {

// Run and delivery times are read in nanoseconds on the monotonic clock's epoch, in one of two
// ways, chosen per executor from its thresholds (ExecutorBooks::setSlowItemThresholds()):
// - coarse: CLOCK_MONOTONIC_COARSE, the time of the kernel's last timekeeping update. About 3 ns
//   a reading, where the precise one costs 20-55 ns, against tiny items of 150-200 ns (P7); but
//   it moves in steps of a tick (1-4 ms) and lags the precise clock by up to a step, more when
//   ticks come late (on the project's 2-core virtual machine, up to 7.7 ms with 4 ms steps while
//   builds ran, up to 22 ms right after a wake-up on an idle machine whose kernel stops idle
//   ticks), so a time read with it may be off by about two steps either way, sometimes more.
//   Linux only.
// - precise: std::chrono::steady_clock, which on Linux is CLOCK_MONOTONIC, the same epoch.
// A time read coarse is recorded and reported in whole steps (wholeSteps()), so a report never
// shows a precision its clock did not have. The kernel's steps themselves are not all equal (NTP
// slews them; a late or early update moves one), so two coarse readings need not differ by a
// whole number of steps: the time is rounded, only on the rare path of a record or a report.
namespace diagclock {

// Every threshold must be at least this many steps for the coarse clock to be used: an item's
// time is then off by less than a tenth of the threshold it is judged by, late ticks included.
inline constexpr std::int64_t kCoarseStepsPerThreshold = 25;

inline std::int64_t preciseNs() noexcept
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// The coarse clock's step in nanoseconds; 0 where there is none (then coarseNs() is precise).
std::int64_t coarseStepNs() noexcept;

inline std::int64_t coarseNs() noexcept
{
#if defined(Q_OS_LINUX) && defined(CLOCK_MONOTONIC_COARSE)
    timespec now;
    if (Q_LIKELY(clock_gettime(CLOCK_MONOTONIC_COARSE, &now) == 0))
        return std::int64_t(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
#endif
    return preciseNs();
}

// `ns` (a time read coarse; negative: not measured, kept) to the nearest whole number of steps.
inline std::int64_t wholeSteps(std::int64_t ns) noexcept
{
    const std::int64_t step = coarseStepNs();
    if (ns < 0 || step == 0)
        return ns;
    return (ns + step / 2) / step * step;
}

// Whether thresholds of `runNs` and `deliveryNs` (0: off) are read on the coarse clock.
inline bool coarseFor(std::int64_t runNs, std::int64_t deliveryNs) noexcept
{
    const std::int64_t step = coarseStepNs();
    const auto coarseEnough = [step](std::int64_t threshold) {
        return threshold == 0 || threshold >= kCoarseStepsPerThreshold * step;
    };
    return step != 0 && coarseEnough(runNs) && coarseEnough(deliveryNs);
}

inline std::int64_t nowNs(bool coarse) noexcept
{
    return coarse ? coarseNs() : preciseNs();
}

} // namespace diagclock
} // namespace qdispatch::detail

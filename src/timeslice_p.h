// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// The time slice of a drain of the owner thread (C3, P5).
#pragma once

#include <algorithm>
#include <chrono>
#include <utility>

namespace qdispatch::detail {

// How a time slice reads the clock after a step of a drain.
enum class ClockRead {
    ByStride, // after an item: only every `stride` items
    Now // after a step that was not an item: whatever the stride
};

// The time slice of a drain: how long one wake-up may run items before the drain yields to the
// event loop, so that a flood of submissions cannot starve paint events and timers (C3, P5).
// Reading the clock after every item costs a tenth of a tiny item's time, so it is read after
// every `stride` items: the stride doubles (up to 64) while that many items take less than
// 100 µs, and halves when they take more than 400 µs. A slice therefore overruns by at most
// about 400 µs while items keep their size. The slice keeps its own precise readings even while
// the X10 books time every item: theirs may come from a clock that moves in steps as long as a
// whole slice (diagclock_p.h).
class TimeSlice
{
public:
    static constexpr auto kLength = std::chrono::milliseconds(4);

    TimeSlice() { restart(); }

    void restart()
    {
        m_last = Clock::now();
        m_end = m_last + kLength;
        m_countdown = m_stride;
    }
    bool usedUp(ClockRead read = ClockRead::ByStride)
    {
        const bool now = read == ClockRead::Now;
        if (--m_countdown > 0 && !now)
            return false;
        const Clock::time_point time = Clock::now();
        const auto took = time - std::exchange(m_last, time);
        if (took < std::chrono::microseconds(100))
            m_stride = std::min(m_stride * 2, 64);
        else if (took > std::chrono::microseconds(400))
            m_stride = std::max(m_stride / 2, 1);
        m_countdown = m_stride;
        return time >= m_end;
    }

private:
    using Clock = std::chrono::steady_clock;

    Clock::time_point m_last;
    Clock::time_point m_end;
    int m_stride = 1;
    int m_countdown = 1;
};

} // namespace qdispatch::detail

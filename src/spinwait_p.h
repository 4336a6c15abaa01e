// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// A short, bounded and adaptive spin before a thread parks: invoke()'s wait for its result, and
// an ExecutorOnly wait's wait for the next item (docs/architecture.md, "Spinning before a sleep").
#pragma once

#include <chrono>
#include <cstdint>

#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <immintrin.h>
#endif

namespace qdispatch::detail {

// Tells the CPU that this thread is spinning: on x86 `pause`, on ARM `yield`, so that the
// sibling hyperthread runs and leaving the loop costs no mispredicted memory order.
inline void cpuRelax() noexcept
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
    _mm_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

// How long one thread spins before it parks, learnt from what its recent waits of one kind
// needed. A spin that saw what it waited for moves the budget halfway towards twice what it
// needed; a spin that ran out halves it, and below a microsecond the thread stops spinning. A
// thread that does not spin learns from its sleeps instead: one that ended within the longest
// budget (wake-up included) starts it spinning again. So a wait that is always served late
// stops spinning after a few waits, and one that is served quickly again starts once more.
class SpinBudget
{
public:
    static constexpr std::int64_t kMinNs = 1'000;

    // Nanoseconds to spin at most in the next wait; 0: park at once.
    std::int64_t ns() const noexcept;
    // The wait is over: it needed `neededNs` from its start, and its spin (of `spentNs`, 0 when
    // it did not spin) `served` it or not.
    void learn(std::int64_t neededNs, std::int64_t spentNs, bool served) noexcept;

private:
    // Negative until the first wait: the longest budget then.
    std::int64_t m_ns = -1;
};

// The longest spin, in nanoseconds: QDISPATCH_SPIN_US microseconds (50 is the value measured
// in docs/architecture.md; unset or 0: never spin, the default for now), and 0 on a machine with
// one CPU, where a spinning thread only delays the one it waits for. Read once.
std::int64_t longestSpinNs() noexcept;

// The budgets of the calling thread: invoke()'s wait for a result from another thread, and an
// ExecutorOnly wait's wait for its next item.
SpinBudget &invokeSpinBudget() noexcept;
SpinBudget &ownerSpinBudget() noexcept;

// One wait of one thread: spin() first, then, if that did not serve it, the caller parks;
// finished() once the wait got what it waited for (or gave up), to teach the budget.
class SpinWait
{
public:
    using Clock = std::chrono::steady_clock;

    explicit SpinWait(SpinBudget &budget) noexcept
        : m_budget(budget), m_start(Clock::now()), m_limitNs(budget.ns())
    { }
    SpinWait(const SpinWait &) = delete;
    SpinWait &operator=(const SpinWait &) = delete;

    // Polls `ready` until it returns true (true) or the budget is spent (false). Checks the
    // clock after every few polls only.
    template<typename Ready> bool spin(Ready &&ready) noexcept
    {
        if (m_limitNs <= 0)
            return ready();
        const Clock::time_point end = m_start + std::chrono::nanoseconds(m_limitNs);
        for (;;) {
            for (int i = 0; i < kPollsPerClockRead; ++i) {
                if (ready()) {
                    m_served = true;
                    return true;
                }
                cpuRelax();
            }
            if (Clock::now() >= end) {
                m_spentNs = m_limitNs;
                return ready();
            }
        }
    }
    void finished() noexcept
    {
        const std::int64_t needed =
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - m_start).count();
        m_budget.learn(needed, m_served ? needed : m_spentNs, m_served);
    }

private:
    static constexpr int kPollsPerClockRead = 8;

    SpinBudget &m_budget;
    Clock::time_point m_start;
    std::int64_t m_limitNs;
    std::int64_t m_spentNs = 0;
    bool m_served = false;
};

} // namespace qdispatch::detail

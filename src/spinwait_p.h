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
// needed.
// - The length: a spin that saw what it waited for moves the budget halfway towards twice what
//   it needed; a spin that ran out halves it, and below a microsecond the thread stops spinning.
//   So a wait that is always served late stops spinning after a few waits.
// - Whether spinning pays at all: the budget keeps the average time of the waits a spin served
//   and of those a sleep served (only sleeps short enough that a spin could have served them).
//   Where the spun ones take longer, spinning costs more than it saves (the thread it waits
//   for is kept off a CPU: a machine busier than it has CPUs), and the thread stops spinning.
//   Every kProbeEvery-th wait goes the other way (sleeps while spinning, spins while not), so
//   that both averages follow what the machine does now.
// - Starting again: a thread that does not spin learns from its sleeps. One that ended within
//   the longest budget, wake-up included, starts it spinning again, unless spinning was seen to
//   lose.
class SpinBudget
{
public:
    static constexpr std::int64_t kMinNs = 1'000;
    static constexpr unsigned kProbeEvery = 32;

    // Nanoseconds to spin at most in the next wait; 0: park at once. Counts the waits.
    std::int64_t next() noexcept;
    // The wait is over: it needed `neededNs` from its start, and its spin (of `spentNs`, 0 when
    // it did not spin) `served` it or not.
    void learn(std::int64_t neededNs, std::int64_t spentNs, bool served) noexcept;

    // For tests: the budget, and the two averages (-1: none yet).
    std::int64_t budgetNs() const noexcept { return m_ns; }
    std::int64_t spunAverageNs() const noexcept { return m_spunNs; }
    std::int64_t sleptAverageNs() const noexcept { return m_sleptNs; }

private:
    bool spinningLoses() const noexcept;

    // Negative until the first wait: the longest budget then.
    std::int64_t m_ns = -1;
    std::int64_t m_spunNs = -1;
    std::int64_t m_sleptNs = -1;
    unsigned m_waits = 0;
};

// The longest spin, in nanoseconds: QDISPATCH_SPIN_US microseconds (50 is the value measured
// in docs/architecture.md, and the default; 0: never spin), and 0 on a machine with one CPU,
// where a spinning thread only delays the one it waits for. Read once.
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
        : m_budget(budget), m_start(Clock::now()), m_limitNs(budget.next())
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

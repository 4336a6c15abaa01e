// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// X10: an executor's books, except what its queue counts itself (ItemQueue::Counts).
#pragma once

#include "statelock_p.h"
#include "trace_p.h"

#include <qdispatch/currentthreadexecutor.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <typeinfo>

namespace qdispatch::detail {

// X10: the counts the queue cannot keep (callables replaced while queued, items handed down the
// chain or failed at a break), the longest run and delivery with the names of their items, and
// the slow-item thresholds with the stamp they ask of every submit. The claims, the skips and
// the high-water mark are the queue's (ItemQueue). docs/diagnostics.md says what is reported.
//
// accepted = queued + claimed + replaced + handed off + failed;
// run = claimed - skipped; cancelled = skipped + replaced.
class ExecutorBooks
{
public:
    // The longest run or delivery and its item's name. In a flood every few items start a little
    // later than the one before and set a new delivery record, so setting one takes no lock: the
    // owner thread is the only writer, and a reader on any thread retries while a write is half
    // done (a sequence lock made of atomics, which ThreadSanitizer follows).
    class Record
    {
    public:
        struct Value
        {
            std::int64_t ns = 0;
            CallableName name;
        };
        // Owner thread only.
        std::int64_t ns() const noexcept { return m_ns.load(std::memory_order_relaxed); }
        void set(std::int64_t ns, CallableName name) noexcept;
        // Any thread.
        Value get() const noexcept;

    private:
        std::atomic<std::uint64_t> m_version { 0 }; // odd while a write is under way
        std::atomic<std::int64_t> m_ns { 0 };
        std::atomic<const std::type_info *> m_type { nullptr };
        std::atomic<const char *> m_signature { nullptr };
    };

    struct Counts
    {
        std::uint64_t replaced = 0; // postLatest() callables replaced while queued (X2)
        std::uint64_t handedOff = 0;
        std::uint64_t failed = 0;
    };

    ExecutorBooks() = default;
    ExecutorBooks(const ExecutorBooks &) = delete;
    ExecutorBooks &operator=(const ExecutorBooks &) = delete;

    // Zero switches one off; a negative threshold is zero.
    void setSlowItemThresholds(const StateLock &, std::chrono::nanoseconds run,
                               std::chrono::nanoseconds delivery);
    // Any thread, without a lock (a report may use the old value for a moment).
    std::int64_t runThresholdNs() const noexcept
    {
        return m_runThresholdNs.load(std::memory_order_relaxed);
    }
    std::int64_t deliveryThresholdNs() const noexcept
    {
        return m_deliveryThresholdNs.load(std::memory_order_relaxed);
    }
    // Whether times are read on the coarse clock (diagclock_p.h): every threshold set is many of
    // its steps long. Any thread, without a lock.
    bool coarseClock() const noexcept { return m_coarse.load(std::memory_order_relaxed); }
    // Producers, before the push: stamps `item` with the time and the calling thread when a
    // slow-item threshold is set or a trace is recorded (X12: then it also records the start of
    // the item's flow). One relaxed load of each flag when neither is.
    void stampIfTimed(WorkItem *item) const noexcept
    {
#if QDISPATCH_DIAGNOSTICS
        if (m_stamping.load(std::memory_order_relaxed) || Q_UNLIKELY(tracing()))
            stamp(item);
#else
        Q_UNUSED(item);
#endif
    }

    void countReplaced(const StateLock &) noexcept
    {
        ++m_replaced;
    }
    void countHandedOff(const StateLock &, std::uint64_t count) noexcept
    {
        m_handedOff += count;
    }
    void countFailed(const StateLock &, std::uint64_t count) noexcept
    {
        m_failed += count;
    }
    Counts counts(const StateLock &) const noexcept
    {
        return { m_replaced, m_handedOff, m_failed };
    }
    // Any thread, each one moment's.
    Record::Value longestRun() const noexcept
    {
        return m_longestRun.get();
    }
    Record::Value longestDelivery() const noexcept
    {
        return m_longestDelivery.get();
    }

private:
    // The owner thread's drains set the records and the late flag, item by item.
    friend class ItemBooks;

    void stamp(WorkItem *item) const noexcept;

    // Under the state lock.
    std::uint64_t m_replaced = 0;
    std::uint64_t m_handedOff = 0;
    std::uint64_t m_failed = 0;
    // Written by the owner thread only.
    Record m_longestRun;
    Record m_longestDelivery;
    bool m_lateReported = false; // late items go unreported until one is not
    // The thresholds, ns (0: off); read without a lock by every producer, so on a cache line of
    // their own, apart from what the owner and the producers keep writing.
    alignas(64) std::atomic<std::int64_t> m_runThresholdNs { 0 };
    std::atomic<std::int64_t> m_deliveryThresholdNs { 0 };
    // Whether either is set: the one test a submit makes when none is (written under the state
    // lock).
    std::atomic<bool> m_stamping { false };
    // Which clock stamps and runs are read on (written under the state lock).
    std::atomic<bool> m_coarse { false };
};

} // namespace qdispatch::detail

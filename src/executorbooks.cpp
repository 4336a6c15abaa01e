// X10, an executor's books: the slow-item thresholds and the stamp a submit takes while one is
// set, the records (longest run and delivery) and the counts the queue does not keep.
#include "executorbooks_p.h"

#include "diagclock_p.h"
#include "diagnostics_p.h"
#include "diagversion_p.h"

#include <algorithm>
#include <thread>

namespace qdispatch::detail {

std::int64_t diagclock::coarseStepNs() noexcept
{
#if defined(Q_OS_LINUX) && defined(CLOCK_MONOTONIC_COARSE)
    static const std::int64_t step = [] {
        timespec resolution;
        if (clock_getres(CLOCK_MONOTONIC_COARSE, &resolution) != 0)
            return std::int64_t(0);
        return std::int64_t(resolution.tv_sec) * 1'000'000'000 + resolution.tv_nsec;
    }();
    return step;
#else
    return 0;
#endif
}

void ExecutorBooks::setSlowItemThresholds(const StateLock &, std::chrono::nanoseconds run,
                                          std::chrono::nanoseconds delivery)
{
    // Under the state lock, so that two threads setting thresholds at once cannot leave
    // m_stamping disagreeing with the thresholds that stay.
    const std::int64_t runNs = std::max<std::int64_t>(0, run.count());
    const std::int64_t deliveryNs = std::max<std::int64_t>(0, delivery.count());
    m_runThresholdNs.store(runNs, std::memory_order_relaxed);
    m_deliveryThresholdNs.store(deliveryNs, std::memory_order_relaxed);
    m_stamping.store(runNs != 0 || deliveryNs != 0, std::memory_order_relaxed);
    m_coarse.store(diagclock::coarseFor(runNs, deliveryNs), std::memory_order_relaxed);
    // A drain under way reads the thresholds again before its next item.
    diagnosticsSettingsChanged();
}

void ExecutorBooks::stamp(WorkItem *item) const noexcept
{
#if QDISPATCH_DIAGNOSTICS
    // X12: a traced item carries the precise time, which serves a delivery threshold as well.
    if (tracing()) {
        const TraceStamp stamp = traceAccept();
        if (stamp.submitter != 0) {
            item->m_acceptedAt = stamp.acceptedNs;
            item->m_submitter = stamp.submitter;
            return;
        }
    }
    if (!m_stamping.load(std::memory_order_relaxed))
        return;
    // The clock only for a delivery threshold: it is most of what stamping costs (P7).
    std::uint64_t mark = 0;
    if (m_deliveryThresholdNs.load(std::memory_order_relaxed) != 0) {
        const bool coarse = m_coarse.load(std::memory_order_relaxed);
        item->m_acceptedAt = diagclock::nowNs(coarse);
        mark = coarse ? kCoarseStamp : 0;
    }
    item->m_submitter = submitterSerial() | mark;
#else
    Q_UNUSED(item);
#endif
}

void ExecutorBooks::Record::set(std::int64_t ns, CallableName name) noexcept
{
    const std::uint64_t version = m_version.load(std::memory_order_relaxed);
    m_version.store(version + 1, std::memory_order_relaxed);
    // Release: a reader that sees any of these values also sees the odd version before them,
    // and so retries when it reads the version again.
    m_ns.store(ns, std::memory_order_release);
    m_type.store(name.type, std::memory_order_release);
    m_signature.store(name.signature, std::memory_order_release);
    m_version.store(version + 2, std::memory_order_release);
}

ExecutorBooks::Record::Value ExecutorBooks::Record::get() const noexcept
{
    for (;;) {
        const std::uint64_t version = m_version.load(std::memory_order_acquire);
        if (version & 1) {
            std::this_thread::yield(); // the owner thread is in the middle of set()
            continue;
        }
        Value value;
        value.ns = m_ns.load(std::memory_order_acquire);
        value.name.type = m_type.load(std::memory_order_acquire);
        value.name.signature = m_signature.load(std::memory_order_acquire);
        if (m_version.load(std::memory_order_relaxed) == version)
            return value;
    }
}

} // namespace qdispatch::detail

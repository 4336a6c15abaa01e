// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// X12, a timeline: what the hot paths call to record it. While no trace is recorded, each of
// them costs one relaxed load of g_tracing (P7). Implemented in trace.cpp, which also writes the
// file; docs/diagnostics.md says what the file holds.
#pragma once

#include "diagclock_p.h"

#include <qdispatch/currentthreadexecutor.h>

#include <QtCore/QLoggingCategory>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace qdispatch {

Q_DECLARE_LOGGING_CATEGORY(lcTrace) // "qdispatch.trace"

namespace detail {

// Whether a trace is being recorded. A thread that still reads true for a moment after
// stopTrace() records into a buffer that no file will see (trace.cpp drops it).
inline std::atomic<bool> g_tracing { false };
inline bool tracing() noexcept
{
    return g_tracing.load(std::memory_order_relaxed);
}

// The mark a traced submit leaves in WorkItem::m_submitter, above the submitter's serial: its
// m_acceptedAt is the trace's clock, and its run writes a flow from the submitting thread.
// Serials count threads and never come near it.
constexpr std::uint64_t kTracedSubmit = std::uint64_t(1) << 63;
// X10: the mark of an m_acceptedAt read on the coarse clock (diagclock_p.h) rather than the
// precise one. A delivery time needs both its ends read on one clock.
constexpr std::uint64_t kCoarseStamp = std::uint64_t(1) << 62;
constexpr std::uint64_t submitterSerialOf(std::uint64_t stamp) noexcept
{
    return stamp & ~(kTracedSubmit | kCoarseStamp);
}

// Producer, while tracing: the item's accepted time (precise clock, ns) and the calling thread's
// serial with kTracedSubmit. Records nothing: the item's run writes its flow from these.
struct TraceStamp
{
    std::int64_t acceptedNs = 0;
    std::uint64_t submitter = 0;
};
TraceStamp traceAccept() noexcept;

// Owner thread: one item ran from `startNs` to `endNs` on executor `executor`.
// `acceptedNs`/`submitter` are the item's stamps (WorkItem::m_acceptedAt, m_submitter).
void traceRun(CallableName name, const void *executor, std::int64_t startNs, std::int64_t endNs,
              std::int64_t acceptedNs, std::uint64_t submitter) noexcept;

// A runUntilFuture() or invoke() wait, recorded when it ends if a trace was being recorded when
// it began. `what` is a string literal ("invoke", "runUntilFuture (ExecutorOnly)", ...).
class TraceWait
{
public:
    TraceWait(const char *what, const void *executor) noexcept
    {
        if (Q_UNLIKELY(tracing()))
            begin(what, executor);
    }
    ~TraceWait()
    {
        if (Q_UNLIKELY(m_what != nullptr))
            end();
    }
    TraceWait(const TraceWait &) = delete;
    TraceWait &operator=(const TraceWait &) = delete;

private:
    void begin(const char *what, const void *executor) noexcept;
    void end() noexcept;

    const char *m_what = nullptr;
    const void *m_executor = nullptr;
    std::int64_t m_startNs = 0;
};

// How a trace names a runUntilFuture() wait in `mode` (hangreports.cpp, beside the modes' names).
const char *traceWaitName(RunMode mode) noexcept;

// The first executor of the process starts the trace QDISPATCH_TRACE asks for (once).
void applyTraceEnvironment();

// The clock of a trace: the precise one (a timeline needs microseconds), on the same epoch as
// X10's stamps.
inline std::int64_t traceClockNs() noexcept
{
    return diagclock::preciseNs();
}

} // namespace detail
} // namespace qdispatch

/// \file
/// X10: ExecutorStats, what an executor has done so far (CurrentThreadExecutor::stats(),
/// ExecutorHandle::stats()). Included by `<qdispatch/currentthreadexecutor.h>`; docs/diagnostics.md
/// says what each field counts.
#pragma once

#include <QtCore/QString>
#include <QtCore/QtGlobal>

#include <chrono>

namespace qdispatch {

/// X10: what an executor has done so far, from CurrentThreadExecutor::stats(). A plain value: a
/// snapshot of one moment, from any thread; none of the five totals ever goes down from one
/// snapshot to a later one. docs/diagnostics.md has the details.
struct ExecutorStats
{
    // Counted always (a library built with QDISPATCH_DIAGNOSTICS=OFF keeps no peakPending).
    // Every accepted item is in exactly one of pending, run, cancelled, handed off or failed, so
    // with no item running: accepted == run + cancelled + handedOff + failed + pendingCount().
    quint64 accepted = 0; ///< items queued here: submitted, posted, or handed down to it (C12)
    quint64 run = 0; ///< items whose callable was called (also one running now)
    /// Items skipped before they started: their future cancelled (C6), their context object gone
    /// (X8), or their callable replaced by a later postLatest() while queued (X2).
    quint64 cancelled = 0;
    quint64 handedOff = 0; ///< items moved down the chain when this executor broke (C12)
    /// Items failed with ExecutorError{Broken}: no live executor was left (C12).
    quint64 failed = 0;
    /// The most items queued here at once, as seen whenever the owner thread took what producers
    /// had queued, whenever the executor broke with items queued, and whenever pendingCount() or
    /// stats() looked. Producers keep no count (one atomic operation per submit), so a backlog
    /// that built up while the owner was still running an earlier one, and went unobserved,
    /// counts without that earlier one's rest.
    quint64 peakPending = 0;
    ///@{
    /// Kept only while a slow-item threshold is set (setSlowItemThresholds()), the delivery
    /// record only for items accepted while a delivery threshold was set; zero and empty
    /// otherwise. Delivery is the time from accepted to started.
    std::chrono::nanoseconds longestRun { 0 };
    std::chrono::nanoseconds longestDelivery { 0 };
    ///@}
    QString longestRunItem; ///< the item's name: its callable's type, as slow-item reports give it
    QString longestDeliveryItem; ///< the same for the item delivered latest
};

} // namespace qdispatch

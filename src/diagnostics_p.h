// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// X10, seeing inside: the books an owner thread keeps while it runs items (counts, and with a
// slow-item threshold set, run and delivery times and the reports), and the watch that reports a
// wait that hangs. Implemented in diagnostics.cpp; docs/diagnostics.md says what is reported.
#pragma once

#include "executorstate_p.h"

#include <QtCore/QDeadlineTimer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QLoggingCategory>

#include <algorithm>
#include <chrono>
#include <optional>
#include <type_traits>
#include <cstdint>
#include <memory>

QT_BEGIN_NAMESPACE
class QTimer;
QT_END_NAMESPACE

namespace qdispatch {

Q_DECLARE_LOGGING_CATEGORY(lcSlow) // "qdispatch.slow": slow-item reports
Q_DECLARE_LOGGING_CATEGORY(lcHang) // "qdispatch.hang": hang reports

namespace detail {

// X10: the hang threshold in nanoseconds (0: off), and the report of an invoke() that has blocked
// a thread without an executor that long (hangreports.cpp).
std::int64_t hangThresholdNs() noexcept;
void reportBlockedInvoke(const ExecutorState *target, std::chrono::nanoseconds waited) noexcept;

// Reads QDISPATCH_SLOW_ITEM_MS for an executor being constructed; one warning per malformed value.
void applySlowItemEnvironment(ExecutorState &state);

// Shared by the slow-item reports (diagnostics.cpp) and the hang reports (hangreports.cpp).
// The calling thread as a report names it: its objectName() if set, else its id.
QString currentThreadLabel();
// "12.3 ms"; a threshold as "50 ms" or "off".
QString msText(std::int64_t ns);
QString thresholdText(std::int64_t ns);
// An environment value: a whole number of milliseconds, 0 to one day, or nothing.
std::optional<qint64> parseMs(const QByteArray &text);
// One warning per malformed environment value, however often it is read.
void warnMalformed(const QLoggingCategory &category, const char *variable, const QByteArray &value,
                   const char *expected);
// A threshold in nanoseconds; zero or less is off (0).
std::int64_t clampedNs(std::chrono::milliseconds ms);

// The clock of run and delivery times: the same as std::chrono::steady_clock, which the drains
// read anyway to cut their time slices. Its ticks are nanoseconds (ItemBooks counts on it).
using DiagClock = std::chrono::steady_clock;
static_assert(std::is_same_v<DiagClock::duration, std::chrono::nanoseconds>);

// Owner thread: one drain's X10 books. Reads the executor's thresholds once; when none is set,
// running an item costs no clock reading (the counts are the claim window's, ClaimWindow).
class ItemBooks {
public:
    explicit ItemBooks(ExecutorState &state) noexcept : m_state(state)
    {
#if QDISPATCH_DIAGNOSTICS
        m_runNs = state.m_runThresholdNs.load(std::memory_order_relaxed);
        m_deliveryNs = state.m_deliveryThresholdNs.load(std::memory_order_relaxed);
        m_timed = m_runNs != 0 || m_deliveryNs != 0;
        if (m_timed) {
            m_last = DiagClock::now();
            updateAlerts();
        }
#endif
    }

    // Runs `item` (taken off the queue by takeNext()) and destroys it on this thread (C12).
    void run(WorkItem *item) noexcept
    {
        item->run();
        // Every item closes its claim when it starts or skips (WorkItem::begin()); one that
        // did not must not leave stats() and a breaking thread waiting for ever.
        if (Q_UNLIKELY(m_state.m_claimWindow.isOpen()))
            m_state.m_claimWindow.close(false);
#if QDISPATCH_DIAGNOSTICS
        if (m_timed) {
            // Per item, while timing: one clock reading, two subtractions and three tests; the
            // rest only for an item that sets a record, goes over a threshold or ends a backlog.
            const DiagClock::time_point start = m_last;
            m_last = DiagClock::now();
            const std::int64_t runNs = (m_last - start).count();
            // -1: not stamped (accepted while no delivery threshold was set, or handed down from
            // an executor that had none). The stamp is coarse, so it may lie a little after the
            // start: clamped.
            const std::int64_t deliveryNs = item->m_acceptedAt == 0
                ? -1
                : std::max<std::int64_t>(0, start.time_since_epoch().count() - item->m_acceptedAt);
            if (Q_UNLIKELY(runNs > m_runAlertNs || deliveryNs > m_deliveryAlertNs
                           || (m_state.m_lateReported && deliveryNs >= 0)))
                afterTimedRun(item, runNs, deliveryNs);
        }
#else
        (void)m_state;
#endif
        delete item;
    }

    // A clock reading: when timing, the one taken right after the last item; else a fresh one.
    DiagClock::time_point now() const
    {
        return m_timed ? m_last : DiagClock::now();
    }
    bool timed() const { return m_timed; }
    // After the thread did something other than run items (processed events, slept): the next
    // item's run time starts now.
    void restart()
    {
        if (m_timed)
            m_last = DiagClock::now();
    }

private:
    // The records, the reports and the end of a backlog of late items.
    void afterTimedRun(WorkItem *item, std::int64_t runNs, std::int64_t deliveryNs) noexcept;
    // Owner thread: the times above which an item needs afterTimedRun(): a record or a threshold.
    void updateAlerts() noexcept;

    ExecutorState &m_state;
    bool m_timed = false;
#if QDISPATCH_DIAGNOSTICS
    std::int64_t m_runNs = 0;
    std::int64_t m_deliveryNs = 0;
    std::int64_t m_runAlertNs = 0;
    std::int64_t m_deliveryAlertNs = 0;
#endif
    DiagClock::time_point m_last; // when the item about to run was started
};

// A wait (runUntilFuture(), invoke()) that reports in "qdispatch.hang", once, when it has lasted
// longer than the hang threshold. Does nothing (no clock, no timer) when the threshold is off.
class HangWatch {
public:
    // `target`: the executor whose items the wait depends on, alive for the watch's lifetime
    // (nullptr: no report); `invoke`: the wait is invoke()'s.
    HangWatch(const ExecutorState *target, bool invoke, RunMode mode);
    ~HangWatch();
    HangWatch(const HangWatch &) = delete;
    HangWatch &operator=(const HangWatch &) = delete;

    // For the event-loop waits: a single-shot timer of this thread writes the report when due.
    void startTimer();
    // For the timed waits: how long the next sleep may last, at most until `deadline`, so that
    // the report is written on time.
    QDeadlineTimer sleepLimit(QDeadlineTimer deadline) const
    {
        if (m_thresholdNs == 0 || m_reported)
            return deadline;
        const qint64 dueNs = m_thresholdNs - m_clock.nsecsElapsed();
        QDeadlineTimer due(std::max<qint64>(0, dueNs / 1'000'000 + 1), Qt::PreciseTimer);
        return due < deadline ? due : deadline;
    }
    // For the timed waits: call at every wake-up; writes the report once the threshold passed.
    void poll()
    {
        if (m_thresholdNs != 0 && !m_reported && m_clock.nsecsElapsed() >= m_thresholdNs)
            report();
    }

private:
    void report();

    const ExecutorState *m_target;
    const bool m_invoke;
    const RunMode m_mode;
    std::int64_t m_thresholdNs;
    bool m_reported = false;
    QElapsedTimer m_clock;
    std::unique_ptr<QTimer> m_timer;
};

} // namespace detail
} // namespace qdispatch

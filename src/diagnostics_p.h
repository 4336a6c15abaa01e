// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// X10, seeing inside: the books an owner thread keeps while it runs items (counts, and with a
// slow-item threshold set, run and delivery times and the reports), and the watch that reports a
// wait that hangs. Implemented in diagnostics.cpp; docs/diagnostics.md says what is reported.
#pragma once

#include "executorstate_p.h"
#include "waitchains_p.h"

#include <QtCore/QDeadlineTimer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QLoggingCategory>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <type_traits>

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

// How a report names a thread: `thread "name"`, or `thread 0x7f..` when it has no objectName(),
// and " (main)" for the thread of the QCoreApplication, which is seldom named and is the one a
// GUI developer looks for. Taken while the QThread exists; the label may be made after it is gone.
struct ThreadName
{
    QString name;
    bool isMain = false;

    static ThreadName of(const QThread *thread);
    QString label(Qt::HANDLE id) const;
};

// Shared by the slow-item reports (diagnostics.cpp) and the hang reports (hangreports.cpp).
// The calling thread as a report names it: its objectName() if set, else its id.
QString currentThreadLabel();
// An item as reports and stats() name it: the type of its callable, demangled.
QString itemName(CallableName name);
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

// X10: the calling thread's serial among the threads that submitted stamped items (0: not yet
// one of them). Read by every stamped submit, so inline, from a thread-local without a destructor,
// which needs no guard (P7); enterSubmitter() makes the thread one of them (diagnostics.cpp).
inline thread_local std::uint64_t t_submitterSerial = 0;
std::uint64_t enterSubmitter();
inline std::uint64_t submitterSerial()
{
    const std::uint64_t serial = t_submitterSerial;
    return Q_LIKELY(serial != 0) ? serial : enterSubmitter();
}

// The clock of run and delivery times: the same as std::chrono::steady_clock, which the drains
// read anyway to cut their time slices. Its ticks are nanoseconds (ItemBooks counts on it).
using DiagClock = std::chrono::steady_clock;
static_assert(std::is_same_v<DiagClock::duration, std::chrono::nanoseconds>);

// Owner thread: one drain's X10 books. Reads the executor's thresholds once; when none is set,
// running an item costs no clock reading (the counts are the claim window's, ClaimWindow).
class ItemBooks
{
public:
    explicit ItemBooks(ExecutorState &state) noexcept
        : m_queue(state.m_queue), m_books(state.m_books)
    {
#if QDISPATCH_DIAGNOSTICS
        m_runNs = m_books.runThresholdNs();
        m_deliveryNs = m_books.deliveryThresholdNs();
        m_timed = m_runNs != 0 || m_deliveryNs != 0;
        if (m_timed) {
            m_last = DiagClock::now();
            updateAlerts();
        }
        // X11: the items of this drain run at the thread's current depth, one after another.
        m_running = &currentRunningItems();
        m_depth = m_running->depth.load(std::memory_order_relaxed);
        if (m_depth < RunningItems::kDepth) {
            m_entry = &m_running->entries[m_depth];
            m_entry->executor.store(&state, std::memory_order_relaxed);
            m_stampStart = hangThresholdNs() != 0;
        }
#endif
    }

    // Runs `item` (taken off the queue by takeNext()) and destroys it on this thread (C12).
    void run(WorkItem *item) noexcept
    {
#if QDISPATCH_DIAGNOSTICS
        if (m_entry)
            publishRunning(item);
#endif
        item->run();
        m_queue.closeClaimLeftOpen();
#if QDISPATCH_DIAGNOSTICS
        if (m_entry)
            m_running->depth.store(m_depth, std::memory_order_release); // X11: it has returned
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
            if (Q_UNLIKELY(runNs > m_runAlertNs || deliveryNs > m_deliveryAlertNs ||
                           (m_books.m_lateReported && deliveryNs >= 0)))
                afterTimedRun(item, runNs, deliveryNs);
        }
#else
        (void)m_books;
#endif
        delete item;
    }

    // A clock reading: when timing, the one taken right after the last item; else a fresh one.
    DiagClock::time_point now() const
    {
        return m_timed ? m_last : DiagClock::now();
    }
    bool timed() const
    {
        return m_timed;
    }
    // After the thread did something other than run items (processed events, slept): the next
    // item's run time starts now.
    void restart()
    {
        if (m_timed)
            m_last = DiagClock::now();
    }

private:
#if QDISPATCH_DIAGNOSTICS
    // X11: the item starts, for describeWaits() on any thread: stores to a line only this thread
    // writes, inside an odd version so that a reader sees all of them or retries. The stores
    // are releases (and the reader's loads acquires) rather than fences, which ThreadSanitizer
    // cannot follow; on x86 either is a plain move.
    void publishRunning(const WorkItem *item) noexcept
    {
        const std::uint32_t version = m_running->version.load(std::memory_order_relaxed);
        m_running->version.store(version + 1, std::memory_order_relaxed);
        const CallableName name = item->callableName();
        m_entry->key.store(item->awaitKey(), std::memory_order_release);
        m_entry->type.store(name.type, std::memory_order_release);
        m_entry->signature.store(name.signature, std::memory_order_release);
        m_entry->startNs.store(m_stampStart ? coarseNowNs() : 0, std::memory_order_release);
        m_running->depth.store(m_depth + 1, std::memory_order_release);
        m_running->version.store(version + 2, std::memory_order_release);
    }
#endif
    // The records, the reports and the end of a backlog of late items.
    void afterTimedRun(WorkItem *item, std::int64_t runNs, std::int64_t deliveryNs) noexcept;
    // Owner thread: the times above which an item needs afterTimedRun(): a record or a threshold.
    void updateAlerts() noexcept;

    ItemQueue &m_queue;
    ExecutorBooks &m_books;
    bool m_timed = false;
#if QDISPATCH_DIAGNOSTICS
    std::int64_t m_runNs = 0;
    std::int64_t m_deliveryNs = 0;
    std::int64_t m_runAlertNs = 0;
    std::int64_t m_deliveryAlertNs = 0;
    RunningItems *m_running = nullptr;
    RunningItems::Entry *m_entry = nullptr; // nullptr: nested too deep to publish
    std::uint32_t m_depth = 0;
    bool m_stampStart = false;
#endif
    DiagClock::time_point m_last; // when the item about to run was started
};

// A wait (runUntilFuture(), invoke()) that reports in "qdispatch.hang", once, when it has lasted
// longer than the hang threshold. Does nothing (no clock, no timer) when the threshold is off.
class HangWatch
{
public:
    // Whose wait it is, for the report.
    enum class Wait { RunUntilFuture, Invoke };

    // `target`: the executor whose items the wait depends on, alive for the watch's lifetime
    // (nullptr: no report).
    HangWatch(const ExecutorState *target, Wait wait, RunMode mode);
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
    const Wait m_wait;
    const RunMode m_mode;
    std::int64_t m_thresholdNs;
    bool m_reported = false;
    QElapsedTimer m_clock;
    std::unique_ptr<QTimer> m_timer;
};

} // namespace detail
} // namespace qdispatch

// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// X10, seeing inside: the books an owner thread keeps while it runs items (counts, and with a
// slow-item threshold set, run and delivery times and the reports), and the watch that reports a
// wait that hangs. Implemented in diagnostics.cpp; docs/diagnostics.md says what is reported.
#pragma once

#include "diagclock_p.h"
#include "diagversion_p.h"
#include "executorstate_p.h"
#include "threadname_p.h"
#include "trace_p.h"
#include "waitchains_p.h"

#include <QtCore/QDeadlineTimer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QLoggingCategory>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
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

// A wait mode as reports name it: its enum name ("ExecutorOnly").
const char *runModeName(RunMode mode) noexcept;

// Reads QDISPATCH_SLOW_ITEM_MS for an executor being constructed; one warning per malformed value.
void applySlowItemEnvironment(ExecutorState &state);

// `text` as a report quotes it: a backslash before each character of `special` (the quotes
// around it), and escapes for the characters that would end or break its line (controls, line
// and paragraph separators), so that a name can neither end its quotes early nor start a line.
QString escaped(const QString &text, QLatin1String special);

// Shared by the slow-item reports (diagnostics.cpp) and the hang reports (hangreports.cpp).
// The calling thread as a report names it: its objectName() if set, else its id.
QString currentThreadLabel();
// A submitter as reports name it, by its serial (0: not recorded); the thread may have ended.
// `markEnded`: " (ended since)" after a thread that has ended.
QString submitterLabel(std::uint64_t serial, bool markEnded = true);
// An item as reports and stats() name it: the type of its callable, demangled.
QString itemName(CallableName name);
// "12.3 ms" (rounded up); a threshold as "50 ms" or "off".
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

// Owner thread: one drain's X10 books, its X11 record of the item running and its X12 trace
// records. Reads the settings (the executor's thresholds, the hang threshold, whether a trace is
// recorded) when it starts and again before an item when they have changed (one load per item,
// diagversion_p.h); when no threshold is set and no trace is recorded, running an item costs no
// clock reading (the counts are the claim window's, ClaimWindow).
class ItemBooks
{
public:
    explicit ItemBooks(ExecutorState &state) noexcept
        : m_queue(state.m_queue), m_books(state.m_books), m_executor(&state)
    {
#if QDISPATCH_DIAGNOSTICS
        // X11: the items of this drain run at the thread's current depth, one after another.
        m_running = &currentRunningItems();
        m_depth = m_running->depth.load(std::memory_order_relaxed);
        if (m_depth < RunningItems::kDepth) {
            m_entry = &m_running->entries[m_depth];
            m_entry->executor.store(&state, std::memory_order_relaxed);
        }
        readSettings();
#endif
    }

    // Runs `item` (taken off the queue by takeNext()) and destroys it on this thread (C12).
    Q_ALWAYS_INLINE void run(WorkItem *item) noexcept
    {
#if QDISPATCH_DIAGNOSTICS
        // A threshold set or a trace started during the drain (by an item, or another thread)
        // applies from the next item that starts; this one starts now.
        if (Q_UNLIKELY(diagnosticsVersion() != m_settingsVersion))
            readSettings();
        if (m_entry)
            publishRunning(item);
        // X12: while a trace is recorded, an item's start is the end of the item before it in
        // this drain, read precisely (a timeline needs microseconds): one clock reading per item.
        if (Q_UNLIKELY(m_measured) && m_traced && !m_lastPrecise)
            readClock(true);
#endif
        item->run();
        m_queue.closeClaimLeftOpen();
#if QDISPATCH_DIAGNOSTICS
        if (m_entry)
            m_running->depth.store(m_depth, std::memory_order_release); // X11: it has returned
        if (Q_UNLIKELY(m_measured)) {
            // Per item, while timing: one clock reading, two subtractions and three tests; the
            // rest only for an item that sets a record, goes over a threshold or ends a backlog.
            const std::int64_t start = m_last;
            const bool startPrecise = m_lastPrecise;
            readClock(m_traced || !m_coarse);
            if (Q_UNLIKELY(m_traced))
                afterTracedRun(item, start);
            if (m_timed)
                afterRun(item, start, startPrecise);
        }
#else
        (void)m_books;
        (void)m_executor;
#endif
        delete item;
    }

    // After the thread did something other than run items (processed events, slept): the next
    // item's run time starts now.
    void restart()
    {
#if QDISPATCH_DIAGNOSTICS
        // X11: another executor's drain may have run at this depth meanwhile (a wake-up that the
        // processed events delivered) and left its executor in the entry the items of this one
        // are published in.
        if (m_entry)
            m_entry->executor.store(m_executor, std::memory_order_relaxed);
        m_publishedClass = nullptr; // and its item in that entry too
#endif
        if (m_timed)
            readClock(!m_coarse);
        else
            m_lastPrecise = false;
    }

private:
    void readClock(bool precise) noexcept
    {
        m_last = diagclock::nowNs(!precise);
        m_lastPrecise = precise;
    }
#if QDISPATCH_DIAGNOSTICS
    // The settings (diagversion_p.h): X10's thresholds and the clock they are read on, X11's
    // hang threshold, X12's trace. The next item starts now.
    void readSettings() noexcept
    {
        m_settingsVersion = diagnosticsVersion();
        m_runNs = m_books.runThresholdNs();
        m_deliveryNs = m_books.deliveryThresholdNs();
        m_timed = m_runNs != 0 || m_deliveryNs != 0;
        m_coarse = m_books.coarseClock();
        m_traced = tracing();
        m_measured = m_timed || m_traced;
        const bool stampStart = m_entry && hangThresholdNs() != 0;
        if (stampStart != m_stampStart) {
            m_stampStart = stampStart;
            m_publishedClass = nullptr; // the entry's start time changes meaning
        }
        if (m_timed) {
            readClock(!m_coarse);
            updateAlerts();
        } else {
            m_lastPrecise = false; // m_last is stale: a trace starting reads the clock afresh
        }
    }
    // X10: the item ran from `start` (read precisely or not: `startPrecise`) to m_last.
    void afterRun(WorkItem *item, std::int64_t start, bool startPrecise) noexcept
    {
        const std::int64_t runNs = m_last - start;
        // Its delivery time, or -1: not measured. An item is stamped when it is accepted while a
        // delivery threshold is set (a traced submit stamps the time for the trace, which counts
        // only while one is set), or keeps the stamp it was handed down with. Both ends must be
        // read on one clock: where the thresholds switched clocks between its acceptance and its
        // start, or a trace began or ended meanwhile, the threshold it is judged by was not set
        // when it was accepted, and a coarse time less a precise one is off by up to two steps.
        const std::uint64_t mark = item->m_submitter;
        const bool traced = (mark & kTracedSubmit) != 0;
        const bool stampPrecise = traced || (mark & kCoarseStamp) == 0;
        const bool stamped = item->m_acceptedAt != 0 && (!traced || m_deliveryNs != 0) &&
            stampPrecise == startPrecise;
        const std::int64_t deliveryNs =
            stamped ? std::max<std::int64_t>(0, start - item->m_acceptedAt) : -1;
        if (Q_UNLIKELY(runNs > m_runAlertNs || deliveryNs > m_deliveryAlertNs ||
                       (m_books.m_lateReported && deliveryNs >= 0)))
            afterTimedRun(item, runNs, deliveryNs);
    }
    // X12: records the item's run, from `start` to m_last.
    void afterTracedRun(WorkItem *item, std::int64_t start) noexcept
    {
        traceRun(item->callableName(), m_executor, start, m_last, item->m_acceptedAt,
                 item->m_submitter);
    }
    // X11: the coarse time the item starts. Timed on the coarse clock, the X10 books read it at
    // the end of the item before (or at restart()), which is this item's start: a second reading
    // would cost as much again (P7 on).
    std::int64_t coarseStart() const noexcept
    {
        return m_timed && m_coarse && !m_lastPrecise ? m_last : diagclock::coarseNs();
    }
    // X11: the item starts, for describeWaits() on any thread: stores to a line only this thread
    // writes (RunningItems::update()).
    void publishRunning(const WorkItem *item) noexcept
    {
        // A flood is mostly items of one class, and a post's name is its class's (its callable
        // type's). While the items are of the class whose name the entry holds, and nothing else
        // wrote the entry since (restart()), only the start time and the depth change: no virtual
        // call, and no version, since what a reader reads together stays the same.
        const void *itemClass = classOf(item);
        if (itemClass == m_publishedClass) {
            if (m_stampStart)
                m_entry->startNs.store(coarseStart(), std::memory_order_release);
            m_running->depth.store(m_depth + 1, std::memory_order_release);
            return;
        }
        const ItemIdentity id = item->identity();
        m_running->update([&] {
            m_entry->name(id);
            m_entry->startNs.store(m_stampStart ? coarseStart() : 0, std::memory_order_release);
            m_running->depth.store(m_depth + 1, std::memory_order_release);
        });
        m_publishedClass = id.sameForItsClass ? itemClass : nullptr;
    }
    // X11: what tells the items' classes apart without a call: the address of the class's table
    // of virtual functions, which the C++ ABIs Qt supports keep at the start of an object of a
    // polymorphic class without virtual bases (WorkItem's classes). Compared, never followed.
    static const void *classOf(const WorkItem *item) noexcept
    {
        static_assert(std::is_polymorphic_v<WorkItem>);
        const void *table;
        std::memcpy(&table, static_cast<const void *>(item), sizeof table);
        return table;
    }
#endif
    // The records, the reports and the end of a backlog of late items.
    void afterTimedRun(WorkItem *item, std::int64_t runNs, std::int64_t deliveryNs) noexcept;
    // Owner thread: the times above which an item needs afterTimedRun(): a record or a threshold.
    void updateAlerts() noexcept;

    ItemQueue &m_queue;
    ExecutorBooks &m_books;
    const void *m_executor; // X12: how a trace names the executor
    bool m_timed = false;
    bool m_coarse = false; // the clock (diagclock_p.h) the X10 books read
    bool m_lastPrecise = false; // m_last is a precise reading at the end of the item run last
#if QDISPATCH_DIAGNOSTICS
    std::int64_t m_runNs = 0;
    std::int64_t m_deliveryNs = 0;
    std::int64_t m_runAlertNs = 0;
    std::int64_t m_deliveryAlertNs = 0;
    std::uint32_t m_settingsVersion = 0;
    bool m_traced = false; // X12: a trace is recorded
    bool m_measured = false; // m_timed || m_traced: the items' times are read
    RunningItems *m_running = nullptr;
    RunningItems::Entry *m_entry = nullptr; // nullptr: nested too deep to publish
    std::uint32_t m_depth = 0;
    bool m_stampStart = false; // X11: the entry carries the items' start time (a hang threshold)
    // X11: the class of items whose name m_entry holds (classOf()); nullptr: none.
    const void *m_publishedClass = nullptr;
#endif
    std::int64_t m_last = 0; // when the item about to run was started, ns
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

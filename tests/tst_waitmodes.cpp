// Tests of the wait modes of runUntilFuture and its deadline overload, rule C9: what each mode
// runs while it waits (timers, posted events, other executors, or only this executor's items),
// that an idle ExecutorOnly wait sleeps, and the deadline overload's result. The "no
// QCoreApplication" half of C9 is in tst_noapp.cpp; the deadline under floods and far deadlines
// in tst_deadlinestress.cpp; waits in every state of the event loop in tst_loopstates.cpp.
//
// Threads are ordered with semaphores (tryAcquire with a timeout, checked), never with sleeps,
// and every thread is joined with a timeout.

#include <qdispatch/currentthreadexecutor.h>

#include "testsupport.h"

#include <QtConcurrent/QtConcurrent>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QFuture>
#include <QtCore/QMetaObject>
#include <QtCore/QObject>
#include <QtCore/QPromise>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtTest/QTest>

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

// The calling thread's own CPU time and voluntary context switches (Linux: RUSAGE_THREAD).
struct ThreadUsage
{
    std::chrono::microseconds cpu;
    long wakeUps;
    static ThreadUsage now()
    {
        rusage usage {};
        getrusage(RUSAGE_THREAD, &usage);
        const auto us = [](const timeval &t) {
            return std::chrono::seconds(t.tv_sec) + std::chrono::microseconds(t.tv_usec);
        };
        return { us(usage.ru_utime) + us(usage.ru_stime), usage.ru_nvcsw };
    }
};

} // namespace

class TestWaitModes : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void c9_executorOnlyIdleOwnerSleeps();
    void c9_executorOnlyNoticesAForeignFuture_data();
    void c9_executorOnlyNoticesAForeignFuture();
    void c9_basicWait_data();
    void c9_basicWait();
    void c9_eventLoopModesRunTimersPostedEventsAndOtherExecutors_data();
    void c9_eventLoopModesRunTimersPostedEventsAndOtherExecutors();
    void c9_executorOnlyRunsNothingButItsItems();
    void c9_deadlinePassesFirstReturnsFalse_data();
    void c9_deadlinePassesFirstReturnsFalse();
    void c9_deadlineFutureFirstReturnsTrue_data();
    void c9_deadlineFutureFirstReturnsTrue();
    void c9_deadlineZeroOrExpired_data();
    void c9_deadlineZeroOrExpired();
    void c9_finalDrainOfABacklogLetsTimersRun_data();
    void c9_finalDrainOfABacklogLetsTimersRun();
};

void TestWaitModes::c9_executorOnlyIdleOwnerSleeps()
{
    // C9: an owner waiting in ExecutorOnly on a future QDispatch did not make, with
    // nothing queued, sleeps: it does not wake up to look at the future itself (a poller thread
    // does that for every such wait), so it uses no CPU. It used to re-check in timed naps of up
    // to 2 ms: about 500 wake-ups in this second.
    CurrentThreadExecutor executor;
    StartedPromise<void> never;
    const ThreadUsage before = ThreadUsage::now();
    QVERIFY(!executor.runUntilFuture(never.future(), QDeadlineTimer(1000), RunMode::ExecutorOnly));
    const ThreadUsage after = ThreadUsage::now();
    const long wakeUps = after.wakeUps - before.wakeUps;
    const auto cpu = after.cpu - before.cpu;
    QVERIFY2(wakeUps < 20,
             qPrintable(QStringLiteral("%1 wake-ups in one idle second").arg(wakeUps)));
    QVERIFY2(cpu < std::chrono::milliseconds(5),
             qPrintable(QStringLiteral("%1 µs of CPU in one idle second").arg(cpu.count())));
}

void TestWaitModes::c9_executorOnlyNoticesAForeignFuture_data()
{
    addRows<bool>("withDeadline", { { "forever", false }, { "deadline", true } });
}

void TestWaitModes::c9_executorOnlyNoticesAForeignFuture()
{
    // C8/C9: a future finished by another thread, with no QDispatch item involved, ends an
    // ExecutorOnly wait (the poller notices it) long before the deadline.
    QFETCH(bool, withDeadline);
    CurrentThreadExecutor executor;
    StartedPromise<int> promise;
    Worker finisher([&] {
        promise.addResult(7);
        promise.finish();
    });
    QElapsedTimer clock;
    clock.start();
    if (withDeadline) {
        QVERIFY(executor.runUntilFuture(promise.future(), QDeadlineTimer(30000),
                                        RunMode::ExecutorOnly));
    } else {
        executor.runUntilFuture(promise.future(), RunMode::ExecutorOnly);
    }
    QVERIFY(promise.future().isFinished());
    QVERIFY(clock.elapsed() < 10000);
    QVERIFY(finisher.join());
    QCOMPARE(promise.future().result(), 7);
}

// C9: the basic wait in every mode: a promise that another thread finishes while the owner
// waits (and no item is left to run) ends the wait with its value.
void TestWaitModes::c9_basicWait_data()
{
    addModeRows();
}

void TestWaitModes::c9_basicWait()
{
    QFETCH(RunMode, mode);
    CurrentThreadExecutor executor;
    StartedPromise<QString> promise;
    const QFuture<QString> awaited = promise.future();
    Semaphore ownerWaiting;
    std::atomic<bool> itemOnOwner { false };

    Worker worker([&] {
        executor.submit([&] {
            itemOnOwner = QThread::currentThread() == executor.thread();
            ownerWaiting.release();
        });
        // Finish only once the owner has run the item, i.e. is inside runUntilFuture.
        if (ownerWaiting.tryAcquire(1, kHandshakeMs))
            promise.addResult(QStringLiteral("done"));
        promise.finish();
    });
    executor.runUntilFuture(awaited, mode);
    QVERIFY(worker.join());
    QVERIFY(itemOnOwner.load());
    QVERIFY(awaited.isFinished());
    QCOMPARE(awaited.resultCount(), 1);
    QCOMPARE(awaited.result(), QStringLiteral("done"));
}

// C9: AllEvents and ExcludeUserInput spin an event loop: a QTimer of the owner thread, a posted
// queued functor and another executor of the thread all run during the wait. Each one finishes
// the promise that the wait is for, so the wait can only end (before its deadline) if it ran.
// (Deferral of user input needs a window system; a QCoreApplication has none.)
void TestWaitModes::c9_eventLoopModesRunTimersPostedEventsAndOtherExecutors_data()
{
    addEventLoopModeRows();
}

void TestWaitModes::c9_eventLoopModesRunTimersPostedEventsAndOtherExecutors()
{
    QFETCH(RunMode, mode);
    CurrentThreadExecutor executor;
    CurrentThreadExecutor other;
    QObject context;

    StartedPromise<void> byTimer;
    QTimer timer;
    timer.setSingleShot(true);
    connect(&timer, &QTimer::timeout, &context, [&] { byTimer.finish(); });
    timer.start(5);
    QVERIFY(executor.runUntilFuture(byTimer.future(), joinDeadline(), mode));

    int repeats = 0;
    StartedPromise<void> byRepeatingTimer;
    QTimer repeating;
    connect(&repeating, &QTimer::timeout, &context, [&] {
        if (++repeats == 5)
            byRepeatingTimer.finish();
    });
    repeating.start(1);
    QVERIFY(executor.runUntilFuture(byRepeatingTimer.future(), joinDeadline(), mode));
    repeating.stop();
    // It may fire once more between finishing the promise and the wait noticing it.
    QVERIFY(repeats >= 5);

    StartedPromise<void> byPosted;
    QMetaObject::invokeMethod(
        &context, [&] { byPosted.finish(); }, Qt::QueuedConnection);
    QVERIFY(executor.runUntilFuture(byPosted.future(), joinDeadline(), mode));

    StartedPromise<void> byOtherExecutor;
    QFuture<void> otherItem;
    Worker worker([&] { otherItem = other.submit([&] { byOtherExecutor.finish(); }); });
    QVERIFY(worker.join());
    QVERIFY(executor.runUntilFuture(byOtherExecutor.future(), joinDeadline(), mode));
    QVERIFY(otherItem.isFinished());
}

// C9: ExecutorOnly runs this executor's items and nothing else: no timer, no posted event, no
// other executor of the thread. They are deferred, not lost: they run once events are processed.
void TestWaitModes::c9_executorOnlyRunsNothingButItsItems()
{
    CurrentThreadExecutor executor;
    CurrentThreadExecutor other;
    QThread *const owner = executor.thread();
    QObject context;

    std::atomic<bool> timerFired { false };
    std::atomic<bool> postedRan { false };
    std::atomic<bool> otherRan { false };
    QTimer timer;
    timer.setSingleShot(true);
    connect(&timer, &QTimer::timeout, &context, [&] { timerFired = true; });
    timer.start(0);
    QMetaObject::invokeMethod(
        &context, [&] { postedRan = true; }, Qt::QueuedConnection);

    std::atomic<int> ran { 0 };
    std::atomic<int> sawForeignWork { 0 };
    std::atomic<int> offThread { 0 };
    QFuture<int> job = QtConcurrent::run([&]() -> int {
        try {
            QFuture<void> otherItem = other.submit([&] { otherRan = true; });
            int sum = 0;
            for (int i = 0; i < 200; ++i) {
                sum += executor
                           .submit([&, i] {
                               if (QThread::currentThread() != owner)
                                   ++offThread;
                               if (timerFired || postedRan || otherRan)
                                   ++sawForeignWork;
                               ++ran;
                               return i;
                           })
                           .result();
            }
            return sum;
        } catch (...) {
            return -1;
        }
    });
    FinishGuard guard(executor, job);

    executor.runUntilFuture(job, RunMode::ExecutorOnly);
    QCOMPARE(job.result(), 19900);
    QCOMPARE(ran.load(), 200);
    QCOMPARE(offThread.load(), 0);
    QCOMPARE(sawForeignWork.load(), 0);
    QVERIFY(!timerFired.load());
    QVERIFY(!postedRan.load());
    QVERIFY(!otherRan.load());

    // Deferred, not lost.
    QTRY_VERIFY_WITH_TIMEOUT(timerFired.load() && postedRan.load() && otherRan.load(), kJoinMs);
}

// C9 deadline overload: returns false when the deadline passes first (the future stays
// unfinished); the executor still works afterwards and the same future can be waited for again.
void TestWaitModes::c9_deadlinePassesFirstReturnsFalse_data()
{
    addModeRows();
}

void TestWaitModes::c9_deadlinePassesFirstReturnsFalse()
{
    QFETCH(RunMode, mode);
    CurrentThreadExecutor executor;
    StartedPromise<int> promise;
    const QFuture<int> awaited = promise.future();

    QElapsedTimer clock;
    clock.start();
    const bool finished =
        executor.runUntilFuture(awaited, QDeadlineTimer(100, Qt::PreciseTimer), mode);
    const qint64 elapsed = clock.elapsed();
    QVERIFY(!finished);
    QVERIFY(!awaited.isFinished());
    QVERIFY2(elapsed >= 95, qPrintable(QStringLiteral("returned after %1 ms").arg(elapsed)));
    QVERIFY2(elapsed < 10000, qPrintable(QStringLiteral("returned after %1 ms").arg(elapsed)));
    QVERIFY(!executor.isBroken());

    // Finished later by another thread (after the owner waits again): now true.
    Semaphore ownerWaiting;
    Worker worker([&] {
        executor.submit([&] { ownerWaiting.release(); });
        if (ownerWaiting.tryAcquire(1, kHandshakeMs))
            promise.addResult(5);
        promise.finish();
    });
    QVERIFY(executor.runUntilFuture(awaited, joinDeadline(), mode));
    QVERIFY(worker.join());
    QCOMPARE(awaited.resultCount(), 1);
    QCOMPARE(awaited.result(), 5);
}

// C9 deadline overload: true when the future finishes first, with a finite deadline and with
// QDeadlineTimer::Forever; the items accepted before it finished have run (C8).
void TestWaitModes::c9_deadlineFutureFirstReturnsTrue_data()
{
    addModeFlagRows("forever", "finite", "forever");
}

void TestWaitModes::c9_deadlineFutureFirstReturnsTrue()
{
    QFETCH(RunMode, mode);
    QFETCH(bool, forever);
    CurrentThreadExecutor executor;
    std::atomic<int> ran { 0 };
    QFuture<int> job = QtConcurrent::run([&] {
        int sum = 0;
        for (int i = 0; i < 50; ++i)
            sum += executor
                       .submit([&, i] {
                           ++ran;
                           return i;
                       })
                       .result();
        return sum;
    });
    FinishGuard guard(executor, job);
    const QDeadlineTimer deadline =
        forever ? QDeadlineTimer(QDeadlineTimer::Forever) : joinDeadline();
    QVERIFY(executor.runUntilFuture(job, deadline, mode));
    QVERIFY(job.isFinished());
    QCOMPARE(job.result(), 1225);
    QCOMPARE(ran.load(), 50);
}

// C9 deadline overload with a zero or already expired deadline: an unfinished future gives
// false at once; a finished one gives true when nothing is queued, and false with the queued
// items left queued otherwise (C8 would run them, but no item starts after the deadline).
void TestWaitModes::c9_deadlineZeroOrExpired_data()
{
    addModeFlagRows("zero", "expired", "zero");
}

void TestWaitModes::c9_deadlineZeroOrExpired()
{
    QFETCH(RunMode, mode);
    QFETCH(bool, zero);
    CurrentThreadExecutor executor;
    const auto makeDeadline = [zero] {
        return zero ? QDeadlineTimer(0)
                    : QDeadlineTimer::addNSecs(QDeadlineTimer::current(), -1000 * 1000 * 1000);
    };
    QVERIFY(makeDeadline().hasExpired());

    StartedPromise<void> promise;
    QElapsedTimer clock;
    clock.start();
    QVERIFY(!executor.runUntilFuture(promise.future(), makeDeadline(), mode));
    QVERIFY(clock.elapsed() < kPromptMs);

    std::atomic<int> ran { 0 };
    std::vector<QFuture<void>> items;
    Worker worker([&] {
        for (int i = 0; i < 10; ++i)
            items.push_back(executor.submit([&] { ++ran; }));
    });
    QVERIFY(worker.join());
    promise.finish();

    clock.restart();
    QVERIFY(!executor.runUntilFuture(promise.future(), makeDeadline(), mode));
    QVERIFY(clock.elapsed() < kPromptMs);
    QCOMPARE(ran.load(), 0);
    QCOMPARE(executor.pendingCount(), quint64(10));

    QVERIFY(executor.runUntilFuture(promise.future(), QDeadlineTimer::Forever, mode));
    QCOMPARE(ran.load(), 10);
    for (const auto &f : items)
        QVERIFY(f.isFinished());
    QVERIFY(executor.runUntilFuture(promise.future(), makeDeadline(), mode)); // nothing queued
}

// C8 + C9: when the awaited future is already finished, runUntilFuture still runs the whole
// backlog accepted before it; in the event-loop modes it must do so in slices, letting a due
// timer fire in between, and in ExecutorOnly it must not.
void TestWaitModes::c9_finalDrainOfABacklogLetsTimersRun_data()
{
    // The event-loop modes let the timer fire during the drain; ExecutorOnly does not.
    addColumns<RunMode, bool>({ "mode", "timerFiresDuringDrain" });
    for (RunMode mode : kModes)
        QTest::newRow(modeName(mode)) << mode << (mode != RunMode::ExecutorOnly);
}

void TestWaitModes::c9_finalDrainOfABacklogLetsTimersRun()
{
    QFETCH(RunMode, mode);
    QFETCH(bool, timerFiresDuringDrain);

    constexpr int kItems = 200; // about 0.2 ms each: a 40 ms backlog, ten time slices
    CurrentThreadExecutor executor;
    int ran = 0;
    int ranWhenTimerFired = -1;
    std::thread producer([&] {
        for (int i = 0; i < kItems; ++i) {
            executor.post([&ran] {
                const auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
                while (std::chrono::steady_clock::now() < end) { }
                ++ran;
            });
        }
    });
    producer.join();

    QTimer timer;
    timer.setSingleShot(true);
    QObject::connect(&timer, &QTimer::timeout, [&] { ranWhenTimerFired = ran; });
    timer.start(0); // due at once: it can only wait for the thread to look at its events

    executor.runUntilFuture(qdispatch_compat::readyFuture(), mode);
    QCOMPARE(ran, kItems); // C8: the whole backlog ran before the wait returned
    if (timerFiresDuringDrain) {
        QVERIFY2(ranWhenTimerFired >= 0 && ranWhenTimerFired < kItems,
                 qPrintable(QStringLiteral("timer fired after %1 items").arg(ranWhenTimerFired)));
    } else {
        QCOMPARE(ranWhenTimerFired, -1); // ExecutorOnly runs no timers
        QTRY_COMPARE(ranWhenTimerFired, kItems);
    }
}

QTEST_GUILESS_MAIN(TestWaitModes)
#include "tst_waitmodes.moc"

// C8, C9: "every mode works in every state the thread's event loop can be in, including the
// window after quit() or exit() was requested and before control has returned to exec()". Every
// wait mode, with and without a deadline, entered from every state a thread's event loop can be
// in: plain, QThread::quit() or exit(3) requested, QCoreApplication::quit() or exit(3)
// requested, inside aboutToQuit, inside a nested QEventLoop (quit requested of it, or of the
// whole thread); afterwards the outer exec() still returns as requested. First written from an
// adversarial tester's report (docs/reliability.md) and widened to the whole class.
//
// Threads are ordered with Semaphore hand-offs, never sleeps; every thread is joined with a
// time limit. A deadline is a QDeadlineTimer given to the library, never a sleep.

#include <qdispatch/currentthreadexecutor.h>

#include "testsupport.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QEventLoop>
#include <QtCore/QFuture>
#include <QtCore/QPointer>
#include <QtCore/QPromise>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtTest/QTest>

#include <atomic>
#include <ctime>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

// CPU time this thread has used: a wait that spins shows as CPU time close to its wall time.
qint64 threadCpuMs()
{
    timespec ts {};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return qint64(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// ---------------------------------------------------------------- waits in every loop state

enum class LoopState {
    Plain, // a slot of a running exec(), nothing requested
    ThreadQuit, // QThread::quit() requested in that slot
    ThreadExit3, // QThread::exit(3) requested
    NestedLoopQuit, // inside a nested QEventLoop whose quit() was requested
    NestedThreadQuit, // inside a nested QEventLoop, QThread::quit() requested
    AppQuit, // the main thread, inside QCoreApplication::exec(), after QCoreApplication::quit()
    AppExit3, // the same after QCoreApplication::exit(3)
    AboutToQuit, // inside a slot connected to QCoreApplication::aboutToQuit
};

// The states' names, in the enum's order, for data rows.
const char *const kStateNames[] = { "plain",          "threadQuit",       "threadExit3",
                                    "nestedLoopQuit", "nestedThreadQuit", "appQuit",
                                    "appExit3",       "aboutToQuit" };

enum class DeadlineKind {
    None, // the overload without a deadline
    Forever, // QDeadlineTimer::Forever
    Long, // a minute: the future finishes first
    Short, // kShortMs on a future that never finishes: the deadline ends the wait
};

const char *const kDeadlineNames[] = { "noDeadline", "forever", "long", "short" };

// What one wait did, seen from the owner thread.
struct WaitOutcome
{
    bool entered = false;
    bool threw = false;
    bool returned = false; // the deadline overload's result (true for the overload without one)
    qint64 elapsedMs = -1;
    qint64 cpuMs = -1;
    bool firstRan = false; // an item queued before the wait ran, inside the wait
    bool secondRan = false; // an item submitted during the wait ran, inside the wait
    bool nestedLoopReturned = true;
};

// A wait of the adversarial report, generalised: a worker submits an item before the
// owner waits and another one once the first has run, blocking on each (with a time limit);
// the owner waits for the worker (None/Forever/Long) or for a future that never finishes
// (Short), in `mode`. Runs on the owner thread, in whatever loop state the caller set up.
void waitForWorker(RunMode mode, DeadlineKind kind, WaitOutcome &out)
{
    out.entered = true;
    CurrentThreadExecutor executor;
    StartedPromise<void> workerDone;
    StartedPromise<void> never;
    bool insideWait = false; // owner thread only
    std::atomic<bool> firstInside { false };
    std::atomic<bool> secondInside { false };
    Semaphore submitted;
    Semaphore firstRan;
    Semaphore secondRan;
    AnyThread worker(true, [&] {
        QFuture<void> first = executor.submit([&] {
            firstInside = insideWait;
            firstRan.release();
        });
        submitted.release();
        if (firstRan.tryAcquire(1, kServeMs)) {
            QFuture<void> second = executor.submit([&] {
                secondInside = insideWait;
                secondRan.release();
            });
            (void)secondRan.tryAcquire(1, kServeMs);
        }
        workerDone.finish();
    });
    if (!submitted.tryAcquire(1, kHandshakeMs))
        return;

    const QFuture<void> awaited =
        kind == DeadlineKind::Short ? never.future() : workerDone.future();
    QDeadlineTimer deadline(QDeadlineTimer::Forever);
    if (kind == DeadlineKind::Long)
        deadline = QDeadlineTimer(60000);
    else if (kind == DeadlineKind::Short)
        deadline = QDeadlineTimer(kShortMs, Qt::PreciseTimer);

    QElapsedTimer clock;
    clock.start();
    const qint64 cpuBefore = threadCpuMs();
    insideWait = true;
    const auto result =
        waitFor(executor, awaited,
                kind == DeadlineKind::None ? std::nullopt : std::optional(deadline), mode);
    out.threw = !result;
    out.returned = result.value_or(false);
    insideWait = false;
    out.cpuMs = threadCpuMs() - cpuBefore;
    out.elapsedMs = clock.elapsed();
    out.firstRan = firstInside.load();
    out.secondRan = secondInside.load();
    // Whatever is left runs now (and the worker ends), so nothing outlives this frame.
    (void)executor.runUntilFuture(workerDone.future(), QDeadlineTimer(kJoinMs),
                                  RunMode::ExecutorOnly);
    (void)worker.join();
}

// Runs waitForWorker() in `state` and checks that the loop around it ends as requested.
// Returns the exec() result (or -100 when it did not return).
int waitInState(LoopState state, RunMode mode, DeadlineKind kind, WaitOutcome &out)
{
    const auto wait = [&] { waitForWorker(mode, kind, out); };
    switch (state) {
    case LoopState::Plain:
    case LoopState::ThreadQuit:
    case LoopState::ThreadExit3:
    case LoopState::NestedLoopQuit:
    case LoopState::NestedThreadQuit: {
        ExecThread thread([&] {
            switch (state) {
            case LoopState::Plain:
                wait();
                QThread::currentThread()->quit();
                break;
            case LoopState::ThreadQuit:
                QThread::currentThread()->quit();
                wait();
                break;
            case LoopState::ThreadExit3:
                QThread::currentThread()->exit(3);
                wait();
                break;
            case LoopState::NestedLoopQuit:
            case LoopState::NestedThreadQuit: {
                QEventLoop nested;
                QTimer::singleShot(0, &nested, [&] {
                    if (state == LoopState::NestedLoopQuit)
                        nested.quit();
                    else
                        QThread::currentThread()->quit();
                    wait();
                });
                out.nestedLoopReturned = false;
                nested.exec();
                out.nestedLoopReturned = true;
                if (state == LoopState::NestedLoopQuit)
                    QThread::currentThread()->quit();
                break;
            }
            default:
                break;
            }
        });
        thread.start();
        return thread.joined() ? thread.execResult() : -100;
    }
    case LoopState::AppQuit:
    case LoopState::AppExit3:
    case LoopState::AboutToQuit: {
        QObject context;
        bool lost = false;
        // A quit request that got lost would leave exec() running: end it from a timer, loudly.
        QTimer::singleShot(2 * kJoinMs, &context, [&] {
            lost = true;
            QCoreApplication::exit(99);
        });
        if (state == LoopState::AboutToQuit)
            QObject::connect(qApp, &QCoreApplication::aboutToQuit, &context, wait);
        QTimer::singleShot(0, &context, [&] {
            if (state == LoopState::AppExit3) {
                QCoreApplication::exit(3);
                wait();
            } else {
                QCoreApplication::quit();
                if (state == LoopState::AppQuit)
                    wait();
            }
        });
        const int result = QCoreApplication::exec();
        return lost ? -100 : result;
    }
    }
    return -100;
}

} // namespace

class TestLoopStates : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void c8_c9_waitInEveryLoopState_data();
    void c8_c9_waitInEveryLoopState();
    void c9_quitRequestedDuringTheWait_data();
    void c9_quitRequestedDuringTheWait();
    void c9_timersPostedEventsAndDeferredDeletesAfterQuit_data();
    void c9_timersPostedEventsAndDeferredDeletesAfterQuit();
    void c8_c9_nestedWaitsAfterQuit_data();
    void c8_c9_nestedWaitsAfterQuit();
};

// C8, C9 ("every mode works in every state the thread's event loop can be in, including after
// quit() or exit() was requested and before control returned to exec()"): the wait runs items
// queued before it and items sent during it, returns as its deadline says, does not spin, and
// afterwards the loops around it end as they were asked to (the request is not lost).
void TestLoopStates::c8_c9_waitInEveryLoopState_data()
{
    addColumns<int, RunMode, int>({ "state", "mode", "deadline" });
    for (LoopState state : { LoopState::Plain, LoopState::ThreadQuit, LoopState::ThreadExit3,
                             LoopState::NestedLoopQuit, LoopState::NestedThreadQuit,
                             LoopState::AppQuit, LoopState::AppExit3, LoopState::AboutToQuit }) {
        for (RunMode mode : kModes) {
            for (DeadlineKind kind : { DeadlineKind::None, DeadlineKind::Forever,
                                       DeadlineKind::Long, DeadlineKind::Short }) {
                QTest::addRow("%s-%s-%s", kStateNames[int(state)], modeName(mode),
                              kDeadlineNames[int(kind)])
                    << int(state) << mode << int(kind);
            }
        }
    }
}

void TestLoopStates::c8_c9_waitInEveryLoopState()
{
    QFETCH(int, state);
    QFETCH(RunMode, mode);
    QFETCH(int, deadline);
    const auto loopState = LoopState(state);
    const auto kind = DeadlineKind(deadline);

    WaitOutcome out;
    const int result = waitInState(loopState, mode, kind, out);
    const QString info = QStringLiteral("returned %1 after %2 ms, %3 ms CPU; first item ran "
                                        "inside: %4, second: %5")
                             .arg(out.returned)
                             .arg(out.elapsedMs)
                             .arg(out.cpuMs)
                             .arg(out.firstRan)
                             .arg(out.secondRan);
    QVERIFY(out.entered);
    QVERIFY2(!out.threw, qPrintable(info));
    QVERIFY2(out.firstRan,
             qPrintable(QStringLiteral("C3/C8: the item queued before the wait "
                                       "did not run inside it; ") +
                        info));
    if (kind == DeadlineKind::Short) {
        QVERIFY2(!out.returned, qPrintable(info));
        QVERIFY2(out.elapsedMs >= kShortMs - 5 && out.elapsedMs < kShortMs + kLateMs,
                 qPrintable(info));
        // Waiting is sleeping: a spinning wait uses about as much CPU as wall time (measured
        // 50-100 % before the fix on a shared two-core machine; a sleeping wait, about 0).
        QVERIFY2(out.cpuMs * 4 < out.elapsedMs, qPrintable(QStringLiteral("spins: ") + info));
    } else {
        QVERIFY2(out.returned, qPrintable(info));
        QVERIFY2(out.secondRan,
                 qPrintable(QStringLiteral("C3/C8: the item submitted during "
                                           "the wait did not run inside it; ") +
                            info));
        QVERIFY2(out.elapsedMs < kServeMs, qPrintable(info));
    }
    QVERIFY(out.nestedLoopReturned);
    // The loop around the wait ended as requested: the request was not lost.
    const int expected =
        loopState == LoopState::ThreadExit3 || loopState == LoopState::AppExit3 ? 3 : 0;
    QCOMPARE(result, expected);
}

// C9: a quit requested *during* a wait (by an item the wait runs) neither ends the wait early
// nor makes it spin, and is still honoured by the outer exec() afterwards.
void TestLoopStates::c9_quitRequestedDuringTheWait_data()
{
    addModeFlagRows("byApplication", "thread", "application");
}

void TestLoopStates::c9_quitRequestedDuringTheWait()
{
    QFETCH(RunMode, mode);
    QFETCH(bool, byApplication);
    bool ok = false;
    qint64 elapsed = -1;
    qint64 cpu = -1;
    bool laterRan = false;
    const auto body = [&] {
        CurrentThreadExecutor executor;
        StartedPromise<void> never;
        StartedPromise<void> done;
        Semaphore quitRequested;
        Semaphore laterItemRan;
        AnyThread worker(false, [&] {
            executor.submit([&] {
                if (byApplication)
                    QCoreApplication::exit(5);
                else
                    QThread::currentThread()->exit(5);
                quitRequested.release();
            });
            if (quitRequested.tryAcquire(1, kServeMs)) {
                executor.submit([&] { laterItemRan.release(); });
                laterRan = laterItemRan.tryAcquire(1, kServeMs);
            }
            done.finish();
        });
        QElapsedTimer clock;
        clock.start();
        const qint64 cpuBefore = threadCpuMs();
        // Short deadline on a future that never finishes: must be the full kShortMs, asleep.
        const bool first = executor.runUntilFuture(never.future(), QDeadlineTimer(kShortMs), mode);
        cpu = threadCpuMs() - cpuBefore;
        elapsed = clock.elapsed();
        const bool second = executor.runUntilFuture(done.future(), QDeadlineTimer(kJoinMs), mode);
        ok = !first && second;
        (void)worker.join();
    };
    int result = -100;
    if (byApplication) {
        QObject context;
        QTimer::singleShot(0, &context, body);
        result = QCoreApplication::exec();
    } else {
        ExecThread thread(body);
        thread.start();
        QVERIFY(thread.joined());
        result = thread.execResult();
    }
    const QString info = QStringLiteral("%1 ms, %2 ms CPU").arg(elapsed).arg(cpu);
    QVERIFY2(ok, qPrintable(info));
    QVERIFY2(laterRan, "C8: an item sent after the quit request did not run inside the wait");
    QVERIFY2(elapsed >= kShortMs - 5 && elapsed < kShortMs + kLateMs, qPrintable(info));
    QVERIFY2(cpu * 4 < elapsed, qPrintable(QStringLiteral("spins: ") + info));
    QCOMPARE(result, 5); // the request made during the wait still ends exec()
}

// C9: "timers, paint, input, other executors of the thread all keep running" in the event-loop
// modes, also after a quit request: a timer, a queued call, another executor of the thread and
// a deferred delete posted by an item all happen inside the wait; an object whose deleteLater()
// was called before the wait, in the same slot, is not deleted by the wait (Qt's rule: deferred
// deletes wait for control to return to the loop that posted them). The item that posts the
// deferred delete is submitted once the waits before its own are over: accepted while one of
// them ended, it would run in that call's drain of what was accepted before (C8), in this slot,
// where by the same rule its deferred delete waits for the thread's loop (1 run in about 150
// under ASan with two copies at once, before it was ordered).
void TestLoopStates::c9_timersPostedEventsAndDeferredDeletesAfterQuit_data()
{
    addColumns<RunMode, bool>({ "mode", "quit" });
    for (RunMode mode : { RunMode::AllEvents, RunMode::ExcludeUserInput }) {
        QTest::addRow("%s-plain", modeName(mode)) << mode << false;
        QTest::addRow("%s-afterQuit", modeName(mode)) << mode << true;
    }
}

void TestLoopStates::c9_timersPostedEventsAndDeferredDeletesAfterQuit()
{
    QFETCH(RunMode, mode);
    QFETCH(bool, quit);
    bool timerRan = false, postedRan = false, otherRan = false, itemDeleteDone = false;
    bool earlyDeleteSurvived = false, allReturned = false;
    QPointer<QObject> early;
    ExecThread thread([&] {
        if (quit)
            QThread::currentThread()->quit();
        CurrentThreadExecutor executor;
        CurrentThreadExecutor other;
        auto *earlyObject = new QObject;
        early = earlyObject;
        earlyObject->deleteLater();
        QObject context;
        QPromise<void> byTimer, byPosted, byOther, byDelete;
        for (auto *p : { &byTimer, &byPosted, &byOther, &byDelete })
            p->start();
        Semaphore deleteTurn;
        QTimer::singleShot(5, &context, [&] {
            timerRan = true;
            byTimer.finish();
        });
        QMetaObject::invokeMethod(
            &context,
            [&] {
                postedRan = true;
                byPosted.finish();
            },
            Qt::QueuedConnection);
        AnyThread worker(false, [&] {
            other.submit([&] {
                otherRan = true;
                byOther.finish();
            });
            if (!deleteTurn.tryAcquire(1, kJoinMs))
                return;
            executor.submit([&] {
                auto *doomed = new QObject;
                QObject::connect(doomed, &QObject::destroyed, [&] {
                    itemDeleteDone = true;
                    byDelete.finish();
                });
                doomed->deleteLater();
            });
        });
        bool all = true;
        for (auto *p : { &byTimer, &byPosted, &byOther, &byDelete }) {
            if (p == &byDelete)
                deleteTurn.release();
            all = executor.runUntilFuture(p->future(), QDeadlineTimer(kServeMs), mode) && all;
        }
        allReturned = all;
        earlyDeleteSurvived = !early.isNull();
        (void)worker.join();
        if (!quit)
            QThread::currentThread()->quit();
    });
    thread.start();
    QVERIFY(thread.joined());
    QVERIFY(allReturned);
    QVERIFY(timerRan);
    QVERIFY(postedRan);
    QVERIFY(otherRan);
    QVERIFY(itemDeleteDone);
    QVERIFY2(earlyDeleteSurvived,
             "the wait deleted an object whose deleteLater() was called "
             "before it, in the same slot");
    QCOMPARE(thread.execResult(), 0);
}

// C8 (nesting) with C9: after a quit request, an item run by the wait waits again, on the same
// or another executor of the thread, in every mode; both waits work.
void TestLoopStates::c8_c9_nestedWaitsAfterQuit_data()
{
    addColumns<RunMode, RunMode, bool>({ "outer", "inner", "otherExecutor" });
    for (RunMode outer : kModes)
        for (RunMode inner : kModes)
            for (bool otherExecutor : { false, true })
                QTest::addRow("%s-%s-%s", modeName(outer), modeName(inner),
                              otherExecutor ? "other" : "same")
                    << outer << inner << otherExecutor;
}

void TestLoopStates::c8_c9_nestedWaitsAfterQuit()
{
    QFETCH(RunMode, outer);
    QFETCH(RunMode, inner);
    QFETCH(bool, otherExecutor);
    bool outerOk = false;
    std::atomic<bool> innerOk { false };
    std::atomic<bool> laterRan { false };
    ExecThread thread([&] {
        QThread::currentThread()->quit();
        CurrentThreadExecutor executor;
        CurrentThreadExecutor other;
        CurrentThreadExecutor &target = otherExecutor ? other : executor;
        StartedPromise<void> gate;
        Semaphore firstStarted;
        AnyThread worker(false, [&] {
            QFuture<void> first = executor.submit([&] {
                firstStarted.release();
                innerOk = target.runUntilFuture(gate.future(), QDeadlineTimer(kServeMs), inner);
            });
            if (firstStarted.tryAcquire(1, kServeMs)) {
                target.submit([&] {
                    laterRan = true;
                    gate.finish();
                });
            }
            (void)first;
        });
        outerOk = executor.runUntilFuture(gate.future(), QDeadlineTimer(2 * kServeMs), outer);
        (void)worker.join();
        drain(executor, RunMode::ExecutorOnly);
        drain(other, RunMode::ExecutorOnly);
    });
    thread.start();
    QVERIFY(thread.joined());
    QVERIFY(outerOk);
    QVERIFY(laterRan.load());
    QVERIFY(innerOk.load());
    QCOMPARE(thread.execResult(), 0);
}

QTEST_GUILESS_MAIN(TestLoopStates)
#include "tst_loopstates.moc"

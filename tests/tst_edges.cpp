// Edge cases of waiting and routing, first written from an adversarial tester's report and
// widened from its six scenarios to the whole class of each failure:
//  - C8/C9: every wait mode, with and without a deadline, entered from every state a thread's
//    event loop can be in: plain, QThread::quit() or exit(3) requested, QCoreApplication::quit()
//    or exit(3) requested, inside aboutToQuit, inside a nested QEventLoop (quit requested of it,
//    or of the whole thread); afterwards the outer exec() still returns as requested;
//  - C9: the deadline holds in every mode while items keep arriving (an item that re-posts
//    itself, a producer thread flooding), for deadlines zero, past, short, long and forever;
//  - C9: any deadline a QDeadlineTimer can hold works, without a Qt warning;
//  - X2: postLatest keeps replacing an item after it moved down the chain, for every kind of
//    hand-off, over several hops, and to an executor on another thread;
//  - X3: invoke serves every live executor of the waiting thread, not only the newest.
// Long chains of executors (C11) are in tst_chains.cpp.
//
// Threads are ordered with Semaphore hand-offs, never sleeps; every thread is joined with a
// time limit. A deadline is a QDeadlineTimer given to the library, never a sleep.

#include <qdispatch/currentthreadexecutor.h>

#include "messages.h"
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
#include <chrono>
#include <ctime>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

using qdispatch::CurrentThreadExecutor;
using qdispatch::ExecutorError;
using qdispatch::RunMode;
using namespace qdispatchtest;

namespace {

// Runs every item the executor accepted so far, and nothing else.
void drainAll(CurrentThreadExecutor &executor)
{
    drain(executor, RunMode::ExecutorOnly);
}

// How long a worker waits for the owner to run its item before it gives up. A wait that does
// not serve items shows as this timeout, not as a hang.
constexpr int kItemMs = 5000;
// A short deadline, and how late a wait may return after it (a loaded two-core machine, and
// the sanitizer builds) before it counts as ignoring the deadline.
constexpr int kShortMs = 300;
constexpr int kLateMs = 1500;

// CPU time this thread has used: a wait that spins shows as CPU time close to its wall time.
qint64 threadCpuMs()
{
    timespec ts{};
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

const char *stateName(LoopState state)
{
    switch (state) {
    case LoopState::Plain:
        return "plain";
    case LoopState::ThreadQuit:
        return "threadQuit";
    case LoopState::ThreadExit3:
        return "threadExit3";
    case LoopState::NestedLoopQuit:
        return "nestedLoopQuit";
    case LoopState::NestedThreadQuit:
        return "nestedThreadQuit";
    case LoopState::AppQuit:
        return "appQuit";
    case LoopState::AppExit3:
        return "appExit3";
    case LoopState::AboutToQuit:
        return "aboutToQuit";
    }
    return "?";
}

enum class DeadlineKind {
    None, // the overload without a deadline
    Forever, // QDeadlineTimer::Forever
    Long, // a minute: the future finishes first
    Short, // kShortMs on a future that never finishes: the deadline ends the wait
};

const char *deadlineName(DeadlineKind kind)
{
    switch (kind) {
    case DeadlineKind::None:
        return "noDeadline";
    case DeadlineKind::Forever:
        return "forever";
    case DeadlineKind::Long:
        return "long";
    case DeadlineKind::Short:
        return "short";
    }
    return "?";
}

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
    QPromise<void> workerDone;
    workerDone.start();
    QPromise<void> never;
    never.start();
    bool insideWait = false; // owner thread only
    std::atomic<bool> firstInside{false};
    std::atomic<bool> secondInside{false};
    Semaphore submitted;
    Semaphore firstRan;
    Semaphore secondRan;
    AnyThread worker(true, [&] {
        QFuture<void> first = executor.submit([&] {
            firstInside = insideWait;
            firstRan.release();
        });
        submitted.release();
        if (firstRan.tryAcquire(1, kItemMs)) {
            QFuture<void> second = executor.submit([&] {
                secondInside = insideWait;
                secondRan.release();
            });
            (void)secondRan.tryAcquire(1, kItemMs);
        }
        workerDone.finish();
    });
    if (!submitted.tryAcquire(1, kHandshakeMs))
        return;

    const QFuture<void> awaited = kind == DeadlineKind::Short ? never.future() : workerDone.future();
    QDeadlineTimer deadline(QDeadlineTimer::Forever);
    if (kind == DeadlineKind::Long)
        deadline = QDeadlineTimer(60000);
    else if (kind == DeadlineKind::Short)
        deadline = QDeadlineTimer(kShortMs, Qt::PreciseTimer);

    QElapsedTimer clock;
    clock.start();
    const qint64 cpuBefore = threadCpuMs();
    insideWait = true;
    try {
        if (kind == DeadlineKind::None) {
            executor.runUntilFuture(awaited, mode);
            out.returned = true;
        } else {
            out.returned = executor.runUntilFuture(awaited, deadline, mode);
        }
    } catch (...) {
        out.threw = true;
    }
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

// ------------------------------------------------------------------------------- the floods

enum class FloodKind { SelfRepost, Producer };

enum class FloodDeadline {
    Zero,
    Past,
    Short,
    Long, // a minute; the future finishes first, while the flood goes on
    Forever, // the overload without a deadline; the future finishes while the flood goes on
};

const char *floodDeadlineName(FloodDeadline d)
{
    switch (d) {
    case FloodDeadline::Zero:
        return "zero";
    case FloodDeadline::Past:
        return "past";
    case FloodDeadline::Short:
        return "short";
    case FloodDeadline::Long:
        return "long";
    case FloodDeadline::Forever:
        return "forever";
    }
    return "?";
}

// An item that posts itself again until told to stop: items keep arriving for as long as the
// owner runs them.
struct Repost
{
    CurrentThreadExecutor *executor;
    std::atomic<bool> *stop;
    std::atomic<long long> *ran;
    Semaphore *thousand;
    void operator()() const
    {
        if (ran->fetch_add(1) + 1 == 1000)
            thousand->release();
        if (!stop->load())
            executor->post(*this);
    }
};

struct FloodOutcome
{
    bool threw = false;
    bool returned = false;
    qint64 elapsedMs = -1;
    long long ranDuringWait = 0;
    bool watchdogFired = false;
};

// Items keep arriving while the owner waits.
void waitUnderFlood(RunMode mode, FloodKind flood, FloodDeadline kind, FloodOutcome &out)
{
    CurrentThreadExecutor executor;
    std::atomic<bool> stop{false};
    std::atomic<long long> ran{0};
    Semaphore thousand;
    Semaphore floodGoing;
    Semaphore testOver;
    QPromise<void> finishedLater;
    finishedLater.start();
    QPromise<void> never;
    never.start();

    // A wait that ignores its deadline would run for as long as the flood lasts: the watchdog
    // ends the flood after a while, so such a wait shows as late, not as a hang.
    std::atomic<bool> fired{false};
    AnyThread watchdog(false, [&] {
        if (!testOver.tryAcquire(1, 8000)) {
            fired = true;
            stop = true;
        }
    });
    std::unique_ptr<AnyThread> producer;
    if (flood == FloodKind::SelfRepost) {
        executor.post(Repost{ &executor, &stop, &ran, &thousand });
    } else {
        producer = std::make_unique<AnyThread>(false, [&] {
            long long posted = 0;
            bool announced = false;
            while (!stop.load()) {
                // Keep at most 20,000 queued: a flood, not a memory test.
                if (posted - ran.load() < 20000) {
                    executor.post([&] {
                        if (ran.fetch_add(1) + 1 == 1000)
                            thousand.release();
                    });
                    ++posted;
                } else {
                    if (!announced) {
                        announced = true;
                        floodGoing.release();
                    }
                    std::this_thread::yield();
                }
            }
            if (!announced)
                floodGoing.release();
        });
        (void)floodGoing.tryAcquire(1, kHandshakeMs);
    }
    // For Long and Forever: the awaited future finishes once the owner has run 1,000 flood
    // items, i.e. from inside the wait, with the flood still going.
    AnyThread finisher(false, [&] {
        (void)thousand.tryAcquire(1, kJoinMs);
        finishedLater.finish();
    });

    QDeadlineTimer deadline(QDeadlineTimer::Forever);
    QFuture<void> awaited = never.future();
    switch (kind) {
    case FloodDeadline::Zero:
        deadline = QDeadlineTimer(0);
        break;
    case FloodDeadline::Past:
        deadline = QDeadlineTimer::addNSecs(QDeadlineTimer::current(), -1000LL * 1000 * 1000);
        break;
    case FloodDeadline::Short:
        deadline = QDeadlineTimer(kShortMs, Qt::PreciseTimer);
        break;
    case FloodDeadline::Long:
        deadline = QDeadlineTimer(60000);
        awaited = finishedLater.future();
        break;
    case FloodDeadline::Forever:
        awaited = finishedLater.future();
        break;
    }

    const long long ranBefore = ran.load();
    QElapsedTimer clock;
    clock.start();
    try {
        if (kind == FloodDeadline::Forever) {
            executor.runUntilFuture(awaited, mode);
            out.returned = true;
        } else {
            out.returned = executor.runUntilFuture(awaited, deadline, mode);
        }
    } catch (...) {
        out.threw = true;
    }
    out.elapsedMs = clock.elapsed();
    out.ranDuringWait = ran.load() - ranBefore;

    stop = true;
    testOver.release();
    thousand.release(); // the finisher ends even if the wait ran fewer than 1,000 items
    (void)watchdog.join();
    if (producer)
        (void)producer->join();
    (void)finisher.join();
    out.watchdogFired = fired.load();
    // The flood has stopped: run what is left (a re-posting item posts no more).
    drainAll(executor);
    drainAll(executor);
}

// --------------------------------------------------------------------------- far deadlines

QDeadlineTimer farDeadline(int which)
{
    using std::chrono::hours;
    const qint64 day = 24LL * 3600 * 1000;
    switch (which) {
    case 0:
        return QDeadlineTimer(QDeadlineTimer::Forever);
    case 1:
        return QDeadlineTimer(qint64(std::numeric_limits<int>::max()) + 1); // just past int
    case 2:
        return QDeadlineTimer((1LL << 32) + 1); // narrowed to int this is 1 ms
    case 3:
        return QDeadlineTimer(30 * day);
    case 4:
        return QDeadlineTimer(365 * day);
    case 5:
        return QDeadlineTimer(100 * 365 * day);
    case 6:
        return QDeadlineTimer(std::numeric_limits<qint64>::max());
    case 7:
        return QDeadlineTimer(std::numeric_limits<qint64>::max() - 1);
    case 8:
        return QDeadlineTimer::addNSecs(QDeadlineTimer::current(),
                                        std::numeric_limits<qint64>::max() / 2);
    case 9:
        return QDeadlineTimer(0);
    case 10:
        return QDeadlineTimer::addNSecs(QDeadlineTimer::current(), -1000LL * 1000 * 1000);
    case 11:
        return QDeadlineTimer(std::numeric_limits<qint64>::min());
    case 12:
        return QDeadlineTimer(std::numeric_limits<qint64>::min() + 1);
    case 13:
        return QDeadlineTimer(-2);
    case 14:
        return QDeadlineTimer::addNSecs(QDeadlineTimer::current(),
                                        std::numeric_limits<qint64>::min() / 2);
    }
    return QDeadlineTimer();
}

const char *const kFarDeadlineNames[] = {
    "forever",      "intMaxPlus1ms", "2^32+1ms", "30days",     "1year",
    "100years",     "qint64MaxMs",   "qint64MaxMinus1Ms",     "halfQint64MaxNs",
    "zero",         "pastSecond",    "qint64MinMs", "qint64MinPlus1Ms", "minus2Ms",
    "halfQint64MinNs",
};
constexpr int kFarDeadlines = int(sizeof(kFarDeadlineNames) / sizeof(kFarDeadlineNames[0]));

} // namespace

class TestEdges : public QObject
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
    void c9_deadlineHoldsUnderFlood_data();
    void c9_deadlineHoldsUnderFlood();
    void c9_anyDeadlineWorksWithoutWarnings_data();
    void c9_anyDeadlineWorksWithoutWarnings();
    void x2_postLatestReplacesAfterHandOff_data();
    void x2_postLatestReplacesAfterHandOff();
    void x2_postLatestHandOffToAnotherThread_data();
    void x2_postLatestHandOffToAnotherThread();
    void x2_postLatestHandOffMeetsAQueuedKey();
    void x3_invokeServesEveryLiveExecutor_data();
    void x3_invokeServesEveryLiveExecutor();
    void x3_invokeServesAnExecutorCreatedDuringTheWait();
};

// C8, C9 ("every mode works in every state the thread's event loop can be in, including after
// quit() or exit() was requested and before control returned to exec()"): the wait runs items
// queued before it and items sent during it, returns as its deadline says, does not spin, and
// afterwards the loops around it end as they were asked to (the request is not lost).
void TestEdges::c8_c9_waitInEveryLoopState_data()
{
    QTest::addColumn<int>("state");
    QTest::addColumn<RunMode>("mode");
    QTest::addColumn<int>("deadline");
    for (LoopState state : { LoopState::Plain, LoopState::ThreadQuit, LoopState::ThreadExit3,
                             LoopState::NestedLoopQuit, LoopState::NestedThreadQuit,
                             LoopState::AppQuit, LoopState::AppExit3, LoopState::AboutToQuit }) {
        for (RunMode mode : kModes) {
            for (DeadlineKind kind : { DeadlineKind::None, DeadlineKind::Forever,
                                       DeadlineKind::Long, DeadlineKind::Short }) {
                QTest::addRow("%s-%s-%s", stateName(state), modeName(mode), deadlineName(kind))
                        << int(state) << mode << int(kind);
            }
        }
    }
}

void TestEdges::c8_c9_waitInEveryLoopState()
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
    QVERIFY2(out.firstRan, qPrintable(QStringLiteral("C3/C8: the item queued before the wait "
                                                     "did not run inside it; ")
                                      + info));
    if (kind == DeadlineKind::Short) {
        QVERIFY2(!out.returned, qPrintable(info));
        QVERIFY2(out.elapsedMs >= kShortMs - 5 && out.elapsedMs < kShortMs + kLateMs,
                 qPrintable(info));
        // Waiting is sleeping: a spinning wait uses about as much CPU as wall time (measured
        // 50-100 % before the fix on a shared two-core machine; a sleeping wait, about 0).
        QVERIFY2(out.cpuMs * 4 < out.elapsedMs, qPrintable(QStringLiteral("spins: ") + info));
    } else {
        QVERIFY2(out.returned, qPrintable(info));
        QVERIFY2(out.secondRan, qPrintable(QStringLiteral("C3/C8: the item submitted during "
                                                          "the wait did not run inside it; ")
                                           + info));
        QVERIFY2(out.elapsedMs < kItemMs, qPrintable(info));
    }
    QVERIFY(out.nestedLoopReturned);
    // The loop around the wait ended as requested: the request was not lost.
    const int expected =
            loopState == LoopState::ThreadExit3 || loopState == LoopState::AppExit3 ? 3 : 0;
    QCOMPARE(result, expected);
}

// C9: a quit requested *during* a wait (by an item the wait runs) neither ends the wait early
// nor makes it spin, and is still honoured by the outer exec() afterwards.
void TestEdges::c9_quitRequestedDuringTheWait_data()
{
    QTest::addColumn<RunMode>("mode");
    QTest::addColumn<bool>("byApplication");
    for (RunMode mode : kModes) {
        QTest::addRow("%s-thread", modeName(mode)) << mode << false;
        QTest::addRow("%s-application", modeName(mode)) << mode << true;
    }
}

void TestEdges::c9_quitRequestedDuringTheWait()
{
    QFETCH(RunMode, mode);
    QFETCH(bool, byApplication);
    bool ok = false;
    qint64 elapsed = -1;
    qint64 cpu = -1;
    bool laterRan = false;
    const auto body = [&] {
        CurrentThreadExecutor executor;
        QPromise<void> never;
        never.start();
        QPromise<void> done;
        done.start();
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
            if (quitRequested.tryAcquire(1, kItemMs)) {
                executor.submit([&] { laterItemRan.release(); });
                laterRan = laterItemRan.tryAcquire(1, kItemMs);
            }
            done.finish();
        });
        QElapsedTimer clock;
        clock.start();
        const qint64 cpuBefore = threadCpuMs();
        // Short deadline on a future that never finishes: must be the full kShortMs, asleep.
        const bool first = executor.runUntilFuture(never.future(), QDeadlineTimer(kShortMs),
                                                   mode);
        cpu = threadCpuMs() - cpuBefore;
        elapsed = clock.elapsed();
        const bool second =
                executor.runUntilFuture(done.future(), QDeadlineTimer(kJoinMs), mode);
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
// deletes wait for control to return to the loop that posted them).
void TestEdges::c9_timersPostedEventsAndDeferredDeletesAfterQuit_data()
{
    QTest::addColumn<RunMode>("mode");
    QTest::addColumn<bool>("quit");
    for (RunMode mode : { RunMode::AllEvents, RunMode::ExcludeUserInput }) {
        QTest::addRow("%s-plain", modeName(mode)) << mode << false;
        QTest::addRow("%s-afterQuit", modeName(mode)) << mode << true;
    }
}

void TestEdges::c9_timersPostedEventsAndDeferredDeletesAfterQuit()
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
        for (auto *p : { &byTimer, &byPosted, &byOther, &byDelete })
            all = executor.runUntilFuture(p->future(), QDeadlineTimer(kItemMs), mode) && all;
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
    QVERIFY2(earlyDeleteSurvived, "the wait deleted an object whose deleteLater() was called "
                                  "before it, in the same slot");
    QCOMPARE(thread.execResult(), 0);
}

// C8 (nesting) with C9: after a quit request, an item run by the wait waits again, on the same
// or another executor of the thread, in every mode; both waits work.
void TestEdges::c8_c9_nestedWaitsAfterQuit_data()
{
    QTest::addColumn<RunMode>("outer");
    QTest::addColumn<RunMode>("inner");
    QTest::addColumn<bool>("otherExecutor");
    for (RunMode outer : kModes)
        for (RunMode inner : kModes)
            for (bool otherExecutor : { false, true })
                QTest::addRow("%s-%s-%s", modeName(outer), modeName(inner),
                              otherExecutor ? "other" : "same")
                        << outer << inner << otherExecutor;
}

void TestEdges::c8_c9_nestedWaitsAfterQuit()
{
    QFETCH(RunMode, outer);
    QFETCH(RunMode, inner);
    QFETCH(bool, otherExecutor);
    bool outerOk = false;
    std::atomic<bool> innerOk{false};
    std::atomic<bool> laterRan{false};
    ExecThread thread([&] {
        QThread::currentThread()->quit();
        CurrentThreadExecutor executor;
        CurrentThreadExecutor other;
        CurrentThreadExecutor &target = otherExecutor ? other : executor;
        QPromise<void> gate;
        gate.start();
        Semaphore firstStarted;
        AnyThread worker(false, [&] {
            QFuture<void> first = executor.submit([&] {
                firstStarted.release();
                innerOk = target.runUntilFuture(gate.future(), QDeadlineTimer(kItemMs), inner);
            });
            if (firstStarted.tryAcquire(1, kItemMs)) {
                target.submit([&] {
                    laterRan = true;
                    gate.finish();
                });
            }
            (void)first;
        });
        outerOk = executor.runUntilFuture(gate.future(), QDeadlineTimer(2 * kItemMs), outer);
        (void)worker.join();
        drainAll(executor);
        drainAll(other);
    });
    thread.start();
    QVERIFY(thread.joined());
    QVERIFY(outerOk);
    QVERIFY(laterRan.load());
    QVERIFY(innerOk.load());
    QCOMPARE(thread.execResult(), 0);
}

// C9: "the deadline holds in every mode, also while items keep arriving": an item that posts
// itself again, or a producer thread that floods; deadlines zero, past, short; and with a long
// or no deadline the wait still ends when its future finishes in the middle of the flood. Run
// in a plain loop and after a quit request.
void TestEdges::c9_deadlineHoldsUnderFlood_data()
{
    QTest::addColumn<RunMode>("mode");
    QTest::addColumn<int>("flood");
    QTest::addColumn<int>("deadline");
    QTest::addColumn<bool>("quit");
    for (bool quit : { false, true }) {
        for (RunMode mode : kModes) {
            for (FloodKind flood : { FloodKind::SelfRepost, FloodKind::Producer }) {
                for (FloodDeadline d : { FloodDeadline::Zero, FloodDeadline::Past,
                                         FloodDeadline::Short, FloodDeadline::Long,
                                         FloodDeadline::Forever }) {
                    QTest::addRow("%s-%s-%s-%s", quit ? "afterQuit" : "plain", modeName(mode),
                                  flood == FloodKind::SelfRepost ? "selfRepost" : "producer",
                                  floodDeadlineName(d))
                            << mode << int(flood) << int(d) << quit;
                }
            }
        }
    }
}

void TestEdges::c9_deadlineHoldsUnderFlood()
{
    QFETCH(RunMode, mode);
    QFETCH(int, flood);
    QFETCH(int, deadline);
    QFETCH(bool, quit);
    const auto kind = FloodDeadline(deadline);
    FloodOutcome out;
    ExecThread thread([&] {
        if (quit)
            QThread::currentThread()->quit();
        waitUnderFlood(mode, FloodKind(flood), kind, out);
        if (!quit)
            QThread::currentThread()->quit();
    });
    thread.start();
    QVERIFY(thread.joined());
    QCOMPARE(thread.execResult(), 0);
    const QString info = QStringLiteral("returned %1 after %2 ms, %3 flood items ran meanwhile")
                                 .arg(out.returned)
                                 .arg(out.elapsedMs)
                                 .arg(out.ranDuringWait);
    QVERIFY2(!out.threw, qPrintable(info));
    QVERIFY2(!out.watchdogFired,
             qPrintable(QStringLiteral("the wait outlasted the flood's 8 s watchdog; ") + info));
    switch (kind) {
    case FloodDeadline::Zero:
    case FloodDeadline::Past:
        QVERIFY2(!out.returned, qPrintable(info));
        QVERIFY2(out.elapsedMs < kLateMs, qPrintable(info));
        break;
    case FloodDeadline::Short:
        QVERIFY2(!out.returned, qPrintable(info));
        QVERIFY2(out.elapsedMs >= kShortMs - 5 && out.elapsedMs < kShortMs + kLateMs,
                 qPrintable(info));
        QVERIFY2(out.ranDuringWait > 0, qPrintable(info)); // it served the flood meanwhile
        break;
    case FloodDeadline::Long:
    case FloodDeadline::Forever:
        QVERIFY2(out.returned, qPrintable(info));
        QVERIFY2(out.ranDuringWait >= 1000, qPrintable(info));
        QVERIFY2(out.elapsedMs < kJoinMs, qPrintable(info));
        break;
    }
}

// C9: "any deadline a QDeadlineTimer can hold works": far ones (beyond an int of milliseconds,
// years, the largest values) wait for the future and return true; expired ones (zero, past,
// the smallest values) return false at once; Qt prints no warning either way.
void TestEdges::c9_anyDeadlineWorksWithoutWarnings_data()
{
    QTest::addColumn<RunMode>("mode");
    QTest::addColumn<int>("which");
    for (RunMode mode : kModes)
        for (int which = 0; which < kFarDeadlines; ++which)
            QTest::addRow("%s-%s", modeName(mode), kFarDeadlineNames[which]) << mode << which;
}

void TestEdges::c9_anyDeadlineWorksWithoutWarnings()
{
    QFETCH(RunMode, mode);
    QFETCH(int, which);
    const QDeadlineTimer deadline = farDeadline(which);
    const bool expired = deadline.hasExpired();

    CurrentThreadExecutor executor;
    QPromise<void> promise;
    promise.start();
    Semaphore ownerWaiting;
    std::unique_ptr<AnyThread> worker;
    if (!expired) {
        worker = std::make_unique<AnyThread>(false, [&] {
            // The item runs only inside the wait: then the promise finishes.
            executor.submit([&] { ownerWaiting.release(); });
            (void)ownerWaiting.tryAcquire(1, kItemMs);
            promise.finish();
        });
    }
    MessageLog warnings; // C9: a deadline must not make Qt complain
    QElapsedTimer clock;
    clock.start();
    bool result = !expired;
    try {
        result = executor.runUntilFuture(promise.future(), deadline, mode);
    } catch (...) {
        QFAIL("runUntilFuture threw");
    }
    const qint64 elapsed = clock.elapsed();
    const int printed = warnings.count();
    const QString lastWarning = warnings.last();
    if (worker)
        QVERIFY(worker->join());
    QVERIFY2(printed == 0, qPrintable(QStringLiteral("Qt warned: ") + lastWarning));
    if (expired) {
        QVERIFY(!result);
        QVERIFY2(elapsed < kLateMs, qPrintable(QString::number(elapsed)));
    } else {
        QVERIFY(result);
        QVERIFY2(elapsed < kItemMs, qPrintable(QString::number(elapsed)));
    }
    // The same deadline in the overload for a finished future: true, no warning.
    QVERIFY(executor.runUntilFuture(qdispatch_compat::readyFuture(), deadline, mode));
    QCOMPARE(warnings.count(), 0);
}

// X2: "an item moved down the chain stays replaceable by its key in the executor where it now
// sits": inner.postLatest(k, v1); inner breaks (shutdown here or elsewhere, destruction, its
// thread ends) and v1 moves to outer, over one or two hops; then postLatest(k, ...) sent to
// outer directly, or routed there from the broken executor, replaces v1: only the last value
// runs, and every replaced callable is destroyed without running.
void TestEdges::x2_postLatestReplacesAfterHandOff_data()
{
    QTest::addColumn<int>("how"); // 0 shutdown on owner, 1 shutdown elsewhere, 2 destroyed, 3 thread ends
    QTest::addColumn<int>("hops");
    QTest::addColumn<int>("sendVia"); // 0 outer, 1 the broken executor, 2 both in turn
    const char *hows[] = { "shutdown", "shutdownElsewhere", "destroyed", "threadEnds" };
    const char *vias[] = { "viaOuter", "viaBroken", "viaBoth" };
    for (int how = 0; how < 4; ++how)
        for (int hops = 1; hops <= 3; ++hops)
            for (int via = 0; via < 3; ++via) {
                if (how == 2 && via != 0)
                    continue; // a destroyed executor cannot be called
                QTest::addRow("%s-%dhops-%s", hows[how], hops, vias[via]) << how << hops << via;
            }
}

void TestEdges::x2_postLatestReplacesAfterHandOff()
{
    QFETCH(int, how);
    QFETCH(int, hops);
    QFETCH(int, sendVia);
    static const char key = 0;
    std::vector<int> ran;
    std::atomic<int> alive{0};
    struct Value
    {
        int v;
        std::vector<int> *ran;
        std::atomic<int> *alive;
        Value(int v, std::vector<int> *ran, std::atomic<int> *alive) : v(v), ran(ran), alive(alive)
        {
            ++*alive;
        }
        Value(const Value &o) : v(o.v), ran(o.ran), alive(o.alive) { ++*alive; }
        ~Value() { --*alive; }
        void operator()() const { ran->push_back(v); }
    };

    CurrentThreadExecutor outer;
    // chain[0] is the newest (the one postLatest goes to first); each links to the next, the
    // last to outer. All of them break, newest first, so v1 travels `hops` hops.
    std::vector<std::unique_ptr<CurrentThreadExecutor>> chain(static_cast<size_t>(hops));
    std::unique_ptr<AnyThread> owner;
    Semaphore built, breakNow, broken;
    if (how == 3) {
        // The chain lives on a thread that ends; the test thread destroys it afterwards.
        owner = std::make_unique<AnyThread>(true, [&] {
            CurrentThreadExecutor *older = &outer;
            for (int i = hops - 1; i >= 0; --i) {
                chain[size_t(i)] = std::make_unique<CurrentThreadExecutor>(older);
                older = chain[size_t(i)].get();
            }
            chain[0]->postLatest(&key, Value(1, &ran, &alive));
            built.release();
        });
        QVERIFY(built.tryAcquire(1, kHandshakeMs));
        QVERIFY(owner->join()); // the thread ended: every executor of the chain broke (C10)
    } else {
        CurrentThreadExecutor *older = &outer;
        for (int i = hops - 1; i >= 0; --i) {
            chain[size_t(i)] = std::make_unique<CurrentThreadExecutor>(older);
            older = chain[size_t(i)].get();
        }
        chain[0]->postLatest(&key, Value(1, &ran, &alive));
        for (auto &ex : chain) {
            if (how == 0) {
                ex->shutdown();
            } else if (how == 1) {
                AnyThread elsewhere(false, [&] { ex->shutdown(); });
                QVERIFY(elsewhere.join());
            } else {
                ex.reset();
            }
        }
    }
    for (auto &ex : chain)
        QVERIFY(!ex || ex->isBroken());
    QCOMPARE(outer.isBroken(), false);
    QCOMPARE(ran.size(), size_t(0));

    int value = 2;
    if (sendVia == 0 || sendVia == 2)
        outer.postLatest(&key, Value(value++, &ran, &alive));
    if (sendVia == 1 || sendVia == 2) {
        for (auto &ex : chain)
            ex->postLatest(&key, Value(value++, &ran, &alive));
    }
    // Every replaced callable is gone already (destroyed by the replacing call); one is queued.
    QCOMPARE(alive.load(), 1);
    drainAll(outer);
    QCOMPARE(ran, std::vector<int>{ value - 1 });
    QCOMPARE(alive.load(), 0);
    chain.clear();
}

// X2 across threads: the broken executor's owner is the test thread, outer lives on another
// thread; postLatest sent from a third thread to the broken one routes to outer and replaces.
void TestEdges::x2_postLatestHandOffToAnotherThread_data()
{
    QTest::addColumn<bool>("destroy");
    QTest::newRow("shutdown") << false;
    QTest::newRow("destroyed") << true;
}

void TestEdges::x2_postLatestHandOffToAnotherThread()
{
    QFETCH(bool, destroy);
    static const char key = 0;
    std::vector<int> ran; // outer's thread only, read after it ended
    CurrentThreadExecutor *outerPtr = nullptr;
    Semaphore outerReady, sent, drained;
    AnyThread outerThread(true, [&] {
        CurrentThreadExecutor outer;
        outerPtr = &outer;
        outerReady.release();
        if (!sent.tryAcquire(1, kHandshakeMs))
            return;
        drainAll(outer);
        drained.release();
    });
    QVERIFY(outerReady.tryAcquire(1, kHandshakeMs));
    auto inner = std::make_unique<CurrentThreadExecutor>(outerPtr);
    inner->postLatest(&key, [&ran] { ran.push_back(1); });
    if (destroy)
        inner.reset();
    else
        inner->shutdown();
    AnyThread third(false, [&] {
        outerPtr->postLatest(&key, [&ran] { ran.push_back(2); });
        if (inner)
            inner->postLatest(&key, [&ran] { ran.push_back(3); });
    });
    QVERIFY(third.join());
    sent.release();
    QVERIFY(drained.tryAcquire(1, kHandshakeMs));
    QVERIFY(outerThread.join());
    QCOMPARE(ran, std::vector<int>{ destroy ? 2 : 3 });
}

// X2 with C4: outer already holds a queued item with the key when inner's item with the same
// key arrives behind it. Both stay queued in order; a later postLatest replaces the one that
// runs last, so the newest value still runs last and the handed-off value never runs.
void TestEdges::x2_postLatestHandOffMeetsAQueuedKey()
{
    static const char key = 0;
    std::vector<int> ran;
    CurrentThreadExecutor outer;
    auto inner = std::make_unique<CurrentThreadExecutor>(&outer);
    outer.postLatest(&key, [&ran] { ran.push_back(0); });
    inner->postLatest(&key, [&ran] { ran.push_back(1); });
    inner.reset();
    outer.postLatest(&key, [&ran] { ran.push_back(2); });
    drainAll(outer);
    QVERIFY(!ran.empty());
    QCOMPARE(ran.back(), 2);
    QVERIFY(std::find(ran.begin(), ran.end(), 1) == ran.end());
    QVERIFY(ran.size() <= 2);
}

// X3: "while invoke waits, it serves every live executor of the calling thread (not only the
// newest)": a worker with 2 or 3 live executors (chained to each other or not) invokes on the
// test thread; that item sends work back to the worker through each of its executors in turn
// and waits for it (with a time limit); it must run.
void TestEdges::x3_invokeServesEveryLiveExecutor_data()
{
    QTest::addColumn<int>("count");
    QTest::addColumn<int>("via");
    QTest::addColumn<bool>("chained");
    QTest::addColumn<RunMode>("ownerMode");
    for (int count : { 2, 3 })
        for (int via = 0; via < count; ++via)
            for (bool chained : { true, false })
                for (RunMode mode : { RunMode::AllEvents, RunMode::ExecutorOnly })
                    QTest::addRow("%d-executors-via%d-%s-%s", count, via,
                                  chained ? "chained" : "unchained", modeName(mode))
                            << count << via << chained << mode;
}

void TestEdges::x3_invokeServesEveryLiveExecutor()
{
    QFETCH(int, count);
    QFETCH(int, via);
    QFETCH(bool, chained);
    QFETCH(RunMode, ownerMode);
    CurrentThreadExecutor gui;
    std::atomic<int> result{-1};
    std::atomic<bool> ranOnWorker{false};
    QPromise<void> workerDone;
    workerDone.start();
    AnyThread worker(true, [&] {
        std::vector<std::unique_ptr<CurrentThreadExecutor>> mine;
        for (int i = 0; i < count; ++i)
            mine.push_back(std::make_unique<CurrentThreadExecutor>(
                    chained && i > 0 ? mine.back().get() : nullptr));
        QThread *const self = QThread::currentThread();
        CurrentThreadExecutor &target = *mine[size_t(via)];
        try {
            result = gui.invoke([&] {
                Semaphore ran;
                QFuture<void> back = target.submit([&] {
                    ranOnWorker = QThread::currentThread() == self;
                    ran.release();
                });
                return ran.tryAcquire(1, kItemMs) ? 1 : 0;
            });
        } catch (...) {
            result = -2;
        }
        // Whatever did not run inside the wait runs now, before the executors go.
        for (auto &ex : mine)
            drainAll(*ex);
        while (!mine.empty())
            mine.pop_back();
        workerDone.finish();
    });
    QVERIFY(gui.runUntilFuture(workerDone.future(), QDeadlineTimer(kJoinMs), ownerMode));
    QVERIFY(worker.join());
    QVERIFY2(result.load() == 1,
             "X3: work sent back through an older live executor did not run while invoke "
             "waited");
    QVERIFY(ranOnWorker.load());
}

// X3: an executor that an item creates on the waiting thread while invoke waits (and keeps
// after the item returns) is a live executor of that thread too: work sent to it still runs.
void TestEdges::x3_invokeServesAnExecutorCreatedDuringTheWait()
{
    CurrentThreadExecutor gui;
    std::atomic<int> result{-1};
    QPromise<void> workerDone;
    workerDone.start();
    std::unique_ptr<CurrentThreadExecutor> created; // made on the worker, inside its wait
    Semaphore createdReady;
    AnyThread worker(true, [&] {
        auto outer = std::make_unique<CurrentThreadExecutor>();
        auto inner = std::make_unique<CurrentThreadExecutor>(outer.get());
        try {
            result = gui.invoke([&] {
                // Ask the worker (now waiting) to make a new executor, through its newest one.
                inner->submit([&] {
                    created = std::make_unique<CurrentThreadExecutor>();
                    createdReady.release();
                });
                if (!createdReady.tryAcquire(1, kItemMs))
                    return -3;
                Semaphore ran;
                created->submit([&] { ran.release(); });
                return ran.tryAcquire(1, kItemMs) ? 1 : 0;
            });
        } catch (...) {
            result = -2;
        }
        if (created)
            drainAll(*created);
        created.reset();
        drainAll(*inner);
        inner.reset();
        outer.reset();
        workerDone.finish();
    });
    QVERIFY(gui.runUntilFuture(workerDone.future(), QDeadlineTimer(kJoinMs),
                               RunMode::ExecutorOnly));
    QVERIFY(worker.join());
    QCOMPARE(result.load(), 1);
}

QTEST_GUILESS_MAIN(TestEdges)

#include "tst_edges.moc"

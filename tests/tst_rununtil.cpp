// Tests for CurrentThreadExecutor::runUntilFuture: rules C8 (runUntilFuture) and C9 (wait
// modes, deadline overload). Every test names the rule it guards. The "no QCoreApplication" half
// of C9 lives in tst_noapp.cpp, because this binary has a QCoreApplication for its whole life.
//
// Threads are ordered with semaphores (tryAcquire with a timeout, checked), never with sleeps,
// and every thread is joined with a timeout.

#include <qdispatch/currentthreadexecutor.h>

#include "testsupport.h"
#include "qtcompat.h"

#include <QtConcurrent/QtConcurrent>
#include <QtCore/QCoreApplication>
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
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using qdispatch::CurrentThreadExecutor;
using qdispatch::ExecutorError;
using qdispatch::RunMode;

using namespace qdispatchtest;

namespace {

std::exception_ptr makeError(const char *what)
{
    return std::make_exception_ptr(std::runtime_error(what));
}

} // namespace

class TestRunUntil : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void c9_executorOnlyIdleOwnerSleeps();
    void c9_executorOnlyNoticesAForeignFuture_data();
    void c9_executorOnlyNoticesAForeignFuture();
    void c8_classicDeadlock_data();
    void c8_classicDeadlock();
    void c8_wrongThreadThrowsAndChangesNothing_data();
    void c8_wrongThreadThrowsAndChangesNothing();
    void c8_alreadyFinishedFutureRunsQueuedAndReturns_data();
    void c8_alreadyFinishedFutureRunsQueuedAndReturns();
    void c8_itemsAcceptedBeforeFinishHaveRun_data();
    void c8_itemsAcceptedBeforeFinishHaveRun();
    void c8_futureExceptionNotRethrown_data();
    void c8_futureExceptionNotRethrown();
    void c8_cancelledFutureEndsWait_data();
    void c8_cancelledFutureEndsWait();
    void c8_nested_data();
    void c8_nested();
    void c8_manyTimesInARow();
    void c8_ownerIsNotTheMainThread_data();
    void c8_ownerIsNotTheMainThread();
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

// C8: the owner waits on a job that submits to the owner and blocks on every item. Without
// runUntilFuture running items while it waits, this is the classic deadlock.
void TestRunUntil::c8_classicDeadlock_data()
{
    addModeRows();
}

void TestRunUntil::c8_classicDeadlock()
{
    QFETCH(RunMode, mode);
    CurrentThreadExecutor executor;
    QThread *const owner = executor.thread();
    QCOMPARE(owner, QThread::currentThread());

    std::atomic<int> ran{0};
    std::atomic<int> offThread{0};
    QFuture<qint64> job = QtConcurrent::run([&] {
        qint64 sum = 0;
        for (int i = 1; i <= 1000; ++i) {
            QFuture<int> f = executor.submit([&, i] {
                if (QThread::currentThread() != owner)
                    ++offThread;
                ++ran;
                return i;
            });
            sum += f.result();
        }
        return sum;
    });
    FinishGuard guard(executor, job);

    executor.runUntilFuture(job, mode);

    QVERIFY(job.isFinished());
    QCOMPARE(job.result(), qint64(500500));
    QCOMPARE(ran.load(), 1000);
    QCOMPARE(offThread.load(), 0);
}

// C8: from any thread but the owner, runUntilFuture throws WrongThread and does nothing: an
// item that is queued stays queued (it neither runs on the wrong thread nor anywhere else),
// and the owner runs it later.
void TestRunUntil::c8_wrongThreadThrowsAndChangesNothing_data()
{
    QTest::addColumn<RunMode>("mode");
    QTest::addColumn<bool>("withDeadline");
    for (RunMode mode : kModes) {
        QTest::addRow("%s-forever", modeName(mode)) << mode << false;
        QTest::addRow("%s-deadline", modeName(mode)) << mode << true;
    }
}

void TestRunUntil::c8_wrongThreadThrowsAndChangesNothing()
{
    QFETCH(RunMode, mode);
    QFETCH(bool, withDeadline);
    CurrentThreadExecutor executor;
    QThread *const owner = executor.thread();

    QPromise<void> never;
    never.start();
    const QFuture<void> unfinished = never.future();
    const QFuture<void> ready = qdispatch_compat::readyFuture();

    std::atomic<int> ran{0};
    std::atomic<QThread *> ranOn{nullptr};
    QFuture<void> item;
    std::vector<int> codes; // -1: no exception, -2: another exception type
    std::string message;

    Worker worker([&] {
        item = executor.submit([&] {
            ranOn = QThread::currentThread();
            ++ran;
        });
        for (const QFuture<void> &f : {unfinished, ready}) {
            try {
                if (withDeadline)
                    (void)executor.runUntilFuture(f, QDeadlineTimer(200), mode);
                else
                    executor.runUntilFuture(f, mode);
                codes.push_back(-1);
            } catch (const ExecutorError &e) {
                codes.push_back(int(e.code()));
                message = e.what();
            } catch (...) {
                codes.push_back(-2);
            }
        }
    });
    QVERIFY(worker.join());

    const int wrong = int(ExecutorError::Code::WrongThread);
    QCOMPARE(codes, (std::vector<int>{wrong, wrong}));
    QVERIFY2(message.find("thread") != std::string::npos, message.c_str());
    QCOMPARE(ran.load(), 0);
    QVERIFY(!item.isFinished());
    QVERIFY(!executor.isBroken());

    executor.runUntilFuture(item, mode);
    QVERIFY(item.isFinished());
    QCOMPARE(ran.load(), 1);
    QCOMPARE(ranOn.load(), owner);
}

// C8: an already finished future (value, exception, cancelled, default-constructed): the call
// runs what is queued and returns without blocking.
void TestRunUntil::c8_alreadyFinishedFutureRunsQueuedAndReturns_data()
{
    QTest::addColumn<RunMode>("mode");
    QTest::addColumn<int>("kind");
    QTest::addColumn<bool>("withDeadline");
    const char *kinds[] = {"value", "exception", "cancelled", "default"};
    for (RunMode mode : kModes) {
        for (int kind = 0; kind < 4; ++kind) {
            QTest::addRow("%s-%s-forever", modeName(mode), kinds[kind]) << mode << kind << false;
            QTest::addRow("%s-%s-deadline", modeName(mode), kinds[kind]) << mode << kind << true;
        }
    }
}

void TestRunUntil::c8_alreadyFinishedFutureRunsQueuedAndReturns()
{
    QFETCH(RunMode, mode);
    QFETCH(int, kind);
    QFETCH(bool, withDeadline);
    CurrentThreadExecutor executor;
    QThread *const owner = executor.thread();

    QFuture<int> done;
    QPromise<int> promise;
    switch (kind) {
    case 0:
        done = qdispatch_compat::readyFuture(42);
        break;
    case 1:
        promise.start();
        promise.setException(makeError("already failed"));
        promise.finish();
        done = promise.future();
        break;
    case 2:
        promise.start();
        done = promise.future();
        done.cancel();
        promise.finish();
        break;
    default:
        break; // a default-constructed QFuture counts as finished (and cancelled)
    }
    QVERIFY(done.isFinished());

    constexpr int kItems = 100;
    std::atomic<int> ran{0};
    std::atomic<int> offThread{0};
    std::vector<QFuture<void>> items;
    Worker worker([&] {
        for (int i = 0; i < kItems; ++i) {
            items.push_back(executor.submit([&] {
                if (QThread::currentThread() != owner)
                    ++offThread;
                ++ran;
            }));
        }
    });
    QVERIFY(worker.join());
    QCOMPARE(ran.load(), 0);

    QElapsedTimer clock;
    clock.start();
    try {
        if (withDeadline)
            QVERIFY(executor.runUntilFuture(done, joinDeadline(), mode));
        else
            executor.runUntilFuture(done, mode);
    } catch (...) {
        QFAIL("runUntilFuture threw on an already finished future");
    }
    QVERIFY2(clock.elapsed() < kPromptMs, "runUntilFuture blocked on an already finished future");
    QCOMPARE(ran.load(), kItems);
    QCOMPARE(offThread.load(), 0);
    for (const auto &f : items)
        QVERIFY(f.isFinished());

    // Nothing queued at all: still returns at once.
    clock.restart();
    executor.runUntilFuture(done, mode);
    QVERIFY(clock.elapsed() < kPromptMs);
}

// C8: "returns when the future is finished and every item this executor accepted before the
// future finished has run". The worker makes sure the owner is already waiting, then submits
// many items and finishes the awaited promise (with an exception) right after the last submit.
void TestRunUntil::c8_itemsAcceptedBeforeFinishHaveRun_data()
{
    addModeRows();
}

void TestRunUntil::c8_itemsAcceptedBeforeFinishHaveRun()
{
    QFETCH(RunMode, mode);
    CurrentThreadExecutor executor;
    QThread *const owner = executor.thread();
    constexpr int kItems = 20000;

    QPromise<int> promise;
    promise.start();
    const QFuture<int> awaited = promise.future();

    std::atomic<int> ran{0};
    std::atomic<int> offThread{0};
    std::atomic<bool> ownerWasWaiting{false};
    std::vector<QFuture<int>> items;
    items.reserve(kItems);
    Worker worker([&] {
        try {
            // The owner runs this only from inside runUntilFuture.
            executor.submit([] {}).waitForFinished();
            ownerWasWaiting = true;
        } catch (...) {
        }
        for (int i = 0; i < kItems; ++i) {
            items.push_back(executor.submit([&, i] {
                if (QThread::currentThread() != owner)
                    ++offThread;
                ++ran;
                return i;
            }));
        }
        promise.setException(makeError("the awaited work failed"));
        promise.finish();
    });

    bool threw = false;
    try {
        executor.runUntilFuture(awaited, mode);
    } catch (...) {
        threw = true;
    }
    QVERIFY(worker.join());
    QVERIFY(ownerWasWaiting.load());
    QVERIFY2(!threw, "C8: runUntilFuture must not rethrow the future's exception");
    QVERIFY(awaited.isFinished());
    QCOMPARE(ran.load(), kItems);
    QCOMPARE(offThread.load(), 0);
    for (int i = 0; i < kItems; ++i) {
        QVERIFY(items[size_t(i)].isFinished());
        QCOMPARE(items[size_t(i)].result(), i);
    }
    // The caller reads the future for the exception.
    bool rethrownByFuture = false;
    try {
        (void)awaited.result();
    } catch (const std::runtime_error &e) {
        rethrownByFuture = std::string(e.what()) == "the awaited work failed";
    }
    QVERIFY(rethrownByFuture);
}

// C8: the exception of a QDispatch future (an item that throws) and of a QtConcurrent job is
// not rethrown by runUntilFuture; the future itself still carries it.
void TestRunUntil::c8_futureExceptionNotRethrown_data()
{
    addModeRows();
}

void TestRunUntil::c8_futureExceptionNotRethrown()
{
    QFETCH(RunMode, mode);
    CurrentThreadExecutor executor;

    QFuture<int> throwingItem;
    Semaphore submitted;
    Worker worker([&] {
        throwingItem = executor.submit([]() -> int { throw std::runtime_error("item failed"); });
        submitted.release();
    });
    QVERIFY(submitted.tryAcquire(1, kHandshakeMs));
    QVERIFY(worker.join());

    // Made here and thrown as a copy: std::runtime_error's message is a reference-counted
    // string, so the pool thread shares this thread's buffer instead of allocating one that
    // this thread would free after a hand-off inside Qt, invisible to ThreadSanitizer.
    const std::runtime_error jobError("job failed");
    QFuture<void> job = QtConcurrent::run([&] {
        executor.submit([] {}).waitForFinished();
        throw jobError;
    });
    FinishGuard guard(executor, job);

    try {
        executor.runUntilFuture(throwingItem, mode);
        executor.runUntilFuture(job, mode);
        QVERIFY(executor.runUntilFuture(throwingItem, joinDeadline(), mode));
    } catch (...) {
        QFAIL("C8: runUntilFuture rethrew the future's exception");
    }
    QVERIFY(throwingItem.isFinished());
    QVERIFY(job.isFinished());

    std::string itemWhat;
    try {
        (void)throwingItem.result();
    } catch (const std::runtime_error &e) {
        itemWhat = e.what();
    }
    QCOMPARE(itemWhat, std::string("item failed"));
    bool jobThrew = false;
    try {
        job.waitForFinished();
    } catch (...) {
        jobThrew = true;
    }
    QVERIFY(jobThrew);
}

// C8: a cancelled future counts as finished: cancelling (and finishing) it ends the wait.
void TestRunUntil::c8_cancelledFutureEndsWait_data()
{
    addModeRows();
}

void TestRunUntil::c8_cancelledFutureEndsWait()
{
    QFETCH(RunMode, mode);
    CurrentThreadExecutor executor;
    QPromise<int> promise;
    promise.start();
    QFuture<int> awaited = promise.future();

    Worker worker([&] {
        try {
            executor.submit([] {}).waitForFinished(); // the owner is waiting now
        } catch (...) {
        }
        QFuture<int> copy = awaited;
        copy.cancel();
        promise.finish();
    });
    QVERIFY(executor.runUntilFuture(awaited, joinDeadline(), mode));
    QVERIFY(worker.join());
    QVERIFY(awaited.isCanceled());
}

// C8: nesting. The owner waits (outer mode); an item calls runUntilFuture again (inner mode),
// either on the same executor or on another executor of the same thread, waiting for a promise
// that only a later item finishes. That later item is either submitted after the first one
// started ("submittedDuring"), or was already queued behind it before the owner started
// ("queuedBefore": then nothing new arrives to wake the nested wait).
void TestRunUntil::c8_nested_data()
{
    QTest::addColumn<RunMode>("outerMode");
    QTest::addColumn<RunMode>("innerMode");
    QTest::addColumn<bool>("otherExecutor");
    QTest::addColumn<bool>("queuedBefore");
    for (bool queuedBefore : {false, true}) {
        for (RunMode outer : kModes) {
            for (RunMode inner : kModes) {
                for (bool otherExecutor : {false, true}) {
                    QTest::addRow("%s-%s-outer%s-inner%s", otherExecutor ? "other" : "same",
                                  queuedBefore ? "queuedBefore" : "submittedDuring",
                                  modeName(outer), modeName(inner))
                            << outer << inner << otherExecutor << queuedBefore;
                }
            }
        }
    }
}

void TestRunUntil::c8_nested()
{
    QFETCH(RunMode, outerMode);
    QFETCH(RunMode, innerMode);
    QFETCH(bool, otherExecutor);
    QFETCH(bool, queuedBefore);
    CurrentThreadExecutor executor;
    CurrentThreadExecutor other; // a second executor of the same (owner) thread
    CurrentThreadExecutor &target = otherExecutor ? other : executor;
    QThread *const owner = executor.thread();
    QCOMPARE(other.thread(), owner);

    QPromise<void> gate;
    gate.start();
    const QFuture<void> gateFuture = gate.future();
    Semaphore firstStarted;
    std::atomic<bool> laterRan{false};
    std::atomic<bool> laterRanBeforeInnerReturned{false};
    std::atomic<int> offThread{0};
    std::atomic<int> innerThrew{0};
    std::atomic<int> innerReturnedFalse{0};

    const auto firstFn = [&] {
        if (QThread::currentThread() != owner)
            ++offThread;
        firstStarted.release();
        try {
            if (!target.runUntilFuture(gateFuture, joinDeadline(), innerMode))
                ++innerReturnedFalse;
        } catch (...) {
            ++innerThrew;
        }
        laterRanBeforeInnerReturned = laterRan.load();
        return 7;
    };
    const auto laterFn = [&] {
        if (QThread::currentThread() != owner)
            ++offThread;
        laterRan = true;
        gate.finish();
    };

    if (queuedBefore) {
        QFuture<int> first;
        QFuture<void> later;
        Worker worker([&] {
            first = executor.submit(firstFn);
            later = target.submit(laterFn);
        });
        QVERIFY(worker.join());
        QVERIFY(executor.runUntilFuture(first, joinDeadline(), outerMode));
        QVERIFY(first.isFinished());
        QCOMPARE(first.result(), 7);
        QVERIFY(later.isFinished());
    } else {
        QFuture<int> job = QtConcurrent::run([&]() -> int {
            QFuture<int> first = executor.submit(firstFn);
            if (!firstStarted.tryAcquire(1, kHandshakeMs))
                return -1;
            QFuture<void> later = target.submit(laterFn);
            try {
                later.waitForFinished();
                return first.result();
            } catch (...) {
                return -2;
            }
        });
        FinishGuard guard(executor, job);
        QVERIFY(executor.runUntilFuture(job, joinDeadline(), outerMode));
        QCOMPARE(job.result(), 7);
    }
    QCOMPARE(innerThrew.load(), 0);
    QCOMPARE(innerReturnedFalse.load(), 0);
    QVERIFY(laterRanBeforeInnerReturned.load());
    QCOMPARE(offThread.load(), 0);
    QVERIFY(!executor.isBroken());
    QVERIFY(!other.isBroken());
}

// C8: any number of calls in a row, each one a real wait, cycling modes and both overloads.
void TestRunUntil::c8_manyTimesInARow()
{
    CurrentThreadExecutor executor;
    QThread *const owner = executor.thread();
    std::atomic<int> offThread{0};
    constexpr int kRounds = 300;
    for (int round = 0; round < kRounds; ++round) {
        const RunMode mode = kModes[round % 3];
        QFuture<int> job = QtConcurrent::run([&, round] {
            int sum = 0;
            for (int i = 0; i < 3; ++i) {
                sum += executor.submit([&, round, i] {
                    if (QThread::currentThread() != owner)
                        ++offThread;
                    return round + i;
                }).result();
            }
            return sum;
        });
        FinishGuard guard(executor, job);
        if (round % 2)
            executor.runUntilFuture(job, mode);
        else
            QVERIFY(executor.runUntilFuture(job, joinDeadline(), mode));
        QVERIFY(job.isFinished());
        QCOMPARE(job.result(), 3 * round + 3);
    }
    QCOMPARE(offThread.load(), 0);

    // And the same finished future, again and again.
    const QFuture<int> ready = qdispatch_compat::readyFuture(1);
    for (int i = 0; i < 30; ++i)
        executor.runUntilFuture(ready, kModes[i % 3]);
    QVERIFY(!executor.isBroken());
}

// C8 with C1: the owner may be a QThread or a plain std::thread; every mode works there too
// (the process has a QCoreApplication, so the event-loop modes are allowed on any thread).
void TestRunUntil::c8_ownerIsNotTheMainThread_data()
{
    QTest::addColumn<bool>("stdThread");
    QTest::newRow("QThread") << false;
    QTest::newRow("std::thread") << true;
}

void TestRunUntil::c8_ownerIsNotTheMainThread()
{
    QFETCH(bool, stdThread);
    std::vector<qint64> sums;
    std::atomic<int> offThread{0};
    std::atomic<int> failures{0};
    Semaphore done;

    auto body = [&] {
        try {
            CurrentThreadExecutor executor;
            QThread *const owner = QThread::currentThread();
            if (executor.thread() != owner)
                ++failures;
            for (RunMode mode : kModes) {
                QFuture<qint64> job = QtConcurrent::run([&] {
                    qint64 sum = 0;
                    for (int i = 1; i <= 100; ++i) {
                        sum += executor.submit([&, i] {
                            if (QThread::currentThread() != owner)
                                ++offThread;
                            return qint64(i);
                        }).result();
                    }
                    return sum;
                });
                if (!executor.runUntilFuture(job, joinDeadline(), mode)) {
                    ++failures;
                    job.waitForFinished();
                }
                sums.push_back(job.result());
            }
        } catch (...) {
            ++failures;
        }
        done.release();
    };

    AnyThread owner(!stdThread, body);
    QVERIFY(done.tryAcquire(1, kJoinMs));
    QVERIFY(owner.join());
    QCOMPARE(failures.load(), 0);
    QCOMPARE(offThread.load(), 0);
    QCOMPARE(sums, (std::vector<qint64>{5050, 5050, 5050}));
}

// C9: the basic wait in every mode: a promise that another thread finishes while the owner
// waits (and no item is left to run) ends the wait with its value.
void TestRunUntil::c9_basicWait_data()
{
    addModeRows();
}

void TestRunUntil::c9_basicWait()
{
    QFETCH(RunMode, mode);
    CurrentThreadExecutor executor;
    QPromise<QString> promise;
    promise.start();
    const QFuture<QString> awaited = promise.future();
    Semaphore ownerWaiting;
    std::atomic<bool> itemOnOwner{false};

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
void TestRunUntil::c9_eventLoopModesRunTimersPostedEventsAndOtherExecutors_data()
{
    QTest::addColumn<RunMode>("mode");
    QTest::newRow("AllEvents") << RunMode::AllEvents;
    QTest::newRow("ExcludeUserInput") << RunMode::ExcludeUserInput;
}

void TestRunUntil::c9_eventLoopModesRunTimersPostedEventsAndOtherExecutors()
{
    QFETCH(RunMode, mode);
    CurrentThreadExecutor executor;
    CurrentThreadExecutor other;
    QObject context;

    QPromise<void> byTimer;
    byTimer.start();
    QTimer timer;
    timer.setSingleShot(true);
    connect(&timer, &QTimer::timeout, &context, [&] { byTimer.finish(); });
    timer.start(5);
    QVERIFY(executor.runUntilFuture(byTimer.future(), joinDeadline(), mode));

    int repeats = 0;
    QPromise<void> byRepeatingTimer;
    byRepeatingTimer.start();
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

    QPromise<void> byPosted;
    byPosted.start();
    QMetaObject::invokeMethod(&context, [&] { byPosted.finish(); }, Qt::QueuedConnection);
    QVERIFY(executor.runUntilFuture(byPosted.future(), joinDeadline(), mode));

    QPromise<void> byOtherExecutor;
    byOtherExecutor.start();
    QFuture<void> otherItem;
    Worker worker([&] { otherItem = other.submit([&] { byOtherExecutor.finish(); }); });
    QVERIFY(worker.join());
    QVERIFY(executor.runUntilFuture(byOtherExecutor.future(), joinDeadline(), mode));
    QVERIFY(otherItem.isFinished());
}

// C9: ExecutorOnly runs this executor's items and nothing else: no timer, no posted event, no
// other executor of the thread. They are deferred, not lost: they run once events are processed.
void TestRunUntil::c9_executorOnlyRunsNothingButItsItems()
{
    CurrentThreadExecutor executor;
    CurrentThreadExecutor other;
    QThread *const owner = executor.thread();
    QObject context;

    std::atomic<bool> timerFired{false};
    std::atomic<bool> postedRan{false};
    std::atomic<bool> otherRan{false};
    QTimer timer;
    timer.setSingleShot(true);
    connect(&timer, &QTimer::timeout, &context, [&] { timerFired = true; });
    timer.start(0);
    QMetaObject::invokeMethod(&context, [&] { postedRan = true; }, Qt::QueuedConnection);

    std::atomic<int> ran{0};
    std::atomic<int> sawForeignWork{0};
    std::atomic<int> offThread{0};
    QFuture<int> job = QtConcurrent::run([&]() -> int {
        try {
            QFuture<void> otherItem = other.submit([&] { otherRan = true; });
            int sum = 0;
            for (int i = 0; i < 200; ++i) {
                sum += executor.submit([&, i] {
                    if (QThread::currentThread() != owner)
                        ++offThread;
                    if (timerFired || postedRan || otherRan)
                        ++sawForeignWork;
                    ++ran;
                    return i;
                }).result();
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
void TestRunUntil::c9_deadlinePassesFirstReturnsFalse_data()
{
    addModeRows();
}

void TestRunUntil::c9_deadlinePassesFirstReturnsFalse()
{
    QFETCH(RunMode, mode);
    CurrentThreadExecutor executor;
    QPromise<int> promise;
    promise.start();
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
void TestRunUntil::c9_deadlineFutureFirstReturnsTrue_data()
{
    QTest::addColumn<RunMode>("mode");
    QTest::addColumn<bool>("forever");
    for (RunMode mode : kModes) {
        QTest::addRow("%s-finite", modeName(mode)) << mode << false;
        QTest::addRow("%s-forever", modeName(mode)) << mode << true;
    }
}

void TestRunUntil::c9_deadlineFutureFirstReturnsTrue()
{
    QFETCH(RunMode, mode);
    QFETCH(bool, forever);
    CurrentThreadExecutor executor;
    std::atomic<int> ran{0};
    QFuture<int> job = QtConcurrent::run([&] {
        int sum = 0;
        for (int i = 0; i < 50; ++i)
            sum += executor.submit([&, i] {
                ++ran;
                return i;
            }).result();
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
// false at once; a finished one gives true (the deadline does not matter then) and the
// queued items run.
void TestRunUntil::c9_deadlineZeroOrExpired_data()
{
    QTest::addColumn<RunMode>("mode");
    QTest::addColumn<bool>("zero");
    for (RunMode mode : kModes) {
        QTest::addRow("%s-zero", modeName(mode)) << mode << true;
        QTest::addRow("%s-expired", modeName(mode)) << mode << false;
    }
}

void TestRunUntil::c9_deadlineZeroOrExpired()
{
    QFETCH(RunMode, mode);
    QFETCH(bool, zero);
    CurrentThreadExecutor executor;
    const auto makeDeadline = [zero] {
        return zero ? QDeadlineTimer(0)
                    : QDeadlineTimer::addNSecs(QDeadlineTimer::current(), -1000 * 1000 * 1000);
    };
    QVERIFY(makeDeadline().hasExpired());

    QPromise<void> promise;
    promise.start();
    QElapsedTimer clock;
    clock.start();
    QVERIFY(!executor.runUntilFuture(promise.future(), makeDeadline(), mode));
    QVERIFY(clock.elapsed() < kPromptMs);

    std::atomic<int> ran{0};
    std::vector<QFuture<void>> items;
    Worker worker([&] {
        for (int i = 0; i < 10; ++i)
            items.push_back(executor.submit([&] { ++ran; }));
    });
    QVERIFY(worker.join());
    promise.finish();

    clock.restart();
    QVERIFY(executor.runUntilFuture(promise.future(), makeDeadline(), mode));
    QVERIFY(clock.elapsed() < kPromptMs);
    QCOMPARE(ran.load(), 10);
    for (const auto &f : items)
        QVERIFY(f.isFinished());
}

// C8 + C9: when the awaited future is already finished, runUntilFuture still runs the whole
// backlog accepted before it; in the event-loop modes it must do so in slices, letting a due
// timer fire in between, and in ExecutorOnly it must not.
void TestRunUntil::c9_finalDrainOfABacklogLetsTimersRun_data()
{
    QTest::addColumn<qdispatch::RunMode>("mode");
    QTest::addColumn<bool>("timerFiresDuringDrain");
    QTest::newRow("AllEvents") << qdispatch::RunMode::AllEvents << true;
    QTest::newRow("ExcludeUserInput") << qdispatch::RunMode::ExcludeUserInput << true;
    QTest::newRow("ExecutorOnly") << qdispatch::RunMode::ExecutorOnly << false;
}

void TestRunUntil::c9_finalDrainOfABacklogLetsTimersRun()
{
    QFETCH(qdispatch::RunMode, mode);
    QFETCH(bool, timerFiresDuringDrain);

    constexpr int kItems = 200; // about 0.2 ms each: a 40 ms backlog, ten time slices
    qdispatch::CurrentThreadExecutor executor;
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


namespace {
// The calling thread's own CPU time and voluntary context switches (Linux: RUSAGE_THREAD).
struct ThreadUsage
{
    std::chrono::microseconds cpu;
    long wakeUps;
    static ThreadUsage now()
    {
        rusage usage{};
        getrusage(RUSAGE_THREAD, &usage);
        const auto us = [](const timeval &t) {
            return std::chrono::seconds(t.tv_sec) + std::chrono::microseconds(t.tv_usec);
        };
        return { us(usage.ru_utime) + us(usage.ru_stime), usage.ru_nvcsw };
    }
};
} // namespace

void TestRunUntil::c9_executorOnlyIdleOwnerSleeps()
{
    // C9: an owner waiting in ExecutorOnly on a future QDispatch did not make, with
    // nothing queued, sleeps: it does not wake up to look at the future itself (a poller thread
    // does that for every such wait), so it uses no CPU. It used to re-check in timed naps of up
    // to 2 ms: about 500 wake-ups in this second.
    CurrentThreadExecutor executor;
    QPromise<void> never;
    never.start();
    const ThreadUsage before = ThreadUsage::now();
    QVERIFY(!executor.runUntilFuture(never.future(), QDeadlineTimer(1000), RunMode::ExecutorOnly));
    const ThreadUsage after = ThreadUsage::now();
    const long wakeUps = after.wakeUps - before.wakeUps;
    const auto cpu = after.cpu - before.cpu;
    QVERIFY2(wakeUps < 20, qPrintable(QStringLiteral("%1 wake-ups in one idle second").arg(wakeUps)));
    QVERIFY2(cpu < std::chrono::milliseconds(5),
             qPrintable(QStringLiteral("%1 µs of CPU in one idle second").arg(cpu.count())));
}

void TestRunUntil::c9_executorOnlyNoticesAForeignFuture_data()
{
    QTest::addColumn<bool>("withDeadline");
    QTest::newRow("forever") << false;
    QTest::newRow("deadline") << true;
}

void TestRunUntil::c9_executorOnlyNoticesAForeignFuture()
{
    // C8/C9: a future finished by another thread, with no QDispatch item involved, ends an
    // ExecutorOnly wait (the poller notices it) long before the deadline.
    QFETCH(bool, withDeadline);
    CurrentThreadExecutor executor;
    QPromise<int> promise;
    promise.start();
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

QTEST_GUILESS_MAIN(TestRunUntil)

#include "tst_rununtil.moc"

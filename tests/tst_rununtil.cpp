// Tests for CurrentThreadExecutor::runUntilFuture, rule C8: only on the owner thread; returns
// when the future finished and every item accepted before has run; an already finished future;
// the future's exception is not rethrown; nesting; any owner thread. The wait modes and the
// deadline overload (C9) are in tst_waitmodes.cpp; waits without a QCoreApplication in
// tst_noapp.cpp, because this binary has a QCoreApplication for its whole life.
//
// Threads are ordered with semaphores (tryAcquire with a timeout, checked), never with sleeps,
// and every thread is joined with a timeout.

#include <qdispatch/currentthreadexecutor.h>

#include "testsupport.h"

#include <QtConcurrent/QtConcurrent>
#include <QtCore/QAbstractEventDispatcher>
#include <QtCore/QByteArray>
#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QEventLoop>
#include <QtCore/QFuture>
#include <QtCore/QMetaObject>
#include <QtCore/QObject>
#include <QtCore/QPromise>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

std::exception_ptr makeError(const char *what)
{
    return std::make_exception_ptr(std::runtime_error(what));
}

// Keeps the thread busy for twice a drain's time slice (4 ms): a drain that lets events through
// between time slices does so after such an item.
void busyForTwoSlices()
{
    QElapsedTimer timer;
    timer.start();
    while (timer.elapsed() < 8) { }
}

} // namespace

class TestRunUntil : public QObject
{
    Q_OBJECT

private Q_SLOTS:
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
    void c8_c9_wokenWaitReturnsAfterANestedLoopTookItsWakeUp_data();
    void c8_c9_wokenWaitReturnsAfterANestedLoopTookItsWakeUp();
    void c9_loopExitsAfterQuitWhenAWaitLetEventsThrough_data();
    void c9_loopExitsAfterQuitWhenAWaitLetEventsThrough();
    void c8_c9_innerDeadlineHoldsInAFloodWhileAnOuterWaitIsWoken_data();
    void c8_c9_innerDeadlineHoldsInAFloodWhileAnOuterWaitIsWoken();
    void c8_manyTimesInARow();
    void c8_ownerIsNotTheMainThread_data();
    void c8_ownerIsNotTheMainThread();
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

    std::atomic<int> ran { 0 };
    std::atomic<int> offThread { 0 };
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
    addModeFlagRows("withDeadline", "forever", "deadline");
}

void TestRunUntil::c8_wrongThreadThrowsAndChangesNothing()
{
    QFETCH(RunMode, mode);
    QFETCH(bool, withDeadline);
    CurrentThreadExecutor executor;
    QThread *const owner = executor.thread();

    StartedPromise<void> never;
    const QFuture<void> unfinished = never.future();
    const QFuture<void> ready = qdispatch_compat::readyFuture();

    std::atomic<int> ran { 0 };
    std::atomic<QThread *> ranOn { nullptr };
    QFuture<void> item;
    std::vector<int> codes; // -1: no exception, -2: another exception type
    std::string message;

    Worker worker([&] {
        item = executor.submit([&] {
            ranOn = QThread::currentThread();
            ++ran;
        });
        for (const QFuture<void> &f : { unfinished, ready }) {
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
    QCOMPARE(codes, (std::vector<int> { wrong, wrong }));
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
    addColumns<RunMode, int, bool>({ "mode", "kind", "withDeadline" });
    const char *kinds[] = { "value", "exception", "cancelled", "default" };
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
    std::atomic<int> ran { 0 };
    std::atomic<int> offThread { 0 };
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

    StartedPromise<int> promise;
    const QFuture<int> awaited = promise.future();

    std::atomic<int> ran { 0 };
    std::atomic<int> offThread { 0 };
    std::atomic<bool> ownerWasWaiting { false };
    std::vector<QFuture<int>> items;
    items.reserve(kItems);
    Worker worker([&] {
        try {
            // The owner runs this only from inside runUntilFuture.
            executor.submit([] {}).waitForFinished();
            ownerWasWaiting = true;
        } catch (...) { }
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
    QCOMPARE(errorCodeOf(job), kOtherException); // the job's own exception, kept
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
    StartedPromise<int> promise;
    QFuture<int> awaited = promise.future();

    Worker worker([&] {
        try {
            executor.submit([] {}).waitForFinished(); // the owner is waiting now
        } catch (...) { }
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
    addColumns<RunMode, RunMode, bool, bool>(
        { "outerMode", "innerMode", "otherExecutor", "queuedBefore" });
    for (bool queuedBefore : { false, true }) {
        for (RunMode outer : kModes) {
            for (RunMode inner : kModes) {
                for (bool otherExecutor : { false, true }) {
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

    StartedPromise<void> gate;
    const QFuture<void> gateFuture = gate.future();
    Semaphore firstStarted;
    std::atomic<bool> laterRan { false };
    std::atomic<bool> laterRanBeforeInnerReturned { false };
    std::atomic<int> offThread { 0 };
    std::atomic<int> innerThrew { 0 };
    std::atomic<int> innerReturnedFalse { 0 };

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

// C8, C9: a wait that is woken (its future finished, or its deadline came) while an event loop
// nested inside it runs returns once control is back with it. An outside tester found a nested
// wait that stayed in its event loop after its future had finished, until some other event came
// (docs/reliability.md, "Found and fixed: a woken wait that slept on"). Wait A, in an item of one
// executor, delivers an event whose handler lets the thread's events through twice: A is woken
// the first time, and the second time takes the one wake-up that Qt's QEventLoop::quit() gives
// the thread. The handler is another executor's item that waits on a finished future with a
// backlog of two items longer than a time slice behind it (C8), or such an item that calls
// processEvents() itself, or a queued slot whose runUntilFuture(ExecutorOnly) runs such an item.
// The owner thread gets Qt's Unix event dispatcher (QT_NO_GLIB, read when the thread starts),
// which delivers posted events in a loop nested in a posted event's handler; the GLib one leaves
// them to the outer loop, and A's wake-up with them.
void TestRunUntil::c8_c9_wokenWaitReturnsAfterANestedLoopTookItsWakeUp_data()
{
    addColumns<RunMode, bool, int>({ "mode", "deadlinePasses", "nesting" });
    const char *const nestings[] = { "itemWaitsOnABacklog", "itemProcessesEvents",
                                     "slotWaitsOnAnItemThatProcessesEvents" };
    for (RunMode mode : { RunMode::AllEvents, RunMode::ExcludeUserInput }) {
        for (bool deadlinePasses : { false, true }) {
            for (int nesting = 0; nesting < 3; ++nesting) {
                QTest::addRow("%s-%s-%s", modeName(mode),
                              deadlinePasses ? "deadlinePasses" : "futureFinishes",
                              nestings[nesting])
                    << mode << deadlinePasses << nesting;
            }
        }
    }
}

void TestRunUntil::c8_c9_wokenWaitReturnsAfterANestedLoopTookItsWakeUp()
{
    QFETCH(RunMode, mode);
    QFETCH(bool, deadlinePasses);
    QFETCH(int, nesting);
    const bool itemWaits = nesting == 0;
    const bool inSlot = nesting == 2;
    StartedPromise<void> stop; // the owner serves its executors until it finishes
    StartedPromise<void> awaited; // what A waits for (never finished when its deadline passes)
    Semaphore ownerReady;
    Semaphore waiting;
    Semaphore nestedRuns;
    Semaphore nestedGoesOn;
    Semaphore returned;
    CurrentThreadExecutor *waiter = nullptr; // A waits in an item of this one
    CurrentThreadExecutor *nester = nullptr; // the items that let events through
    QObject *slotContext = nullptr; // on the owner thread
    QByteArray dispatcher;
    QDeadlineTimer deadline; // A's
    QFuture<void> processing; // inSlot: the item that the slot's wait runs
    std::atomic<int> result { -1 }; // what A returned: 1 true, 0 false

    qputenv("QT_NO_GLIB", "1");
    struct Unset
    {
        ~Unset() { qunsetenv("QT_NO_GLIB"); }
    } unset;
    Worker owner([&] {
        CurrentThreadExecutor one;
        CurrentThreadExecutor two;
        QObject context;
        waiter = &one;
        nester = &two;
        slotContext = &context;
        dispatcher = QAbstractEventDispatcher::instance()->metaObject()->className();
        ownerReady.release();
        (void)one.runUntilFuture(stop.future(), joinDeadline(), mode);
    });
    // However the test ends: the nested handler goes on, and the owner stops serving.
    const ReleaseOnExit letNestedGoOn { nestedGoesOn };
    const FinishOnExit stopOwner { stop };
    QVERIFY(ownerReady.tryAcquire(1, kHandshakeMs));
    qunsetenv("QT_NO_GLIB"); // the owner thread has its dispatcher
#if defined(Q_OS_LINUX)
    QCOMPARE(dispatcher, QByteArray("QEventDispatcherUNIX"));
#endif

    waiter->post([&] {
        deadline = deadlinePasses ? QDeadlineTimer(kShortMs) : joinDeadline();
        waiting.release();
        result = waiter->runUntilFuture(awaited.future(), deadline, mode) ? 1 : 0;
        returned.release();
    });
    QVERIFY(waiting.tryAcquire(1, kHandshakeMs));
    const auto processEventsTwice = [] {
        busyForTwoSlices(); // A's deadline timer is due by now
        QCoreApplication::processEvents(); // A is woken
        QCoreApplication::processEvents(); // and this takes its wake-up
    };
    // A's loop delivers this event: its handler runs nested inside A.
    const auto handler = [&] {
        nestedRuns.release();
        (void)nestedGoesOn.tryAcquire(1, kHandshakeMs);
        if (inSlot)
            nester->runUntilFuture(processing, RunMode::ExecutorOnly);
        else if (itemWaits)
            nester->runUntilFuture(qdispatch_compat::readyFuture(), mode); // runs the backlog
        else
            processEventsTwice();
    };
    if (inSlot)
        QMetaObject::invokeMethod(slotContext, handler, Qt::QueuedConnection);
    else
        nester->post(handler);
    if (itemWaits) {
        nester->post(busyForTwoSlices);
        nester->post(busyForTwoSlices);
    }
    QVERIFY(nestedRuns.tryAcquire(1, kHandshakeMs));
    if (inSlot)
        processing = nester->submit(processEventsTwice); // its wake-up comes before A's
    if (deadlinePasses) {
        while (!deadline.hasExpired())
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    } else {
        awaited.finish(); // posts the event that wakes A, before the handler goes on
    }
    nestedGoesOn.release();

    const bool returnedInTime = returned.tryAcquire(1, kPromptMs);
    if (!returnedInTime) {
        waiter->post([] {}); // any event lets it return, and the test end in order
        (void)returned.tryAcquire(1, kHandshakeMs);
    }
    QVERIFY2(returnedInTime, "the woken wait did not return until another event came");
    QCOMPARE(result.load(), deadlinePasses ? 0 : 1);
    stop.finish();
    QVERIFY(owner.join());
}

// Starts a thread for `body` with Qt's Unix event dispatcher (QT_NO_GLIB is read as a thread
// starts; set only meanwhile), and says which dispatcher the thread got.
class UnixDispatcherThread
{
public:
    explicit UnixDispatcherThread(std::function<void()> body)
    {
        qputenv("QT_NO_GLIB", "1");
        m_worker.emplace([this, body = std::move(body)] {
            m_dispatcher = QAbstractEventDispatcher::instance()->metaObject()->className();
            m_started.release();
            body();
        });
        m_gotIt = m_started.tryAcquire(1, kHandshakeMs);
        qunsetenv("QT_NO_GLIB");
    }
    [[nodiscard]] bool hasUnixDispatcher() const
    {
#if defined(Q_OS_LINUX)
        return m_gotIt && m_dispatcher == QByteArray("QEventDispatcherUNIX");
#else
        return m_gotIt;
#endif
    }
    [[nodiscard]] bool join()
    {
        return m_worker->join();
    }

private:
    Semaphore m_started;
    QByteArray m_dispatcher;
    bool m_gotIt = false;
    std::optional<Worker> m_worker;
};

// C9, "the request is left alone, so the thread's event loop still exits as asked": a queued
// slot asks the thread's loops to quit, then waits on a finished future with a backlog longer
// than two time slices, which lets events through between slices (C8). That processEvents()
// took the one wake-up that quit() gives, and the loop, back in control halfway through its own
// processEvents(), slept until some other event came (Qt's Unix dispatcher). Found by an
// outside tester.
void TestRunUntil::c9_loopExitsAfterQuitWhenAWaitLetEventsThrough_data()
{
    addRows<RunMode>(
        "mode",
        { { "AllEvents", RunMode::AllEvents }, { "ExcludeUserInput", RunMode::ExcludeUserInput } });
}

void TestRunUntil::c9_loopExitsAfterQuitWhenAWaitLetEventsThrough()
{
    QFETCH(RunMode, mode);
    Semaphore slotReady;
    Semaphore exited;
    std::atomic<bool> waitReturned { false };
    QObject *context = nullptr;
    UnixDispatcherThread owner([&] {
        CurrentThreadExecutor ex;
        QObject here;
        context = &here;
        QEventLoop loop;
        QMetaObject::invokeMethod(
            &here,
            [&] {
                QThread::currentThread()->quit();
                ex.post(busyForTwoSlices);
                ex.post(busyForTwoSlices);
                (void)ex.runUntilFuture(qdispatch_compat::readyFuture(), mode);
                waitReturned = true;
            },
            Qt::QueuedConnection);
        slotReady.release();
        loop.exec();
        exited.release();
        (void)slotReady.tryAcquire(1, kHandshakeMs); // `here` lives until the test is done
    });
    QVERIFY(owner.hasUnixDispatcher());
    QVERIFY(slotReady.tryAcquire(1, kHandshakeMs));
    const bool exitedInTime = exited.tryAcquire(1, kPromptMs);
    if (!exitedInTime) {
        QMetaObject::invokeMethod(
            context, [] {}, Qt::QueuedConnection); // lets it exit
        (void)exited.tryAcquire(1, kHandshakeMs);
    }
    slotReady.release();
    QVERIFY(owner.join());
    QVERIFY(waitReturned.load());
    QVERIFY2(exitedInTime,
             "the thread's event loop did not exit after quit() until another "
             "event came");
}

// C8, C9: an inner wait keeps its deadline while a flood of items (each posting the next) keeps
// its event loop busy, and while an outer wait is woken (its future finished inside the inner
// loop) and waits for control to come back. Renewing the outer wait's wake-up by interrupting
// the dispatcher after every drain made the inner loop return before it fired its timers, every
// time: the inner deadline never came, and the thread spun until the flood ended. Found by an
// outside tester (Qt's Unix dispatcher).
void TestRunUntil::c8_c9_innerDeadlineHoldsInAFloodWhileAnOuterWaitIsWoken_data()
{
    addRows<RunMode>(
        "mode",
        { { "AllEvents", RunMode::AllEvents }, { "ExcludeUserInput", RunMode::ExcludeUserInput } });
}

void TestRunUntil::c8_c9_innerDeadlineHoldsInAFloodWhileAnOuterWaitIsWoken()
{
    QFETCH(RunMode, mode);
    std::atomic<bool> stopFlood { false };
    std::atomic<int> innerResult { -1 };
    std::atomic<int> outerResult { -1 };
    Semaphore innerReturned;
    UnixDispatcherThread owner([&] {
        CurrentThreadExecutor outerEx;
        CurrentThreadExecutor innerEx;
        CurrentThreadExecutor floodEx;
        struct Flood
        {
            CurrentThreadExecutor *ex;
            std::atomic<bool> *stop;
            void operator()() const
            {
                if (!stop->load())
                    ex->post(*this);
            }
        };
        QPromise<void> outerAwaited;
        outerAwaited.start();
        QPromise<void> never;
        never.start();
        // Runs in the outer wait's loop.
        innerEx.post([&] {
            floodEx.post(Flood { &floodEx, &stopFlood });
            outerAwaited.finish(); // the outer wait is woken inside the inner one's loop
            innerResult =
                innerEx.runUntilFuture(never.future(), QDeadlineTimer(kShortMs), mode) ? 1 : 0;
            innerReturned.release();
        });
        outerResult =
            outerEx.runUntilFuture(outerAwaited.future(), joinDeadline(), RunMode::ExcludeUserInput)
            ? 1
            : 0;
        stopFlood = true;
        floodEx.runUntilFuture(qdispatch_compat::readyFuture(), RunMode::ExecutorOnly);
    });
    QVERIFY(owner.hasUnixDispatcher());
    const bool inTime = innerReturned.tryAcquire(1, kShortMs + kPromptMs);
    stopFlood = true;
    if (!inTime)
        (void)innerReturned.tryAcquire(1, kHandshakeMs);
    QVERIFY2(inTime, "the inner wait did not return by its deadline while the flood went on");
    QVERIFY(owner.join());
    QCOMPARE(innerResult.load(), 0);
    QCOMPARE(outerResult.load(), 1);
}

// C8: any number of calls in a row, each one a real wait, cycling modes and both overloads.
void TestRunUntil::c8_manyTimesInARow()
{
    CurrentThreadExecutor executor;
    QThread *const owner = executor.thread();
    std::atomic<int> offThread { 0 };
    constexpr int kRounds = 300;
    for (int round = 0; round < kRounds; ++round) {
        const RunMode mode = kModes[round % 3];
        QFuture<int> job = QtConcurrent::run([&, round] {
            int sum = 0;
            for (int i = 0; i < 3; ++i) {
                sum += executor
                           .submit([&, round, i] {
                               if (QThread::currentThread() != owner)
                                   ++offThread;
                               return round + i;
                           })
                           .result();
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
    addRows<bool>("stdThread", { { "QThread", false }, { "std::thread", true } });
}

void TestRunUntil::c8_ownerIsNotTheMainThread()
{
    QFETCH(bool, stdThread);
    std::vector<qint64> sums;
    std::atomic<int> offThread { 0 };
    std::atomic<int> failures { 0 };
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
                        sum += executor
                                   .submit([&, i] {
                                       if (QThread::currentThread() != owner)
                                           ++offThread;
                                       return qint64(i);
                                   })
                                   .result();
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
    QCOMPARE(sums, (std::vector<qint64> { 5050, 5050, 5050 }));
}

QTEST_GUILESS_MAIN(TestRunUntil)
#include "tst_rununtil.moc"

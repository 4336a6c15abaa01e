// C12, C13: when an executor breaks, the items it still holds move down the chain in order or
// fail with Broken, and nothing is lost; where an executor may be destroyed, and what happens
// when it is destroyed where it must not be. When it breaks and where later work goes (C10,
// C11) is in tst_lifecycle.cpp. Threads are ordered with semaphores (never sleeps) and joined
// with a timeout; every callable is a Probe (tests/support/lifecycle.h) that records where it ran
// and where it was destroyed.
#include <qdispatch/currentthreadexecutor.h>

#include "lifecycle.h"
#include "messages.h"
#include "testsupport.h"

#include <QtCore/QDeadlineTimer>
#include <QtCore/QList>
#include <QtCore/QPromise>
#include <QtCore/QStringList>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <atomic>
#include <exception>
#include <memory>
#include <thread>
#include <utility>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

// C13's programming error handled as shutdown(): the probes the destroyed executor held moved to
// `old` on this thread (withOld), which runs them now, or failed Broken here.
void checkHandedHere(CurrentThreadExecutor &old, const Journal &journal, const Submitted &submitted,
                     bool withOld)
{
    if (withOld)
        QVERIFY(
            old.runUntilFuture(submitted.futures.last(), joinDeadline(), RunMode::ExecutorOnly));
    QThread *const here = QThread::currentThread();
    VERIFY_NO_PROBLEM(whereTheyWent(journal, submitted, withOld ? here : nullptr, here));
}

} // namespace

class TestShutdown : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void c12_ownerEndsItemsFail_data();
    void c12_ownerEndsItemsFail();
    void c12_ownerEndsItemsRunOnOldExecutor_data();
    void c12_ownerEndsItemsRunOnOldExecutor();
    void c12_neverRunCallableDiesOnBreakingThread();
    void c12_waiterOfBrokenItemWakes();

    void c13_destroyOnOwnerWithItemsQueued_data();
    void c13_destroyOnOwnerWithItemsQueued();
    void c13_destroyOnOwnerFromInsideItsOwnItem_data();
    void c13_destroyOnOwnerFromInsideItsOwnItem();
    void c13_destroyAfterOwnerFinished_data();
    void c13_destroyAfterOwnerFinished();
    void c13_destroyFromAnotherThreadWhileOwnerBlocked_data();
    void c13_destroyFromAnotherThreadWhileOwnerBlocked();
    void c13_destroyFromAnotherThreadWhileOwnerInEventLoop_data();
    void c13_destroyFromAnotherThreadWhileOwnerInEventLoop();
};

void TestShutdown::c12_ownerEndsItemsFail_data()
{
    addThreadKindRows();
}

void TestShutdown::c12_ownerEndsItemsFail()
{
    QFETCH(bool, useQThread);
    BlockedOwner owner(useQThread);
    QVERIFY(owner.waitReady());
    auto journal = std::make_shared<Journal>();
    const Submitted submitted = submitProbes(owner.executor(), journal, { 0, 1, 2 });
    QCOMPARE(submitted.futures.size(), 3);

    QVERIFY(owner.finish());
    // Never ran, so destroyed on the thread that broke the executor: the ending owner.
    VERIFY_NO_PROBLEM(whereTheyWent(*journal, submitted, nullptr, owner.qthread()));
    for (int id = 0; id < 3; ++id)
        QVERIFY(journal->diedOnId(id) == owner.id());
}

void TestShutdown::c12_ownerEndsItemsRunOnOldExecutor_data()
{
    addThreadKindRows();
}

void TestShutdown::c12_ownerEndsItemsRunOnOldExecutor()
{
    QFETCH(bool, useQThread);
    CurrentThreadExecutor old; // on this thread
    BlockedOwner owner(useQThread, &old);
    QVERIFY(owner.waitReady());
    auto journal = std::make_shared<Journal>();
    const Submitted submitted = submitProbes(owner.executor(), journal, { 0, 1, 2 });
    QCOMPARE(submitted.futures.size(), 3);

    QVERIFY(owner.finish());
    QVERIFY(owner.executor()->isBroken());
    // Moved, not failed: they wait for this thread to run them.
    for (const auto &future : submitted.futures)
        QVERIFY(!future.isFinished());
    QCOMPARE(journal->destroyed.available(), 0);

    QVERIFY(old.runUntilFuture(submitted.futures.last(), joinDeadline(), RunMode::ExecutorOnly));
    VERIFY_NO_PROBLEM(whereTheyWent(*journal, submitted, old.thread(), nullptr));
}

void TestShutdown::c12_neverRunCallableDiesOnBreakingThread()
{
    // Submitted from this thread, owned by a blocked thread, broken by a third one: the
    // callables that never ran die on the third.
    BlockedOwner owner(false);
    QVERIFY(owner.waitReady());
    auto journal = std::make_shared<Journal>();
    const Submitted submitted = submitProbes(owner.executor(), journal, { 0, 1 });
    QCOMPARE(submitted.futures.size(), 2);

    std::thread::id breakerId;
    Semaphore returned; // see releasingOnReturn()
    std::unique_ptr<QThread> breaker(QThread::create(releasingOnReturn(returned, [&] {
        breakerId = std::this_thread::get_id();
        owner.executor()->shutdown();
    })));
    breaker->start();
    QVERIFY(returned.tryAcquire(1, kHandshakeMs));
    QVERIFY(breaker->wait(joinDeadline()));
    VERIFY_NO_PROBLEM(whereTheyWent(*journal, submitted, nullptr, breaker.get()));
    for (int id = 0; id < 2; ++id)
        QVERIFY(journal->diedOnId(id) == breakerId);
    QVERIFY(owner.finish());
}

void TestShutdown::c12_waiterOfBrokenItemWakes()
{
    // A thread blocked on the future of a queued item is released when the owner ends.
    BlockedOwner owner(true);
    QVERIFY(owner.waitReady());
    auto journal = std::make_shared<Journal>();
    const Submitted submitted = submitProbes(owner.executor(), journal, { 0 });
    QCOMPARE(submitted.futures.size(), 1);

    // Shared with the waiter, which outlives this test if the library leaves it hanging.
    struct Shared
    {
        Semaphore waiting;
        Semaphore returned;
        std::atomic<int> outcome { -1 }; // 0: waitForFinished() threw, 1: it returned
        std::exception_ptr error;
    };
    auto shared = std::make_shared<Shared>();
    std::unique_ptr<QThread> waiter(
        QThread::create([shared, future = submitted.futures.first()]() mutable {
            shared->waiting.release();
            try {
                future.waitForFinished();
                shared->outcome = 1;
            } catch (...) {
                // Kept, not read here: the owner made the exception while it ended, and
                // only this test thread is ordered after that for ThreadSanitizer
                // (BlockedOwner::finish()); QFuture's own hand-off is invisible to it.
                shared->error = std::current_exception();
                shared->outcome = 0;
            }
            shared->returned.release();
        }));
    waiter->start();
    QVERIFY(shared->waiting.tryAcquire(1, kHandshakeMs));
    QVERIFY(owner.finish());
    if (!shared->returned.tryAcquire(1, kHandshakeMs) || !waiter->wait(joinDeadline())) {
        waiter.release(); // still blocked on the future: cannot be destroyed
        QFAIL("C12: a thread waiting on the future of a queued item still hangs");
    }
    QCOMPARE(shared->outcome.load(), 0);
    bool broken = false;
    try {
        std::rethrow_exception(shared->error);
    } catch (const ExecutorError &error) {
        broken = error.code() == ExecutorError::Code::Broken;
    } catch (...) { }
    QVERIFY2(broken, "C12: the waiter was released without ExecutorError{Broken}");
}

void TestShutdown::c13_destroyOnOwnerWithItemsQueued_data()
{
    addRows<bool>("withOld",
                  { { "no old executor", false }, { "old executor on a QThread", true } });
}

void TestShutdown::c13_destroyOnOwnerWithItemsQueued()
{
    QFETCH(bool, withOld);
    LoopThread oldThread(WithExecutor {});
    CurrentThreadExecutor *old = withOld ? oldThread.startAndWait() : nullptr;
    QVERIFY(old || !withOld);
    auto executor = std::make_unique<CurrentThreadExecutor>(old);
    auto journal = std::make_shared<Journal>();
    const Submitted submitted = submitProbesFromWorker(executor.get(), journal, { 0, 1, 2 });
    QCOMPARE(submitted.futures.size(), 3);

    MessageLog log;
    executor.reset();
    QVERIFY2(log.count() == 0, qPrintable(log.joined()));

    QVERIFY(!withOld || journal->destroyed.tryAcquire(3, kHandshakeMs));
    VERIFY_NO_PROBLEM(whereTheyWent(*journal, submitted, withOld ? &oldThread : nullptr,
                                    QThread::currentThread()));
}

void TestShutdown::c13_destroyOnOwnerFromInsideItsOwnItem_data()
{
    addRows<RunMode, bool>(
        "mode", "withOld",
        { { "ExecutorOnly", RunMode::ExecutorOnly, false },
          { "AllEvents", RunMode::AllEvents, false },
          { "AllEvents, old executor on a QThread", RunMode::AllEvents, true } });
}

void TestShutdown::c13_destroyOnOwnerFromInsideItsOwnItem()
{
    // An item destroys its own executor (on the owner thread, so allowed) while the owner waits
    // in runUntilFuture() on that very executor and three more items wait behind it.
    QFETCH(RunMode, mode);
    QFETCH(bool, withOld);
    LoopThread oldThread(WithExecutor {});
    CurrentThreadExecutor *old = withOld ? oldThread.startAndWait() : nullptr;
    QVERIFY(old || !withOld);
    CurrentThreadExecutor *executor = new CurrentThreadExecutor(old);
    auto journal = std::make_shared<Journal>();
    QFuture<int> destroyer;
    Submitted behind;
    onWorker([&] {
        destroyer = executor->submit([&executor] {
            delete std::exchange(executor, nullptr);
            return 1;
        });
        behind = submitProbes(executor, journal, { 0, 1, 2 });
    });
    QCOMPARE(behind.futures.size(), 3);

    MessageLog log;
    CurrentThreadExecutor *raw = executor;
    raw->runUntilFuture(destroyer, mode);
    QCOMPARE(executor, nullptr);
    QCOMPARE(destroyer.result(), 1);
    QVERIFY2(log.count() == 0, qPrintable(log.joined()));

    QVERIFY(!withOld || journal->destroyed.tryAcquire(3, kHandshakeMs));
    VERIFY_NO_PROBLEM(
        whereTheyWent(*journal, behind, withOld ? &oldThread : nullptr, QThread::currentThread()));
}

void TestShutdown::c13_destroyAfterOwnerFinished_data()
{
    addRows<bool, bool>("useQThread", "deleteQThreadFirst",
                        { { "std::thread joined", false, false },
                          { "QThread after wait()", true, false },
                          { "QThread object deleted first", true, true } });
}

void TestShutdown::c13_destroyAfterOwnerFinished()
{
    QFETCH(bool, useQThread);
    QFETCH(bool, deleteQThreadFirst);
    BlockedOwner owner(useQThread);
    QVERIFY(owner.waitReady());
    auto journal = std::make_shared<Journal>();
    const Submitted submitted = submitProbes(owner.executor(), journal, { 0, 1 });
    QCOMPARE(submitted.futures.size(), 2);
    QVERIFY(owner.finish());
    if (deleteQThreadFirst)
        owner.deleteQThreadObject();

    std::unique_ptr<CurrentThreadExecutor> executor = owner.takeExecutor();
    MessageLog log;
    executor.reset(); // on this thread, after the owner finished: fine and silent
    QVERIFY2(log.count() == 0, qPrintable(log.joined()));
    VERIFY_NO_PROBLEM(brokenProblem(submitted.futures));
    QCOMPARE(journal->alive.load(), 0);
}

void TestShutdown::c13_destroyFromAnotherThreadWhileOwnerBlocked_data()
{
    addRows<bool, bool>("useQThread", "withOld",
                        { { "std::thread", false, false },
                          { "QThread", true, false },
                          { "std::thread, old executor here", false, true },
                          { "QThread, old executor here", true, true } });
}

void TestShutdown::c13_destroyFromAnotherThreadWhileOwnerBlocked()
{
    QFETCH(bool, useQThread);
    QFETCH(bool, withOld);
    CurrentThreadExecutor old; // on this thread
    BlockedOwner owner(useQThread, withOld ? &old : nullptr);
    QVERIFY(owner.waitReady());
    auto journal = std::make_shared<Journal>();
    const Submitted submitted = submitProbes(owner.executor(), journal, { 0, 1, 2 });
    QCOMPARE(submitted.futures.size(), 3);

    MessageLog log;
    QTest::ignoreMessage(QtCriticalMsg, foreignDestructionMessage());
    owner.takeExecutor().reset(); // a programming error: reported, then handled as shutdown()
    QCOMPARE(log.count(), 1);
    checkHandedHere(old, *journal, submitted, withOld);
    QVERIFY(owner.finish()); // the owner goes on and ends normally
}

void TestShutdown::c13_destroyFromAnotherThreadWhileOwnerInEventLoop_data()
{
    addRows<bool>("withOld", { { "no old executor", false }, { "old executor here", true } });
}

void TestShutdown::c13_destroyFromAnotherThreadWhileOwnerInEventLoop()
{
    QFETCH(bool, withOld);
    CurrentThreadExecutor old; // on this thread
    Semaphore blockerStarted, releaseBlocker;
    LoopThread owner(WithExecutor { withOld ? &old : nullptr });
    const ReleaseOnExit releaseOnExit { releaseBlocker }; // the owner's loop can then stop
    CurrentThreadExecutor *executor = owner.startAndWait();
    QVERIFY(executor);

    // The owner is busy in one item while three more wait behind it.
    QFuture<int> blocker = executor->submit([&] {
        blockerStarted.release();
        return releaseBlocker.tryAcquire(1, kHandshakeMs) ? 1 : 0;
    });
    QVERIFY(blockerStarted.tryAcquire(1, kHandshakeMs));
    auto journal = std::make_shared<Journal>();
    const Submitted submitted = submitProbes(executor, journal, { 0, 1, 2 });
    QCOMPARE(submitted.futures.size(), 3);

    MessageLog log;
    QTest::ignoreMessage(QtCriticalMsg, foreignDestructionMessage());
    owner.takeExecutor().reset();
    QCOMPARE(log.count(), 1);
    checkHandedHere(old, *journal, submitted, withOld);

    // The item that was running finishes normally on the owner, which goes on and ends.
    releaseBlocker.release();
    QVERIFY(owner.stop());
    QVERIFY(blocker.isFinished());
    QCOMPARE(blocker.result(), 1);
}

QTEST_GUILESS_MAIN(TestShutdown)
#include "tst_shutdown.moc"

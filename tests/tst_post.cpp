// Tests for CurrentThreadExecutor::post (X1) and postLatest (X2). Every test names the rule it
// guards. Threads are ordered with Semaphore hand-offs (never sleeps); every worker thread is
// joined with a timeout, so a bug shows as a failure, not a hung run.

#include <qdispatch/currentthreadexecutor.h>

#include "testsupport.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QFuture>
#include <QtCore/QPromise>
#include <QtCore/QRegularExpression>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

constexpr int kUpdates = 100000;

QRegularExpression pattern(const char *text)
{
    return QRegularExpression(QString::fromLatin1(text));
}

} // namespace

class TestPost : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();

    void x1_runsOnOwnerThreadWhenPostedFromWorker();
    void x1_runsOnOwnerThreadOfWorkerExecutor();
    void x1_postFromOwnerThreadIsQueuedNotInline();
    void x1_postFromInsideRunningItemIsQueued();
    void x1_keepsOrderWithSubmitItems();
    void x1_exceptionIsReportedWithWhatAndExecutorGoesOn();
    void x1_nonStdExceptionIsReportedAndExecutorGoesOn();
    void x1_postToBrokenChainThrowsBroken();
    void x1_postToBrokenExecutorFollowsChain();
    void x1_queuedItemMovesDownChainWhenExecutorBreaks();
    void x1_queuedItemWithNoLiveChainWarnsOnShutdown();
    void x1_queuedItemWithNoLiveChainWarnsOnDestruction();

    void x2_latestValueWinsWhileOwnerIsBusy();
    void x2_latestValueWinsWhileOwnerDrains();
    void x2_differentKeysDoNotReplaceEachOther();
    void x2_differentKeysFromWorkerKeepTheirOwnLatest();
    void x2_replacedCallableIsNeverCalled();
    void x2_runningKeyIsFollowedByNewItemFromWorker();
    void x2_runningKeyIsFollowedByNewItemFromOwner();
    void x2_postLatestToBrokenChainThrowsBroken();
    void x2_queuedLatestItemWithNoLiveChainWarns();
};

void TestPost::init()
{
    // X1 "nothing silent" cuts both ways: a warning that a test does not expect is a failure.
    QTest::failOnWarning(pattern(".*"));
}

// ---------------------------------------------------------------------------------------- X1

void TestPost::x1_runsOnOwnerThreadWhenPostedFromWorker()
{
    CurrentThreadExecutor ex;
    QCOMPARE(ex.thread(), QThread::currentThread());

    QThread *ranOn = nullptr;
    int runs = 0;
    Semaphore posted;
    Worker worker([&] {
        ex.post([&] {
            ranOn = QThread::currentThread();
            ++runs;
        });
        posted.release();
    });
    QVERIFY(posted.tryAcquire(1, kHandshakeMs));
    QVERIFY(worker.join());
    QCOMPARE(runs, 0); // the owner has not processed events yet

    drain(ex);
    QCOMPARE(runs, 1);
    QCOMPARE(ranOn, ex.thread());
    QVERIFY(ranOn != worker.thread());

    drain(ex);
    QCOMPARE(runs, 1); // exactly once
}

void TestPost::x1_runsOnOwnerThreadOfWorkerExecutor()
{
    LoopThread owner(WithExecutor {});
    CurrentThreadExecutor *const ex = owner.startAndWait();
    QVERIFY(ex);
    std::atomic<QThread *> ranOn { nullptr };
    Semaphore ran;
    ex->post([&] {
        ranOn = QThread::currentThread();
        ran.release();
    });
    QVERIFY(ran.tryAcquire(1, kHandshakeMs));
    QCOMPARE(ex->thread(), static_cast<QThread *>(&owner));
    QVERIFY(owner.stop());
    QCOMPARE(ranOn.load(), static_cast<QThread *>(&owner));
}

void TestPost::x1_postFromOwnerThreadIsQueuedNotInline()
{
    CurrentThreadExecutor ex;
    bool ran = false;
    QThread *ranOn = nullptr;
    ex.post([&] {
        ran = true;
        ranOn = QThread::currentThread();
    });
    QVERIFY2(!ran, "post() from the owner thread ran the callable inline");

    drain(ex);
    QVERIFY(ran);
    QCOMPARE(ranOn, ex.thread());
}

void TestPost::x1_postFromInsideRunningItemIsQueued()
{
    CurrentThreadExecutor ex;
    std::vector<std::string> log;
    ex.post([&] {
        log.emplace_back("outer begin");
        ex.post([&] { log.emplace_back("inner"); });
        log.emplace_back("outer end");
    });
    drain(ex);
    drain(ex); // the inner item was accepted after the first drain had counted its work
    QCOMPARE(log, (std::vector<std::string> { "outer begin", "outer end", "inner" }));
}

void TestPost::x1_keepsOrderWithSubmitItems()
{
    constexpr int kItems = 3000;
    CurrentThreadExecutor ex;
    std::vector<int> order; // touched by items only, so only on the owner thread
    std::atomic<int> wrongThread { 0 };
    QThread *const owner = ex.thread();

    Worker worker([&] {
        for (int i = 0; i < kItems; ++i) {
            auto record = [&, i] {
                if (QThread::currentThread() != owner)
                    ++wrongThread;
                order.push_back(i);
            };
            if (i % 3 == 0)
                ex.post(record);
            else
                (void)ex.submit(record);
        }
    });
    QVERIFY(worker.serveAndJoin(ex));
    drain(ex);

    VERIFY_NO_PROBLEM(sequenceProblem(order, kItems));
    QCOMPARE(wrongThread.load(), 0);
}

void TestPost::x1_exceptionIsReportedWithWhatAndExecutorGoesOn()
{
    CurrentThreadExecutor ex;
    bool after = false;
    int afterSubmit = 0;

    QTest::ignoreMessage(QtCriticalMsg, pattern("boom-x1-owner"));
    ex.post([] { throw std::runtime_error("boom-x1-owner"); });
    ex.post([&] { after = true; });
    drain(ex);
    QVERIFY(after);

    // The same from a worker, followed by a submit item whose future must still be fulfilled.
    QTest::ignoreMessage(QtCriticalMsg, pattern("boom-x1-worker"));
    QFuture<int> next;
    Worker worker([&] {
        ex.post([] { throw std::logic_error("boom-x1-worker"); });
        next = ex.submit([&] { return ++afterSubmit; });
    });
    QVERIFY(worker.serveAndJoin(ex));
    QVERIFY(ex.runUntilFuture(next, QDeadlineTimer(kJoinMs)));
    QCOMPARE(next.result(), 1);
}

void TestPost::x1_nonStdExceptionIsReportedAndExecutorGoesOn()
{
    CurrentThreadExecutor ex;
    bool after = false;
    QTest::ignoreMessage(QtCriticalMsg, pattern("post"));
    ex.post([] { throw 42; });
    ex.post([&] { after = true; });
    drain(ex);
    QVERIFY(after);
}

void TestPost::x1_postToBrokenChainThrowsBroken()
{
    // A single executor, shut down.
    {
        CurrentThreadExecutor ex;
        ex.shutdown();
        QVERIFY(ex.isBroken());

        bool called = false;
        auto guard = std::make_shared<int>(0);
        std::weak_ptr<int> watch = guard;
        QCOMPARE(errorCodeOf([&] { ex.post([&called, g = std::move(guard)] { called = true; }); }),
                 kBroken);
        QVERIFY2(watch.expired(), "the rejected callable was kept (nothing must be queued)");
        drain(ex);
        QVERIFY(!called);

        // From another thread as well.
        const auto post = [&] { ex.post([&called] { called = true; }); };
        const auto postFromWorker = [&] { return errorCodeOf(post); };
        QCOMPARE(onWorker(postFromWorker), kBroken);
        QVERIFY(!called);
    }

    // A chain whose every executor is broken.
    {
        CurrentThreadExecutor outer;
        CurrentThreadExecutor inner(&outer);
        inner.shutdown();
        outer.shutdown();
        bool called = false;
        QCOMPARE(errorCodeOf([&] { inner.post([&] { called = true; }); }), kBroken);
        QVERIFY(!called);
    }
}

void TestPost::x1_postToBrokenExecutorFollowsChain()
{
    CurrentThreadExecutor outer;
    auto inner = std::make_unique<CurrentThreadExecutor>(&outer);
    inner->shutdown();

    QThread *ranOn = nullptr;
    inner->post([&] { ranOn = QThread::currentThread(); });
    inner.reset();
    drain(outer);
    QCOMPARE(ranOn, outer.thread());
}

void TestPost::x1_queuedItemMovesDownChainWhenExecutorBreaks()
{
    CurrentThreadExecutor outer;
    auto inner = std::make_unique<CurrentThreadExecutor>(&outer);
    std::vector<int> order;
    inner->post([&] { order.push_back(1); });
    inner->post([&] { order.push_back(2); });
    inner.reset(); // no warning: the items have a live executor to go to
    QVERIFY(order.empty());
    drain(outer);
    QCOMPARE(order, (std::vector<int> { 1, 2 }));
}

void TestPost::x1_queuedItemWithNoLiveChainWarnsOnShutdown()
{
    CurrentThreadExecutor ex;
    bool called = false;
    auto guard = std::make_shared<int>(0);
    std::weak_ptr<int> watch = guard;
    ex.post([&called, g = std::move(guard)] { called = true; });

    QTest::ignoreMessage(QtWarningMsg, pattern("never run"));
    ex.shutdown();
    QVERIFY(watch.expired()); // failed and destroyed, not kept forever
    drain(ex);
    QVERIFY(!called);
}

void TestPost::x1_queuedItemWithNoLiveChainWarnsOnDestruction()
{
    bool called = false;
    {
        CurrentThreadExecutor outer;
        CurrentThreadExecutor inner(&outer);
        outer.shutdown();
        inner.post([&] { called = true; });
        QTest::ignoreMessage(QtWarningMsg, pattern("never run"));
        // inner is destroyed first with its item still queued; outer is already broken.
    }
    QVERIFY(!called);
}

// ---------------------------------------------------------------------------------------- X2

void TestPost::x2_latestValueWinsWhileOwnerIsBusy()
{
    // Repeated: the last value must win every time, not just usually.
    for (int round = 0; round < 3; ++round) {
        CurrentThreadExecutor ex;
        const int key = 0;
        int runs = 0;
        int last = -1;
        QThread *ranOn = nullptr;
        Semaphore lastPosted;
        Worker worker([&] {
            for (int i = 0; i < kUpdates; ++i) {
                ex.postLatest(&key, [&runs, &last, &ranOn, i] {
                    ++runs;
                    last = i;
                    ranOn = QThread::currentThread();
                });
            }
            lastPosted.release();
        });
        // The owner is busy (blocked here) while all the updates arrive.
        QVERIFY(lastPosted.tryAcquire(1, kJoinMs));
        QVERIFY(worker.join());
        QCOMPARE(runs, 0);

        drain(ex);
        QVERIFY2(runs >= 1, "the latest update was lost");
        QVERIFY2(runs <= 5, qPrintable(QStringLiteral("%1 updates ran").arg(runs)));
        QCOMPARE(last, kUpdates - 1);
        QCOMPARE(ranOn, ex.thread());
    }
}

void TestPost::x2_latestValueWinsWhileOwnerDrains()
{
    CurrentThreadExecutor ex;
    const int key = 0;
    int runs = 0;
    int last = -1;
    bool increasing = true;
    Worker worker([&] {
        for (int i = 0; i < kUpdates; ++i) {
            ex.postLatest(&key, [&, i] {
                ++runs;
                if (i <= last)
                    increasing = false;
                last = i;
            });
        }
    });
    QVERIFY(worker.serveAndJoin(ex));
    drain(ex);

    QCOMPARE(last, kUpdates - 1);
    QVERIFY2(increasing, "an older update ran after a newer one");
    QVERIFY(runs >= 1);
    QVERIFY(runs <= kUpdates);
}

void TestPost::x2_differentKeysDoNotReplaceEachOther()
{
    CurrentThreadExecutor ex;
    const int keyA = 0;
    const int keyB = 0;
    std::vector<std::string> log;
    auto record = [&log](const char *what) { return [&log, what] { log.emplace_back(what); }; };

    ex.postLatest(&keyA, record("a1"));
    ex.post(record("plain"));
    ex.postLatest(&keyB, record("b1"));
    ex.postLatest(&keyA, record("a2")); // replaces a1 in a1's place
    QVERIFY(log.empty());
    drain(ex);

    QCOMPARE(log, (std::vector<std::string> { "a2", "plain", "b1" }));
}

void TestPost::x2_differentKeysFromWorkerKeepTheirOwnLatest()
{
    constexpr int kPerKey = 20000;
    CurrentThreadExecutor ex;
    const int keyA = 0;
    const int keyB = 0;
    int runsA = 0;
    int runsB = 0;
    int lastA = -1;
    int lastB = -1;
    Semaphore lastPosted;
    Worker worker([&] {
        for (int i = 0; i < kPerKey; ++i) {
            ex.postLatest(&keyA, [&, i] {
                ++runsA;
                lastA = i;
            });
            ex.postLatest(&keyB, [&, i] {
                ++runsB;
                lastB = -i;
            });
        }
        lastPosted.release();
    });
    QVERIFY(lastPosted.tryAcquire(1, kJoinMs));
    QVERIFY(worker.join());
    drain(ex);

    QCOMPARE(lastA, kPerKey - 1);
    QCOMPARE(lastB, -(kPerKey - 1));
    QVERIFY(runsA >= 1 && runsA <= 5);
    QVERIFY(runsB >= 1 && runsB <= 5);
}

void TestPost::x2_replacedCallableIsNeverCalled()
{
    CurrentThreadExecutor ex;
    const int key = 0;
    bool calledOld = false;
    bool calledNew = false;
    auto guard = std::make_shared<int>(0);
    std::weak_ptr<int> watch = guard;

    ex.postLatest(&key, [&calledOld, g = std::move(guard)] { calledOld = true; });
    QVERIFY(!watch.expired());
    ex.postLatest(&key, [&calledNew] { calledNew = true; });
    // The header documents that the replaced callable is destroyed by postLatest() itself.
    QVERIFY2(watch.expired(), "the replaced callable was not destroyed on replacement");

    drain(ex);
    QVERIFY(!calledOld);
    QVERIFY(calledNew);

    // Replaced from a worker too, with the first one posted by the owner.
    bool calledOwnerOne = false;
    int workerValue = 0;
    ex.postLatest(&key, [&] { calledOwnerOne = true; });
    Worker worker([&] { ex.postLatest(&key, [&] { workerValue = 7; }); });
    QVERIFY(worker.join());
    drain(ex);
    QVERIFY(!calledOwnerOne);
    QCOMPARE(workerValue, 7);
}

void TestPost::x2_runningKeyIsFollowedByNewItemFromWorker()
{
    CurrentThreadExecutor ex;
    const int key = 0;
    std::vector<int> log;
    Semaphore started;
    Semaphore proceed;
    bool proceeded = false;
    std::atomic<bool> workerSawStart { false };

    ex.postLatest(&key, [&] {
        log.push_back(1);
        started.release();
        // Keep this item running until the worker has posted with the same key.
        proceeded = proceed.tryAcquire(1, kHandshakeMs);
    });
    Worker worker([&] {
        if (!started.tryAcquire(1, kHandshakeMs))
            return;
        workerSawStart = true;
        ex.postLatest(&key, [&] { log.push_back(2); });
        proceed.release();
    });
    QVERIFY(worker.serveAndJoin(ex));
    drain(ex);

    QVERIFY(workerSawStart.load());
    QVERIFY(proceeded);
    QCOMPARE(log, (std::vector<int> { 1, 2 }));
}

void TestPost::x2_runningKeyIsFollowedByNewItemFromOwner()
{
    CurrentThreadExecutor ex;
    const int key = 0;
    std::vector<int> log;
    ex.postLatest(&key, [&] {
        log.push_back(1);
        ex.postLatest(&key, [&] { log.push_back(2); });
    });
    drain(ex);
    drain(ex);
    QCOMPARE(log, (std::vector<int> { 1, 2 }));
}

void TestPost::x2_postLatestToBrokenChainThrowsBroken()
{
    CurrentThreadExecutor outer;
    CurrentThreadExecutor inner(&outer);
    const int key = 0;
    int value = 0;

    // Broken inner, live outer: the item goes down the chain.
    inner.shutdown();
    inner.postLatest(&key, [&] { value = 1; });
    drain(outer);
    QCOMPARE(value, 1);

    // Nothing alive: Broken, nothing queued.
    outer.shutdown();
    QCOMPARE(errorCodeOf([&] { inner.postLatest(&key, [&] { value = 2; }); }), kBroken);
    drain(outer);
    QCOMPARE(value, 1);
}

void TestPost::x2_queuedLatestItemWithNoLiveChainWarns()
{
    CurrentThreadExecutor ex;
    const int key = 0;
    bool called = false;
    ex.postLatest(&key, [&] { called = true; });
    ex.postLatest(&key, [&] { called = true; });
    QTest::ignoreMessage(QtWarningMsg, pattern("never run"));
    ex.shutdown();
    drain(ex);
    QVERIFY(!called);
}

QTEST_GUILESS_MAIN(TestPost)
#include "tst_post.moc"

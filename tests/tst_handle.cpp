// Tests for ExecutorHandle, the safe reference for late work (X7). Every test names the rule it
// guards. Threads are ordered with Semaphore hand-offs (never sleeps); every worker thread is
// joined with a timeout. Run it under ASan as well: a handle to a destroyed executor must not
// touch freed memory.

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
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

// Submits an item through `h` from a worker while `serving` runs its items; the item's future,
// which says where the item ran, or an invalid one when submit() threw.
QFuture<QThread *> submitFromWorker(CurrentThreadExecutor &serving, const ExecutorHandle &h)
{
    QFuture<QThread *> future;
    Worker worker([&] {
        if (errorCodeOf([&] { future = h.submit([] { return QThread::currentThread(); }); }) !=
            kNothingThrown)
            future = {};
    });
    if (!worker.serveAndJoin(serving))
        return {};
    (void)serving.runUntilFuture(future, joinDeadline());
    return future;
}

} // namespace

static_assert(std::is_default_constructible_v<ExecutorHandle>);
static_assert(std::is_copy_constructible_v<ExecutorHandle>);
static_assert(std::is_copy_assignable_v<ExecutorHandle>);
static_assert(std::is_nothrow_move_constructible_v<ExecutorHandle>);

class TestHandle : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void x7_copiesReferToTheSameExecutor();
    void x7_submitFromWorkerRunsOnOwner();
    void x7_postFromWorkerAndOwnerRunsOnOwner();
    void x7_submitFromOwnerThrowsOwnThreadLikeExecutor();
    void x7_submitAndPostKeepOrderWithExecutor();
    void x7_copiesUsedFromManyThreads();
    void x7_isBrokenFollowsExecutor();
    void x7_lateWorkRunsOnOuterAfterInnerDestroyed();
    void x7_lateWorkThrowsBrokenWithoutLiveOuter();
    void x7_handleOfFinishedThreadRoutesToOldExecutorOnOtherThread();
    void x7_defaultHandleIsBroken();
    void x7_handleOutlivesExecutorWithoutChain();
};

void TestHandle::x7_copiesReferToTheSameExecutor()
{
    CurrentThreadExecutor ex;
    const ExecutorHandle h = ex.handle();
    ExecutorHandle copy = h;
    ExecutorHandle assigned;
    QVERIFY(assigned.isBroken());
    assigned = copy;
    ExecutorHandle moved = std::move(copy);

    std::vector<int> log;
    h.post([&] { log.push_back(1); });
    assigned.post([&] { log.push_back(2); });
    moved.post([&] { log.push_back(3); });
    drain(ex);
    QCOMPARE(log, (std::vector<int> { 1, 2, 3 }));

    ex.shutdown();
    QVERIFY(h.isBroken());
    QVERIFY(assigned.isBroken());
    QVERIFY(moved.isBroken());
}

void TestHandle::x7_submitFromWorkerRunsOnOwner()
{
    CurrentThreadExecutor ex;
    const ExecutorHandle h = ex.handle();
    const QFuture<QThread *> future = submitFromWorker(ex, h);
    QVERIFY(future.isValid() && future.isFinished());
    QCOMPARE(future.result(), ex.thread());
    QVERIFY(future.result() == QThread::currentThread()); // not the worker's
}

void TestHandle::x7_postFromWorkerAndOwnerRunsOnOwner()
{
    CurrentThreadExecutor ex;
    const ExecutorHandle h = ex.handle();
    QThread *fromWorker = nullptr;
    QThread *fromOwner = nullptr;

    // From the owner: queued, not inline, exactly as the executor's own post().
    h.post([&] { fromOwner = QThread::currentThread(); });
    QCOMPARE(fromOwner, nullptr);

    Worker worker([&, h] { h.post([&] { fromWorker = QThread::currentThread(); }); });
    QVERIFY(worker.join());
    drain(ex);
    QCOMPARE(fromOwner, ex.thread());
    QCOMPARE(fromWorker, ex.thread());
}

void TestHandle::x7_submitFromOwnerThrowsOwnThreadLikeExecutor()
{
    CurrentThreadExecutor ex;
    const ExecutorHandle h = ex.handle();
    bool called = false;
    QCOMPARE(errorCodeOf([&] { (void)ex.submit([&] { called = true; }); }), kOwnThread);
    QCOMPARE(errorCodeOf([&] { (void)h.submit([&] { called = true; }); }), kOwnThread);
    drain(ex);
    QVERIFY(!called);
}

void TestHandle::x7_submitAndPostKeepOrderWithExecutor()
{
    constexpr int kItems = 2000;
    CurrentThreadExecutor ex;
    const ExecutorHandle h = ex.handle();
    std::vector<int> order; // touched only by items, on the owner thread
    Worker worker([&, h] {
        for (int i = 0; i < kItems; ++i) {
            auto record = [&order, i] { order.push_back(i); };
            switch (i % 4) {
            case 0:
                ex.post(record);
                break;
            case 1:
                h.post(record);
                break;
            case 2:
                (void)ex.submit(record);
                break;
            default:
                (void)h.submit(record);
                break;
            }
        }
    });
    QVERIFY(worker.serveAndJoin(ex));
    drain(ex);
    VERIFY_NO_PROBLEM(sequenceProblem(order, kItems));
}

void TestHandle::x7_copiesUsedFromManyThreads()
{
    constexpr int kThreads = 4;
    constexpr int kPerThread = 1000;
    CurrentThreadExecutor ex;
    ExecutorHandle shared = ex.handle();
    QThread *const owner = ex.thread();
    int sum = 0; // items only
    std::atomic<int> wrongThread { 0 };
    std::atomic<int> failures { 0 };
    Semaphore go;

    std::vector<std::unique_ptr<Worker>> workers;
    for (int t = 0; t < kThreads; ++t) {
        workers.push_back(std::make_unique<Worker>([&, t] {
            if (!go.tryAcquire(1, kHandshakeMs)) {
                ++failures;
                return;
            }
            const ExecutorHandle mine = shared; // copied concurrently from the same handle
            for (int i = 0; i < kPerThread; ++i) {
                auto add = [&] {
                    if (QThread::currentThread() != owner)
                        ++wrongThread;
                    ++sum;
                };
                if ((i + t) % 2)
                    mine.post(add);
                else
                    (void)mine.submit(add);
                if (mine.isBroken())
                    ++failures;
            }
        }));
    }
    go.release(kThreads);
    for (auto &w : workers)
        QVERIFY(ex.runUntilFuture(w->finished(), QDeadlineTimer(kJoinMs)));
    for (auto &w : workers)
        QVERIFY(w->join());
    drain(ex);
    QCOMPARE(failures.load(), 0);
    QCOMPARE(wrongThread.load(), 0);
    QCOMPARE(sum, kThreads * kPerThread);
}

void TestHandle::x7_isBrokenFollowsExecutor()
{
    auto ex = std::make_unique<CurrentThreadExecutor>();
    const ExecutorHandle h = ex->handle();
    QVERIFY(!ex->isBroken());
    QVERIFY(!h.isBroken());

    std::atomic<bool> brokenSeenByWorker { false };
    {
        Worker worker([&, h] { brokenSeenByWorker = h.isBroken(); });
        QVERIFY(worker.join());
    }
    QVERIFY(!brokenSeenByWorker.load());

    ex->shutdown();
    QCOMPARE(h.isBroken(), ex->isBroken());
    QVERIFY(h.isBroken());
    ex.reset();
    QVERIFY(h.isBroken()); // still answers after the executor is gone

    // Destroyed without shutdown() first.
    auto second = std::make_unique<CurrentThreadExecutor>();
    const ExecutorHandle h2 = second->handle();
    second.reset();
    QVERIFY(h2.isBroken());
}

// asgiref's late work (issues 491, 492, 526): a worker keeps a reference to an executor that
// has gone away and still sends work; here it lands on the executor the dead one was stacked on.
void TestHandle::x7_lateWorkRunsOnOuterAfterInnerDestroyed()
{
    CurrentThreadExecutor outer;
    auto inner = std::make_unique<CurrentThreadExecutor>(&outer);
    QCOMPARE(inner->thread(), outer.thread());
    QCOMPARE(inner->oldExecutor(), &outer);

    Semaphore innerGone;
    std::atomic<int> submitError { -2 };
    std::atomic<int> postError { -2 };
    std::atomic<bool> brokenSeen { false };
    QFuture<std::pair<QThread *, int>> future;
    std::atomic<QThread *> postedRanOn { nullptr };
    Worker worker([&, h = inner->handle()] {
        if (!innerGone.tryAcquire(1, kHandshakeMs))
            return;
        brokenSeen = h.isBroken();
        submitError = errorCodeOf([&] {
            future =
                h.submit([](int x) { return std::make_pair(QThread::currentThread(), x * 2); }, 21);
        });
        postError = errorCodeOf([&] { h.post([&] { postedRanOn = QThread::currentThread(); }); });
    });

    inner.reset(); // the frame that made `inner` is gone; the worker still holds its handle
    innerGone.release();
    QVERIFY(worker.serveAndJoin(outer));

    QVERIFY(brokenSeen.load());
    QCOMPARE(submitError.load(), kNothingThrown);
    QCOMPARE(postError.load(), kNothingThrown);
    QVERIFY(outer.runUntilFuture(future, QDeadlineTimer(kJoinMs)));
    drain(outer);
    QCOMPARE(future.result().first, outer.thread());
    QCOMPARE(future.result().second, 42);
    QCOMPARE(postedRanOn.load(), outer.thread());
}

void TestHandle::x7_lateWorkThrowsBrokenWithoutLiveOuter()
{
    auto outer = std::make_unique<CurrentThreadExecutor>();
    auto inner = std::make_unique<CurrentThreadExecutor>(outer.get());

    Semaphore allGone;
    std::atomic<int> submitError { -2 };
    std::atomic<int> postError { -2 };
    std::atomic<bool> called { false };
    std::atomic<bool> brokenSeen { false };
    Worker worker([&, h = inner->handle()] {
        if (!allGone.tryAcquire(1, kHandshakeMs))
            return;
        brokenSeen = h.isBroken();
        submitError = errorCodeOf([&] { (void)h.submit([&] { called = true; }); });
        postError = errorCodeOf([&] { h.post([&] { called = true; }); });
    });
    inner.reset();
    outer.reset();
    allGone.release();
    QVERIFY(worker.join());

    QVERIFY(brokenSeen.load());
    QCOMPARE(submitError.load(), kBroken);
    QCOMPARE(postError.load(), kBroken);
    QVERIFY(!called.load());
}

// The old executor may live on another thread: a handle to an executor whose thread has
// finished sends its work there.
void TestHandle::x7_handleOfFinishedThreadRoutesToOldExecutorOnOtherThread()
{
    CurrentThreadExecutor outer;
    ExecutorHandle h;
    std::atomic<bool> innerWasLive { false };
    {
        Worker worker([&] {
            CurrentThreadExecutor inner(&outer);
            h = inner.handle();
            innerWasLive = !h.isBroken();
        });
        QVERIFY(worker.join());
    }
    QVERIFY(innerWasLive.load());
    QVERIFY(h.isBroken());

    QThread *ranOn = nullptr;
    h.post([&] { ranOn = QThread::currentThread(); }); // from outer's own thread: post is allowed
    drain(outer);
    QCOMPARE(ranOn, outer.thread());

    // submit from another thread reaches outer as well.
    const QFuture<QThread *> future = submitFromWorker(outer, h);
    QVERIFY(future.isValid() && future.isFinished());
    QCOMPARE(future.result(), outer.thread());
}

void TestHandle::x7_defaultHandleIsBroken()
{
    const ExecutorHandle h;
    QVERIFY(h.isBroken());
    bool called = false;
    QCOMPARE(errorCodeOf([&] { (void)h.submit([&] { called = true; }); }), kBroken);
    QCOMPARE(errorCodeOf([&] { h.post([&] { called = true; }); }), kBroken);

    // And from another thread.
    std::atomic<int> error { -2 };
    Worker worker([&, h] { error = errorCodeOf([&] { (void)h.submit([] { return 1; }); }); });
    QVERIFY(worker.join());
    QCOMPARE(error.load(), kBroken);
    QVERIFY(!called);
}

void TestHandle::x7_handleOutlivesExecutorWithoutChain()
{
    ExecutorHandle h;
    {
        CurrentThreadExecutor ex;
        h = ex.handle();
    }
    QVERIFY(h.isBroken());
    auto guard = std::make_shared<int>(0);
    std::weak_ptr<int> watch = guard;
    std::atomic<int> error { -2 };
    Worker worker([&, h, g = std::move(guard)]() mutable {
        error = errorCodeOf([&] { (void)h.submit([g = std::move(g)] { return *g; }); });
    });
    QVERIFY(worker.join());
    QCOMPARE(error.load(), kBroken);
    QCOMPARE(errorCodeOf([&] { h.post([] {}); }), kBroken);
    QVERIFY(watch.expired()); // the rejected callable was destroyed, not kept
}

QTEST_GUILESS_MAIN(TestHandle)
#include "tst_handle.moc"

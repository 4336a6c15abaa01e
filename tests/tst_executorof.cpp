// Tests for qdispatch::executorOf(QThread *) (X9), the executor of any QThread, made from
// outside, and the handle members it needs (invoke, postLatest; X3, X2 through X7). Every test
// names the rule it guards. Threads are ordered with Semaphore hand-offs (never sleeps); every
// thread is joined with a time limit, through a semaphore that ThreadSanitizer can see.

#include <qdispatch/currentthreadexecutor.h>

#include "testsupport.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QEventLoop>
#include <QtCore/QFuture>
#include <QtCore/QPromise>
#include <QtCore/QRegularExpression>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

// Released by a finished() handler connected after executorOf()'s own: Qt calls handlers in the
// order they were connected, so once it is released the executor is broken and its items have
// failed, in a way ThreadSanitizer sees.
struct AfterFinished
{
    explicit AfterFinished(QThread *thread)
    {
        QObject::connect(thread, &QThread::finished, [this] { seen.release(); });
    }
    Semaphore seen;
};

} // namespace

class TestExecutorOf : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void x9_c3_threadNotStartedYetQueuesUntilItsLoopRuns();
    void x9_c3_defaultRunServesItems();
    void x9_c3_runningThreadServesItemsAndInvoke();
    void x9_c7_ownThreadKnownBeforeItsLoopRan();
    void x9_c10_c12_finishingThreadFailsQueuedItemsBroken();
    void x9_c12_neverStartedThreadDestroyedFailsItsItems();
    void x9_oneExecutorForSixteenThreadsAtOnce();
    void x9_x5_mainThreadHasTheMainThreadExecutor();
    void x9_c10_nullAndFinishedThreadsThrowBroken();
    void x9_c10_restartedThreadGetsANewExecutor();
    void x9_c10_adoptedThreadExecutorEndsWithTheThread();
    void x9_x3_invokeFromTheThreadServesItsExecutorOf();
};

// X9 with X3: a thread whose executor came from executorOf() blocks in invoke() towards another
// thread, which calls back into it through executorOf(): the waiting invoke() serves that
// executor too, so the call back runs instead of deadlocking the two threads.
void TestExecutorOf::x9_x3_invokeFromTheThreadServesItsExecutorOf()
{
    CurrentThreadExecutor mainExecutor; // this thread's
    const ExecutorHandle toMain = mainExecutor.handle();
    LoopThread thread;
    thread.start();
    const ExecutorHandle h = executorOf(&thread);
    StartedPromise<int> outcome;
    QThread *calledBackOn = nullptr;
    h.post([&] {
        const int value = toMain.invoke([&] {
            return executorOf(&thread).invoke([&] {
                calledBackOn = QThread::currentThread();
                return 42;
            });
        });
        outcome.addResult(value);
        outcome.finish();
    });
    QVERIFY(mainExecutor.runUntilFuture(outcome.future(), QDeadlineTimer(kJoinMs)));
    QCOMPARE(outcome.future().result(), 42);
    QCOMPARE(calledBackOn, &thread);
    QVERIFY(thread.stop());
}

// X9, C3: items sent before the thread exists wait, then run on it, in order, once its event
// loop runs.
void TestExecutorOf::x9_c3_threadNotStartedYetQueuesUntilItsLoopRuns()
{
    LoopThread thread;
    const ExecutorHandle h = executorOf(&thread);
    QVERIFY(!h.isBroken());
    std::vector<int> order; // items only
    std::vector<QThread *> where; // items only
    QThread *postedOn = nullptr;
    Semaphore ran;
    std::vector<QFuture<int>> futures;
    for (int i = 0; i < 3; ++i) {
        futures.push_back(h.submit([&, i] {
            order.push_back(i);
            where.push_back(QThread::currentThread());
            ran.release();
            return i;
        }));
    }
    h.post([&] {
        postedOn = QThread::currentThread();
        ran.release();
    });
    QCOMPARE(ran.available(), 0); // nothing can run: the thread does not exist yet

    thread.start();
    QVERIFY(ran.tryAcquire(4, kJoinMs));
    QVERIFY(thread.stop());
    QCOMPARE(order, (std::vector<int> { 0, 1, 2 }));
    const std::vector<QThread *> expectedWhere(3, &thread);
    QCOMPARE(where, expectedWhere);
    QCOMPARE(postedOn, &thread);
    for (int i = 0; i < 3; ++i)
        QCOMPARE(futures[size_t(i)].result(), i);
}

// X9: a QThread with the default run() (exec()) serves items.
void TestExecutorOf::x9_c3_defaultRunServesItems()
{
    QThread thread;
    thread.start();
    QThread *ranOn = nullptr;
    Semaphore ran;
    executorOf(&thread).post([&] {
        ranOn = QThread::currentThread();
        ran.release();
    });
    QVERIFY(ran.tryAcquire(1, kJoinMs));
    QCOMPARE(ranOn, &thread);
    thread.quit();
    QVERIFY(thread.wait(QDeadlineTimer(kJoinMs)));
}

// X9 with X3 and C7 through the handle: from another thread, invoke() submits and waits; on
// the thread itself it runs inline, and submit() throws OwnThread.
void TestExecutorOf::x9_c3_runningThreadServesItemsAndInvoke()
{
    LoopThread thread;
    thread.start();
    const ExecutorHandle h = executorOf(&thread);
    QCOMPARE(h.invoke([] { return QThread::currentThread(); }), &thread);
    QCOMPARE(h.invoke([](int a, int b) { return a * b; }, 6, 7), 42);
    QVERIFY_THROWS_EXCEPTION(std::runtime_error,
                             h.invoke([] { throw std::runtime_error("item failed"); }));

    const auto onItsThread = h.invoke([h] {
        // Inline: the same thread, not a queued item (which would deadlock this wait).
        QThread *inlineOn = h.invoke([] { return QThread::currentThread(); });
        const int submitError = errorCodeOf([h] { (void)h.submit([] {}); });
        return std::make_pair(inlineOn, submitError);
    });
    QCOMPARE(onItsThread.first, &thread);
    QCOMPARE(onItsThread.second, kOwnThread);

    const QFuture<QThread *> submitted = h.submit([] { return QThread::currentThread(); });
    std::vector<int> latest; // items only
    Semaphore last;
    int key = 0;
    h.invoke([&] {
        // From the owner thread, so these are still queued together: X2 replaces in place.
        for (int i = 0; i < 10; ++i)
            h.postLatest(&key, [&latest, i] { latest.push_back(i); });
        h.post([&last] { last.release(); });
    });
    QVERIFY(last.tryAcquire(1, kJoinMs));
    QVERIFY(thread.stop());
    QCOMPARE(submitted.result(), &thread);
    QCOMPARE(latest, (std::vector<int> { 9 }));
}

// X9, C7: before the thread has run anything of the executor's (its id not yet learnt there),
// code on that thread is still recognised as the owner: submit() throws OwnThread and invoke()
// runs inline.
void TestExecutorOf::x9_c7_ownThreadKnownBeforeItsLoopRan()
{
    Semaphore handed;
    Semaphore checked;
    ExecutorHandle shared;
    int submitError = -1;
    QThread *inlineOn = nullptr;
    std::unique_ptr<QThread> thread(QThread::create([&] {
        if (!handed.tryAcquire(1, kHandshakeMs))
            return;
        submitError = errorCodeOf([&] { (void)shared.submit([] {}); });
        if (submitError == kOwnThread) // else invoke() would wait for this very thread
            inlineOn = shared.invoke([] { return QThread::currentThread(); });
        checked.release();
    })); // no event loop: nothing of the executor's ever runs there
    thread->start();
    shared = executorOf(thread.get());
    handed.release();
    QVERIFY(checked.tryAcquire(1, kJoinMs));
    QVERIFY(thread->wait(QDeadlineTimer(kJoinMs)));
    QCOMPARE(submitError, kOwnThread);
    QCOMPARE(inlineOn, thread.get());
}

// X9, C10, C12: a thread that finishes with items queued (its run() never processes events)
// breaks its executor: each future finishes with Broken, a post is reported, nothing ran, and
// later work through the handle throws Broken (the executor has no chain to move them to).
void TestExecutorOf::x9_c10_c12_finishingThreadFailsQueuedItemsBroken()
{
    Semaphore go;
    std::unique_ptr<QThread> thread(QThread::create([&] { (void)go.tryAcquire(1, kJoinMs); }));
    thread->start();
    const ExecutorHandle h = executorOf(thread.get());
    AfterFinished after(thread.get());
    std::atomic<int> calls { 0 };
    std::vector<QFuture<int>> futures;
    for (int i = 0; i < 3; ++i)
        futures.push_back(h.submit([&calls] { return ++calls; }));
    const QFuture<void> voidFuture = h.submit([&calls] { ++calls; });
    h.post([&calls] { ++calls; });
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("will never run")));

    go.release();
    QVERIFY(after.seen.tryAcquire(1, kJoinMs));
    QVERIFY(thread->wait(QDeadlineTimer(kJoinMs)));
    QCOMPARE(calls.load(), 0);
    for (const QFuture<int> &f : futures) {
        QVERIFY(f.isFinished());
        QCOMPARE(errorCodeOf(f), kBroken);
    }
    QCOMPARE(errorCodeOf(voidFuture), kBroken);
    QVERIFY(h.isBroken());
    QCOMPARE(errorCodeOf([h] { (void)h.submit([] {}); }), kBroken);
    QCOMPARE(errorCodeOf([h] { h.post([] {}); }), kBroken);
    QCOMPARE(errorCodeOf([&] { (void)executorOf(thread.get()); }), kBroken);
}

// X9, C12: a QThread destroyed without ever starting fails what its executor held; a QThread
// made afterwards (perhaps at the same address) gets an executor of its own.
void TestExecutorOf::x9_c12_neverStartedThreadDestroyedFailsItsItems()
{
    auto *thread = new QThread;
    const ExecutorHandle h = executorOf(thread);
    int calls = 0;
    const QFuture<int> future = h.submit([&calls] { return ++calls; });
    delete thread;
    QVERIFY(future.isFinished());
    QCOMPARE(errorCodeOf(future), kBroken);
    QCOMPARE(calls, 0);
    QVERIFY(h.isBroken());

    QThread next;
    const ExecutorHandle nextHandle = executorOf(&next);
    QVERIFY(nextHandle != h);
    QVERIFY(!nextHandle.isBroken());
}

// X9: sixteen threads (QThreads and plain std::threads) ask for the same thread's executor at
// once and all get the same one: the handles compare equal, and postLatest() through all of
// them replaces one queued item (sixteen executors would each run their own).
void TestExecutorOf::x9_oneExecutorForSixteenThreadsAtOnce()
{
    constexpr int kThreads = 16;
    LoopThread thread; // not started: whatever is posted stays queued
    std::vector<ExecutorHandle> handles(kThreads);
    std::atomic<int> failures { 0 };
    std::atomic<int> runs { 0 };
    int key = 0;
    Semaphore go;
    {
        std::vector<std::unique_ptr<AnyThread>> askers;
        for (int i = 0; i < kThreads; ++i) {
            askers.push_back(std::make_unique<AnyThread>(i % 2 == 0, [&, i] {
                if (!go.tryAcquire(1, kHandshakeMs)) {
                    ++failures;
                    return;
                }
                handles[size_t(i)] = executorOf(&thread);
                handles[size_t(i)].postLatest(&key, [&runs] { ++runs; });
            }));
        }
        go.release(kThreads);
        for (auto &asker : askers)
            QVERIFY(asker->join());
    }
    QCOMPARE(failures.load(), 0);
    for (const ExecutorHandle &h : handles)
        QVERIFY(h == handles[0]);
    QVERIFY(executorOf(&thread) == handles[0]);

    Semaphore done;
    handles[0].post([&done] { done.release(); });
    thread.start();
    QVERIFY(done.tryAcquire(1, kJoinMs));
    QVERIFY(thread.stop());
    QCOMPARE(runs.load(), 1);
}

// X9 with X5: the main thread's executor is the main-thread executor, whoever asks.
void TestExecutorOf::x9_x5_mainThreadHasTheMainThreadExecutor()
{
    CurrentThreadExecutor *main = qdispatch::mainThreadExecutor();
    QVERIFY(main);
    QVERIFY(executorOf(QCoreApplication::instance()->thread()) == main->handle());
    QVERIFY(executorOf(QThread::currentThread()) == main->handle());

    bool sameFromWorker = false;
    QFuture<QThread *> where;
    Worker worker([&] {
        const ExecutorHandle h = executorOf(QCoreApplication::instance()->thread());
        sameFromWorker = h == main->handle();
        where = h.submit([] { return QThread::currentThread(); });
    });
    QVERIFY(worker.serveAndJoin(*main));
    QVERIFY(sameFromWorker);
    QVERIFY(main->runUntilFuture(where, QDeadlineTimer(kJoinMs)));
    QCOMPARE(where.result(), QCoreApplication::instance()->thread());
}

// X9, C10: nullptr and a finished thread have no executor to give: Broken. A thread that has
// not started yet has one.
void TestExecutorOf::x9_c10_nullAndFinishedThreadsThrowBroken()
{
    QCOMPARE(errorCodeOf([] { (void)executorOf(nullptr); }), kBroken);

    LoopThread finished;
    finished.start();
    QVERIFY(finished.stop());
    QCOMPARE(errorCodeOf([&] { (void)executorOf(&finished); }), kBroken);

    QThread notStarted;
    QCOMPARE(errorCodeOf([&] { (void)executorOf(&notStarted); }), kNothingThrown);
}

// X9, C10: an executor ends with its thread's run; a QThread started again gets a new one.
void TestExecutorOf::x9_c10_restartedThreadGetsANewExecutor()
{
    LoopThread thread;
    thread.start();
    const ExecutorHandle first = executorOf(&thread);
    QCOMPARE(first.invoke([] { return QThread::currentThread(); }), &thread);
    QVERIFY(thread.stop());
    QVERIFY(first.isBroken());
    QCOMPARE(errorCodeOf([&] { (void)executorOf(&thread); }), kBroken);

    thread.start();
    const ExecutorHandle second = executorOf(&thread);
    QVERIFY(second != first);
    QVERIFY(!second.isBroken());
    QCOMPARE(second.invoke([] { return QThread::currentThread(); }), &thread);
    QVERIFY(thread.stop());
    QVERIFY(second.isBroken());
}

// X9 and C10 on a plain std::thread, which Qt adopts: its executor serves items while the
// thread processes events, breaks when the thread ends, and is freed then (the asan preset's
// leak check fails this test when the executor outlives its thread).
void TestExecutorOf::x9_c10_adoptedThreadExecutorEndsWithTheThread()
{
    Semaphore haveHandle;
    Semaphore itemQueued;
    ExecutorHandle handle;
    QFuture<QThread *> ran;
    std::atomic<QThread *> adopted { nullptr };
    std::atomic<bool> served { false };
    std::thread thread([&] {
        adopted = QThread::currentThread();
        handle = executorOf(QThread::currentThread());
        haveHandle.release();
        if (!itemQueued.tryAcquire(1, kHandshakeMs))
            return;
        QEventLoop loop; // gives the thread its event dispatcher
        const QDeadlineTimer deadline(kHandshakeMs);
        while (!ran.isFinished() && !deadline.hasExpired())
            loop.processEvents(QEventLoop::WaitForMoreEvents);
        served = ran.isFinished();
    });
    QVERIFY(haveHandle.tryAcquire(1, kHandshakeMs));
    ran = handle.submit([] { return QThread::currentThread(); });
    itemQueued.release();
    thread.join();
    QVERIFY(served.load());
    QCOMPARE(ran.result(), adopted.load());
    QVERIFY(handle.isBroken()); // C10: its thread has finished
    QCOMPARE(errorCodeOf([&] { (void)handle.submit([] {}); }), kBroken);
}

QTEST_GUILESS_MAIN(TestExecutorOf)
#include "tst_executorof.moc"

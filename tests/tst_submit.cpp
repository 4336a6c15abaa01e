// Tests for CurrentThreadExecutor::submit: where and when its items run. C1 (the owner thread:
// the GUI thread, a QThread, a plain std::thread), C3 (every item runs exactly once, one at a
// time, in any event loop of the owner) and C4 (order). What submit takes and gives back (C2,
// C5's results) is in tst_submitvalues.cpp, its errors (C5's exceptions, C6, C7) in
// tst_submiterrors.cpp. Threads are ordered with Semaphore handshakes (never sleeps); every
// thread is joined with a timeout.

#include <qdispatch/currentthreadexecutor.h>

#include "testsupport.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QEventLoop>
#include <QtCore/QFuture>
#include <QtCore/QPromise>
#include <QtCore/QScopeGuard>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtTest/QTest>

#include <atomic>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

// What the items of one producer saw: how many ran, and how many of them ran on another thread
// than their executor's.
struct Tally
{
    std::atomic<int> ran { 0 };
    std::atomic<int> wrongThread { 0 };
    std::vector<QFuture<void>> futures; // the producer's, read once it was joined
};

// A worker that submits n items to `ex`, each recording itself in `tally`; the last one to run
// calls `last`.
std::unique_ptr<Worker> produce(CurrentThreadExecutor &ex, int n, Tally &tally,
                                std::function<void()> last = {})
{
    return std::make_unique<Worker>([&ex, n, &tally, last] {
        for (int i = 0; i < n; ++i) {
            tally.futures.push_back(ex.submit([&ex, n, &tally, last] {
                if (QThread::currentThread() != ex.thread())
                    ++tally.wrongThread;
                if (++tally.ran == n && last)
                    last();
            }));
        }
    });
}

// All n items ran, once each, on their executor's thread, and their futures finished.
void checkTally(const Tally &tally, int n)
{
    QCOMPARE(tally.ran.load(), n);
    QCOMPARE(tally.wrongThread.load(), 0);
    QCOMPARE(int(tally.futures.size()), n);
    for (const auto &f : tally.futures)
        QVERIFY(f.isFinished());
}

} // namespace

class TestSubmit : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void c1_guiThreadOwner();
    void c1_qthreadOwner();
    void c1_plainStdThreadOwner();
    void c3_ownerThreadExactlyOnceOneAtATime_data();
    void c3_ownerThreadExactlyOnceOneAtATime();
    void c3_runsInPlainQEventLoop();
    void c3_runsInProcessEvents();

    void c4_singleProducerOrder();
    void c4_fourProducersEachInOrder();
};

void TestSubmit::c1_guiThreadOwner()
{
    CurrentThreadExecutor ex;
    QThread *const gui = QCoreApplication::instance()->thread();
    QVERIFY(QThread::currentThread() == gui);
    QVERIFY(ex.thread() == gui);

    // thread() seen from another thread is the same, and items run there.
    auto [seenElsewhere, fut] = onWorker([&] {
        QThread *seen = ex.thread();
        return std::make_pair(seen, ex.submit([] { return QThread::currentThread(); }));
    });
    QVERIFY(seenElsewhere == gui);
    QVERIFY(ex.runUntilFuture(fut, joinDeadline()));
    QVERIFY(fut.result() == gui);
    QVERIFY(ex.thread() == gui); // never changes
}

void TestSubmit::c1_qthreadOwner()
{
    LoopThread owner(WithExecutor {}); // C3: its items run in QThread::exec()
    CurrentThreadExecutor *ex = owner.startAndWait();
    QVERIFY(ex);
    QVERIFY(ex->thread() == static_cast<QThread *>(&owner));

    Semaphore ran;
    std::atomic<QThread *> itemThread { nullptr };
    std::atomic<QThread *> reported { nullptr }; // thread() seen on the owner thread itself
    QFuture<void> fut = ex->submit([&] {
        itemThread = QThread::currentThread();
        reported = ex->thread();
        ran.release();
    });
    QVERIFY(ran.tryAcquire(1, kHandshakeMs));
    QVERIFY(itemThread.load() == static_cast<QThread *>(&owner));
    QVERIFY(reported.load() == static_cast<QThread *>(&owner));
    QVERIFY(ex->thread() == static_cast<QThread *>(&owner)); // never changes
    QVERIFY(owner.stop());
    QVERIFY(fut.isFinished());
}

void TestSubmit::c1_plainStdThreadOwner()
{
    Semaphore ready;
    StartedPromise<void> stopPromise;
    const QFuture<void> stopFuture = stopPromise.future();
    CurrentThreadExecutor *ex = nullptr;
    QThread *ownerThread = nullptr;
    QThread *reported = nullptr;
    bool waitOk = false;
    bool waitThrew = false;
    // Released just before stopPromise.finish(); the owner takes it before it destroys the
    // executor. The QPromise orders the same thing, but inside Qt where ThreadSanitizer cannot
    // see it, so this thread's last use of `ex` would look raced with the destruction.
    Semaphore stopping;

    AnyThread owner(false, [&] {
        CurrentThreadExecutor local;
        ownerThread = QThread::currentThread();
        reported = local.thread();
        ex = &local;
        ready.release();
        try {
            local.runUntilFuture(stopFuture, RunMode::ExecutorOnly);
            waitOk = true;
        } catch (...) {
            waitThrew = true;
        }
        stopping.tryAcquire(1, kHandshakeMs);
    });
    auto stop = qScopeGuard([&] {
        stopping.release();
        stopPromise.finish();
        (void)owner.join();
    });

    QVERIFY(ready.tryAcquire(1, kHandshakeMs));
    QVERIFY(ownerThread != QThread::currentThread());
    QVERIFY(reported == ownerThread);
    QVERIFY(ex->thread() == ownerThread);

    Semaphore ran;
    QThread *itemThread = nullptr;
    QFuture<int> fut = ex->submit([&] {
        itemThread = QThread::currentThread();
        ran.release();
        return 7;
    });
    QVERIFY(ran.tryAcquire(1, kHandshakeMs));
    QVERIFY(itemThread == ownerThread);
    QVERIFY(ex->thread() == ownerThread); // never changes

    stop.dismiss();
    stopping.release();
    stopPromise.finish();
    QVERIFY(owner.join());
    QVERIFY(!waitThrew);
    QVERIFY(waitOk);
    QVERIFY(fut.isFinished());
    QCOMPARE(fut.result(), 7);
}

void TestSubmit::c3_ownerThreadExactlyOnceOneAtATime_data()
{
    addModeRows();
}

void TestSubmit::c3_ownerThreadExactlyOnceOneAtATime()
{
    QFETCH(RunMode, mode);
    constexpr int kProducers = 4, kPerProducer = 1000, kTotal = kProducers * kPerProducer;

    CurrentThreadExecutor ex;
    auto runs = std::make_unique<std::atomic<int>[]>(kTotal);
    for (int i = 0; i < kTotal; ++i)
        runs[i] = 0;
    std::atomic<int> inside { 0 };
    std::atomic<int> maxInside { 0 };
    std::atomic<int> wrongThread { 0 };
    std::atomic<int> ran { 0 };
    StartedPromise<void> allRan;
    std::vector<QFuture<int>> futures[kProducers];

    std::vector<std::unique_ptr<Worker>> producers;
    for (int p = 0; p < kProducers; ++p) {
        producers.push_back(std::make_unique<Worker>([&, p] {
            for (int i = 0; i < kPerProducer; ++i) {
                const int id = p * kPerProducer + i;
                futures[p].push_back(ex.submit([&, id] {
                    const int now = ++inside;
                    int seen = maxInside.load();
                    while (now > seen && !maxInside.compare_exchange_weak(seen, now)) { }
                    if (QThread::currentThread() != ex.thread())
                        ++wrongThread;
                    ++runs[id];
                    --inside;
                    if (++ran == kTotal)
                        allRan.finish();
                    return id;
                }));
            }
        }));
    }
    const bool done = ex.runUntilFuture(allRan.future(), joinDeadline(), mode);
    producers.clear(); // joins
    QVERIFY(done);
    QCOMPARE(ran.load(), kTotal);

    // A later drain must not run anything a second time.
    QFuture<void> marker = onWorker([&] { return ex.submit([] {}); });
    QVERIFY(ex.runUntilFuture(marker, joinDeadline(), mode));

    QCOMPARE(wrongThread.load(), 0);
    QCOMPARE(maxInside.load(), 1);
    QCOMPARE(ran.load(), kTotal);
    for (int i = 0; i < kTotal; ++i) {
        if (runs[i] != 1)
            QFAIL(qPrintable(QStringLiteral("item %1 ran %2 times").arg(i).arg(runs[i].load())));
    }
    for (int p = 0; p < kProducers; ++p) {
        QCOMPARE(int(futures[p].size()), kPerProducer);
        for (int i = 0; i < kPerProducer; ++i) {
            QVERIFY(futures[p][i].isFinished());
            QCOMPARE(futures[p][i].result(), p * kPerProducer + i);
        }
    }
}

void TestSubmit::c3_runsInPlainQEventLoop()
{
    constexpr int kItems = 500;
    CurrentThreadExecutor ex;
    SafeEventLoop loop;
    Tally tally;
    const auto producer = produce(ex, kItems, tally, [&loop] { loop.quit(); });
    loop.exec();
    QVERIFY(producer->join());
    QVERIFY(!loop.timedOut());
    checkTally(tally, kItems);
}

void TestSubmit::c3_runsInProcessEvents()
{
    constexpr int kItems = 500;
    CurrentThreadExecutor ex;
    QTimer tick; // wakes processEvents(WaitForMoreEvents) so the deadline is looked at
    tick.start(50);
    Tally tally;
    const auto producer = produce(ex, kItems, tally);
    const QDeadlineTimer deadline = joinDeadline();
    while (tally.ran < kItems && !deadline.hasExpired())
        QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents);
    QVERIFY(producer->join());
    checkTally(tally, kItems);
}

void TestSubmit::c4_singleProducerOrder()
{
    constexpr int kItems = 10000;
    CurrentThreadExecutor ex;
    std::vector<int> order; // owner thread only
    order.reserve(kItems);
    StartedPromise<void> allRan;

    Worker producer([&] {
        for (int i = 0; i < kItems; ++i) {
            ex.submit([&, i] {
                order.push_back(i);
                if (int(order.size()) == kItems)
                    allRan.finish();
            });
        }
    });
    const bool done = ex.runUntilFuture(allRan.future(), joinDeadline());
    QVERIFY(producer.join());
    QVERIFY(done);
    VERIFY_NO_PROBLEM(sequenceProblem(order, kItems));
}

void TestSubmit::c4_fourProducersEachInOrder()
{
    constexpr int kProducers = 4, kPerProducer = 2500, kTotal = kProducers * kPerProducer;
    CurrentThreadExecutor ex;
    std::vector<std::pair<int, int>> order; // owner thread only
    order.reserve(kTotal);
    StartedPromise<void> allRan;
    Semaphore go;
    std::atomic<int> startFailures { 0 };

    std::vector<std::unique_ptr<Worker>> producers;
    for (int p = 0; p < kProducers; ++p) {
        producers.push_back(std::make_unique<Worker>([&, p] {
            if (!go.tryAcquire(1, kHandshakeMs))
                ++startFailures;
            for (int i = 0; i < kPerProducer; ++i) {
                ex.submit([&, p, i] {
                    order.emplace_back(p, i);
                    if (int(order.size()) == kTotal)
                        allRan.finish();
                });
            }
        }));
    }
    go.release(kProducers); // all start together
    const bool done = ex.runUntilFuture(allRan.future(), joinDeadline());
    producers.clear(); // joins
    QVERIFY(done);
    QCOMPARE(startFailures.load(), 0);
    QCOMPARE(int(order.size()), kTotal);
    int next[kProducers] = {};
    for (const auto &[p, i] : order) {
        if (i != next[p])
            QFAIL(qPrintable(QStringLiteral("producer %1: item %2 ran where %3 was due")
                                 .arg(p)
                                 .arg(i)
                                 .arg(next[p])));
        ++next[p];
    }
    for (int p = 0; p < kProducers; ++p)
        QCOMPARE(next[p], kPerProducer);
}

QTEST_GUILESS_MAIN(TestSubmit)
#include "tst_submit.moc"

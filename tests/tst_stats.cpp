// X10's books: stats(), pendingCount() and runPending(). Every accepted item is in exactly one
// state (pending, run, cancelled, handed off, failed); a snapshot shows one moment, read from any
// thread and through a handle; the totals never go down; peakPending sees every backlog, one
// taken at a break included; runPending() runs what was queued when it was called, on the owner
// thread only. The slow-item and hang reports are in tst_diagnostics.cpp. Threads are ordered
// with Semaphore hand-offs, never sleeps.
#include <qdispatch/currentthreadexecutor.h>

#include "testsupport.h"

#include <QtTest/QtTest>

#include <atomic>
#include <memory>
#include <vector>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

quint64 done(const ExecutorStats &s)
{
    return s.run + s.cancelled + s.handedOff + s.failed;
}

// The identity of the books, exact while no item runs.
void checkIdle(const CurrentThreadExecutor &ex, quint64 accepted)
{
    const quint64 pending = ex.pendingCount();
    const ExecutorStats s = ex.stats();
    QCOMPARE(s.accepted, accepted);
    QCOMPARE(s.accepted, done(s) + pending);
}

// A stats() read's totals and peak, in one list to compare: accepted, run, cancelled, handed off,
// failed, peakPending.
QList<quint64> books(const ExecutorStats &s)
{
    return { s.accepted, s.run, s.cancelled, s.handedOff, s.failed, s.peakPending };
}

} // namespace

class TestStats : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void x10_x8_skippedPostLatestCountsAsCancelled();
    void x10_x2_replacedPostLatestCountsAsCancelled();
    void x10_peakPendingSeesBacklogTakenAtBreak_data();
    void x10_peakPendingSeesBacklogTakenAtBreak();
    void x10_snapshotsFromOtherThreadsAreMoments();
    void x10_countsSubmittedCancelledAndRun();
    void x10_countsHandOffOnBreak();
    void x10_handleSeesTheExecutorsBooks();
    void x10_countsFailedWithNoLiveExecutor();
    void x10_runPendingFromWrongThreadThrows();
    void x10_runPendingInsideItemRunsOnlyEarlierItems();
};

// A context item skipped because its context is gone counts as cancelled, whether it came
// through post() or postLatest() (X8, X2).
void TestStats::x10_x8_skippedPostLatestCountsAsCancelled()
{
    CurrentThreadExecutor ex;
    auto context = std::make_unique<QObject>();
    int called = 0;
    int key = 0;
    ex.post(context.get(), [&] { ++called; });
    ex.postLatest(context.get(), &key, [&] { ++called; });
    context.reset();
    ex.runPending();

    QCOMPARE(called, 0);
    const ExecutorStats s = ex.stats();
    QCOMPARE(s.run, quint64(0));
    QCOMPARE(s.cancelled, quint64(2));
    checkIdle(ex, 2);
}

// A postLatest() whose callable replaced a queued one: the replaced callable was accepted and
// never runs, so it counts as cancelled; the slot is pending until it runs the newest callable.
void TestStats::x10_x2_replacedPostLatestCountsAsCancelled()
{
    CurrentThreadExecutor ex;
    int key = 0;
    std::vector<int> ran;
    for (int i = 1; i <= 3; ++i)
        ex.postLatest(&key, [&ran, i] { ran.push_back(i); });

    ExecutorStats s = ex.stats();
    QCOMPARE(s.cancelled, quint64(2));
    QCOMPARE(ex.pendingCount(), quint64(1));
    checkIdle(ex, 3);

    ex.runPending();
    QCOMPARE(ran, std::vector<int> { 3 });
    s = ex.stats();
    QCOMPARE(s.run, quint64(1));
    QCOMPARE(s.cancelled, quint64(2));
    checkIdle(ex, 3);
}

void TestStats::x10_peakPendingSeesBacklogTakenAtBreak_data()
{
    addRows<bool>("withChain", { { "failed", false }, { "handed off", true } });
}

// Items queued and never looked at, then taken by shutdown(): peakPending counts them.
void TestStats::x10_peakPendingSeesBacklogTakenAtBreak()
{
    QFETCH(bool, withChain);
    CurrentThreadExecutor outer;
    CurrentThreadExecutor ex(withChain ? &outer : nullptr);
    int ran = 0;
    for (int i = 0; i < 5; ++i) {
        if (!withChain)
            QTest::ignoreMessage(
                QtWarningMsg, QRegularExpression(QStringLiteral("a posted item will never run")));
        ex.post([&] { ++ran; });
    }
    ex.shutdown();

    const ExecutorStats s = ex.stats();
    QCOMPARE(s.peakPending, quint64(5));
    QCOMPARE(s.accepted, quint64(5));
    QCOMPARE(withChain ? s.handedOff : s.failed, quint64(5));
    QCOMPARE(ex.pendingCount(), quint64(0));
    outer.runPending();
    QCOMPARE(ran, withChain ? 5 : 0);
}

// One thread floods the executor with items, some of which skip (cancelled futures, contexts
// gone); another reads stats() and pendingCount() as fast as it can. Every snapshot must be one
// moment's: no total goes down, a snapshot never counts more done than accepted, and a
// pendingCount() never exceeds what a later stats() accepted minus what an earlier one had
// already counted as done. At the end, idle, the identity is exact.
void TestStats::x10_snapshotsFromOtherThreadsAreMoments()
{
#ifdef QDISPATCH_TEST_SANITIZER_ALLOCATOR
    constexpr int kItems = 100000;
#else
    constexpr int kItems = 1000000;
#endif
    CurrentThreadExecutor ex;
    std::atomic<bool> producing { true };
    std::atomic<int> violations { 0 };
    std::atomic<int> snapshots { 0 };
    QString firstViolation;

    Worker producer([&] {
        for (int i = 0; i < kItems; ++i) {
            switch (i % 8) {
            case 0: // C6: cancelled, usually before it starts
                ex.submit([] {}).cancel();
                break;
            case 1: { // X8: its context destroyed, usually before it starts
                auto context = std::make_unique<QObject>();
                ex.post(context.get(), [] {});
                break;
            }
            default:
                ex.post([] {});
            }
        }
        producing = false;
    });
    Worker reader([&] {
        ExecutorStats previous;
        const auto fail = [&](const QString &what) {
            if (violations.fetch_add(1) == 0)
                firstViolation = what;
        };
        while (producing.load() || snapshots.load() < 10) {
            const ExecutorStats before = ex.stats();
            const quint64 pending = ex.pendingCount();
            const ExecutorStats after = ex.stats();
            for (const ExecutorStats *s : { &before, &after }) {
                if (s->accepted < previous.accepted || s->run < previous.run ||
                    s->cancelled < previous.cancelled || s->handedOff < previous.handedOff ||
                    s->failed < previous.failed)
                    fail(QStringLiteral("a total went down: accepted %1 -> %2, run %3 -> %4, "
                                        "cancelled %5 -> %6")
                             .arg(previous.accepted)
                             .arg(s->accepted)
                             .arg(previous.run)
                             .arg(s->run)
                             .arg(previous.cancelled)
                             .arg(s->cancelled));
                if (done(*s) > s->accepted)
                    fail(QStringLiteral("more done (%1) than accepted (%2)")
                             .arg(done(*s))
                             .arg(s->accepted));
                previous = *s;
            }
            if (pending > after.accepted - done(before))
                fail(QStringLiteral("pendingCount() %1 > later accepted %2 - earlier done %3")
                         .arg(pending)
                         .arg(after.accepted)
                         .arg(done(before)));
            ++snapshots;
        }
    });
    ex.runUntilFuture(producer.finished());
    ex.runUntilFuture(reader.finished());
    QVERIFY(producer.join());
    QVERIFY(reader.join());
    ex.runPending();

    QVERIFY2(violations.load() == 0, qPrintable(firstViolation));
    QVERIFY(snapshots.load() >= 10);
    checkIdle(ex, kItems);
}

// X10 with C6: N submitted, K of them cancelled before they start; pendingCount() and the
// peak follow the queue.
void TestStats::x10_countsSubmittedCancelledAndRun()
{
    constexpr int kItems = 10;
    CurrentThreadExecutor ex;
    std::vector<QFuture<int>> futures;
    int ran = 0;
    Worker worker([&] {
        for (int i = 0; i < kItems; ++i)
            futures.push_back(ex.submit([&ran, i] {
                ++ran;
                return i;
            }));
    });
    QVERIFY(worker.join());
    QCOMPARE(ex.pendingCount(), quint64(kItems));
    for (int i : { 1, 4, 7 })
        futures[size_t(i)].cancel();

    ex.runPending();
    QCOMPARE(ran, kItems - 3);
    QCOMPARE(ex.pendingCount(), quint64(0));
    QCOMPARE(books(ex.stats()), (QList<quint64> { kItems, kItems - 3, 3, 0, 0, kItems }));

    // A second burst: the peak stays the highest ever, the counts add up.
    Worker more([&] {
        ex.post([] {});
        ex.post([] {});
    });
    QVERIFY(more.join());
    QCOMPARE(ex.pendingCount(), quint64(2));
    ex.runPending();
    const ExecutorStats t = ex.stats();
    QCOMPARE(t.accepted, quint64(kItems + 2));
    QCOMPARE(t.run, quint64(kItems - 3 + 2));
    QCOMPARE(t.peakPending, quint64(kItems));
    QCOMPARE(t.accepted, t.run + t.cancelled + t.handedOff + t.failed + ex.pendingCount());
}

// X10 with C12: a break hands the queue down the chain; the breaking executor counts it as
// handed off, the receiving one as accepted, and runs it.
void TestStats::x10_countsHandOffOnBreak()
{
    CurrentThreadExecutor outer;
    CurrentThreadExecutor inner(&outer);
    Worker worker([&] {
        for (int i = 0; i < 4; ++i)
            inner.post([] {});
        (void)inner.submit([] { return 1; });
    });
    QVERIFY(worker.join());
    QCOMPARE(inner.pendingCount(), quint64(5));
    inner.shutdown();

    QCOMPARE(books(inner.stats()), (QList<quint64> { 5, 0, 0, 5, 0, 5 }));
    QCOMPARE(inner.pendingCount(), quint64(0));
    QCOMPARE(outer.pendingCount(), quint64(5));
    outer.runPending();
    QCOMPARE(books(outer.stats()), (QList<quint64> { 5, 5, 0, 0, 0, 5 }));
}

// X10 with X7: a handle reads the same books from any thread, counting both the items the owner
// has taken but not reached yet and those that arrived since; once the executor is gone, its
// books stay readable. A default handle has none.
void TestStats::x10_handleSeesTheExecutorsBooks()
{
    QCOMPARE(ExecutorHandle().pendingCount(), quint64(0));
    QCOMPARE(ExecutorHandle().stats().accepted, quint64(0));

    ExecutorHandle handle;
    {
        CurrentThreadExecutor ex;
        handle = ex.handle();
        quint64 seenInside = 0;
        Worker first([&] {
            ex.post([&] {
                // Running the first of 5: 4 taken and waiting, then 2 more arrive.
                Worker more([&] {
                    ex.post([] {});
                    ex.post([] {});
                    seenInside = handle.pendingCount();
                });
                QVERIFY(more.join());
            });
            for (int i = 0; i < 4; ++i)
                ex.post([] {});
        });
        QVERIFY(first.join());
        quint64 seenBefore = 0;
        Worker reader([&] { seenBefore = handle.pendingCount(); });
        QVERIFY(reader.join());
        QCOMPARE(seenBefore, quint64(5));

        ex.runPending(); // the 5 queued at the call; the 2 that came later stay queued (C8)
        QCOMPARE(seenInside, quint64(6));
        QCOMPARE(handle.pendingCount(), quint64(2));
        ex.runPending();
        QCOMPARE(handle.pendingCount(), quint64(0));
        const ExecutorStats viaHandle = handle.stats();
        const ExecutorStats own = ex.stats();
        QCOMPARE(viaHandle.accepted, quint64(7));
        QCOMPARE(viaHandle.run, quint64(7));
        QCOMPARE(viaHandle.peakPending, quint64(6));
        QCOMPARE(viaHandle.accepted, own.accepted);
        QCOMPARE(viaHandle.run, own.run);
        QCOMPARE(viaHandle.peakPending, own.peakPending);
    }
    QVERIFY(handle.isBroken());
    QCOMPARE(handle.pendingCount(), quint64(0));
    QCOMPARE(handle.stats().run, quint64(7));
}

// X10 with C12: with no live executor down the chain, every queued item fails with Broken and
// is counted as failed.
void TestStats::x10_countsFailedWithNoLiveExecutor()
{
    auto ex = std::make_unique<CurrentThreadExecutor>();
    QFuture<int> a;
    QFuture<int> b;
    Worker worker([&] {
        a = ex->submit([] { return 1; });
        b = ex->submit([] { return 2; });
        ex->post([] {});
    });
    QVERIFY(worker.join());
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("will never run")));
    ex->shutdown();
    const ExecutorStats s = ex->stats();
    QCOMPARE(s.accepted, quint64(3));
    QCOMPARE(s.failed, quint64(3));
    QCOMPARE(s.run, quint64(0));
    QCOMPARE(s.handedOff, quint64(0));
    QCOMPARE(ex->pendingCount(), quint64(0));
    QCOMPARE(errorCodeOf(a), kBroken);
    QVERIFY(b.isFinished());
}

// X10 with C8: runPending() belongs to the owner thread; elsewhere WrongThread, nothing run.
void TestStats::x10_runPendingFromWrongThreadThrows()
{
    CurrentThreadExecutor ex;
    ex.post([] {});
    int code = kNothingThrown;
    Worker worker([&] { code = errorCodeOf([&] { ex.runPending(); }); });
    QVERIFY(worker.join());
    QCOMPARE(code, kWrongThread);
    QCOMPARE(ex.pendingCount(), quint64(1));
    ex.runPending();
    QCOMPARE(ex.pendingCount(), quint64(0));
}

// X10 with C8: from inside item A, runPending() runs B and C, queued before the call, and not
// D, queued while it runs; the outer drain stops there too.
void TestStats::x10_runPendingInsideItemRunsOnlyEarlierItems()
{
    CurrentThreadExecutor ex;
    QStringList order;
    Semaphore queued;
    Semaphore bRunning;
    Semaphore dQueued;
    bool dWasPending = false;
    Worker worker([&] {
        ex.post([&] {
            order << QStringLiteral("A");
            ex.runPending();
            dWasPending = ex.pendingCount() == 1;
            order << QStringLiteral("A end");
        });
        ex.post([&] {
            order << QStringLiteral("B");
            bRunning.release();
            QVERIFY(dQueued.tryAcquire(1, kHandshakeMs));
        });
        ex.post([&] { order << QStringLiteral("C"); });
        queued.release();
        QVERIFY(bRunning.tryAcquire(1, kHandshakeMs));
        ex.post([&] { order << QStringLiteral("D"); });
        dQueued.release();
    });
    QVERIFY(queued.tryAcquire(1, kHandshakeMs));
    ex.runPending();
    QVERIFY(worker.join());
    QCOMPARE(order,
             QStringList({ QStringLiteral("A"), QStringLiteral("B"), QStringLiteral("C"),
                           QStringLiteral("A end") }));
    QVERIFY(dWasPending);
    QCOMPARE(ex.pendingCount(), quint64(1));
    ex.runPending();
    QCOMPARE(order.last(), QStringLiteral("D"));
}

QTEST_GUILESS_MAIN(TestStats)
#include "tst_stats.moc"

// X10's books: stats() and pendingCount(). Every accepted item is in exactly one state (pending,
// run, cancelled, handed off, failed); a snapshot shows one moment, read from any thread; the
// totals never go down; peakPending sees every backlog, one taken at a break included.
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
    QCOMPARE(ran, std::vector<int>{ 3 });
    s = ex.stats();
    QCOMPARE(s.run, quint64(1));
    QCOMPARE(s.cancelled, quint64(2));
    checkIdle(ex, 3);
}

void TestStats::x10_peakPendingSeesBacklogTakenAtBreak_data()
{
    QTest::addColumn<bool>("withChain");
    QTest::newRow("failed") << false;
    QTest::newRow("handed off") << true;
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
            QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("a posted item will never run")));
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
    std::atomic<bool> producing{true};
    std::atomic<int> violations{0};
    std::atomic<int> snapshots{0};
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
                if (s->accepted < previous.accepted || s->run < previous.run
                    || s->cancelled < previous.cancelled || s->handedOff < previous.handedOff
                    || s->failed < previous.failed)
                    fail(QStringLiteral("a total went down: accepted %1 -> %2, run %3 -> %4, "
                                        "cancelled %5 -> %6")
                                 .arg(previous.accepted).arg(s->accepted)
                                 .arg(previous.run).arg(s->run)
                                 .arg(previous.cancelled).arg(s->cancelled));
                if (done(*s) > s->accepted)
                    fail(QStringLiteral("more done (%1) than accepted (%2)")
                                 .arg(done(*s)).arg(s->accepted));
                previous = *s;
            }
            if (pending > after.accepted - done(before))
                fail(QStringLiteral("pendingCount() %1 > later accepted %2 - earlier done %3")
                             .arg(pending).arg(after.accepted).arg(done(before)));
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

QTEST_GUILESS_MAIN(TestStats)
#include "tst_stats.moc"

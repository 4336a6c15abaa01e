// C9: the deadline of runUntilFuture() holds in every wait mode while items keep arriving. The
// wait returns no later than the deadline plus the rest of the item that was running when it
// passed, plus a wake-up, and no item starts after the deadline has passed.
#include <qdispatch/currentthreadexecutor.h>

#include "testsupport.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QPromise>
#include <QtTest/QtTest>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

using namespace qdispatch;
using namespace qdispatchtest;

class TestDeadlines : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void c9_noItemStartsAfterTheDeadline_data();
    void c9_noItemStartsAfterTheDeadline();
    void c9_expiredDeadlineStartsNothing_data();
    void c9_expiredDeadlineStartsNothing();
    void c9_deadlineHoldsWhileTheBacklogOfAFinishedFutureRuns_data();
    void c9_deadlineHoldsWhileTheBacklogOfAFinishedFutureRuns();
};

void TestDeadlines::c9_noItemStartsAfterTheDeadline_data()
{
    addModeRows();
}

// Forty items of 25 ms each are queued; the wait has a 30 ms deadline and a future that never
// finishes. Items may start at 0 and 25 ms; one starting later broke the rule.
void TestDeadlines::c9_noItemStartsAfterTheDeadline()
{
    QFETCH(RunMode, mode);
    constexpr int kItems = 40;
    constexpr qint64 kItemMs = 25;
    constexpr qint64 kDeadlineMs = 30;
    // What "plus a wake-up" may take on a loaded machine: far less than one more item.
    constexpr qint64 kWakeUpMs = 50;

    CurrentThreadExecutor ex;
    QElapsedTimer clock;
    std::mutex mutex;
    std::vector<qint64> starts; // ms after the wait began
    std::vector<qint64> ends;
    std::vector<QFuture<void>> futures;
    Semaphore queued;

    Worker producer([&] {
        for (int i = 0; i < kItems; ++i) {
            futures.push_back(ex.submit([&] {
                {
                    std::lock_guard lock(mutex);
                    starts.push_back(clock.elapsed());
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(kItemMs)); // the work
                std::lock_guard lock(mutex);
                ends.push_back(clock.elapsed());
            }));
        }
        queued.release();
    });
    QVERIFY(queued.tryAcquire(1, kHandshakeMs));
    QVERIFY(producer.join());

    StartedPromise<void> never;
    clock.start();
    const bool finished = ex.runUntilFuture(never.future(), QDeadlineTimer(kDeadlineMs), mode);
    const qint64 returned = clock.elapsed();
    for (QFuture<void> &future : futures)
        future.cancel(); // the rest is skipped (C6) when the executor is destroyed below

    QVERIFY(!finished);
    std::lock_guard lock(mutex);
    QVERIFY(!starts.empty());
    for (qint64 start : starts)
        QVERIFY2(start < kDeadlineMs,
                 qPrintable(QStringLiteral("an item started %1 ms after the wait began, past the "
                                           "%2 ms deadline (%3 items started)")
                                .arg(start)
                                .arg(kDeadlineMs)
                                .arg(starts.size())));
    const qint64 lastEnd = ends.empty() ? 0 : ends.back();
    QVERIFY2(returned <= std::max(kDeadlineMs, lastEnd) + kWakeUpMs,
             qPrintable(QStringLiteral("returned after %1 ms; the last item ended at %2 ms")
                            .arg(returned)
                            .arg(lastEnd)));
    never.finish();
}

void TestDeadlines::c9_expiredDeadlineStartsNothing_data()
{
    addModeRows();
}

// A wait whose deadline has already passed, on a future that is not finished, returns false at
// once and starts none of the items queued for it; they run in a later wait.
void TestDeadlines::c9_expiredDeadlineStartsNothing()
{
    QFETCH(RunMode, mode);
    CurrentThreadExecutor ex;
    std::atomic<int> ran { 0 };
    Worker producer([&] {
        for (int i = 0; i < 5; ++i)
            ex.post([&] { ++ran; });
    });
    QVERIFY(producer.join());

    StartedPromise<void> never;
    QDeadlineTimer expired(0);
    QVERIFY(expired.hasExpired());
    QVERIFY(!ex.runUntilFuture(never.future(), expired, mode));
    QCOMPARE(ran.load(), 0);
    QCOMPARE(ex.pendingCount(), quint64(5));
    ex.runPending();
    QCOMPARE(ran.load(), 5);
    never.finish();
}

void TestDeadlines::c9_deadlineHoldsWhileTheBacklogOfAFinishedFutureRuns_data()
{
    addColumns<RunMode, bool>({ "mode", "finishedBefore" });
    for (const RunMode mode : kModes) {
        QTest::addRow("%s, finished before the wait", modeName(mode)) << mode << true;
        QTest::addRow("%s, finished during the wait", modeName(mode)) << mode << false;
    }
}

// C9 over C8: once the future has finished, the wait still runs the items accepted before that
// (C8), but starts none after its deadline; it then returns false (the deadline came first),
// with the rest still queued. It used to run the whole backlog and return true, late.
void TestDeadlines::c9_deadlineHoldsWhileTheBacklogOfAFinishedFutureRuns()
{
    QFETCH(RunMode, mode);
    QFETCH(bool, finishedBefore);
    constexpr qint64 kDeadlineMs = 30;
    CurrentThreadExecutor ex;
    StartedPromise<void> promise;
    if (finishedBefore)
        promise.finish();
    QDeadlineTimer deadline; // set once the items are queued
    std::atomic<bool> lastRan { false };
    Worker producer([&] {
        if (!finishedBefore)
            ex.post([&] { promise.finish(); });
        ex.post([&] {
            while (!deadline.hasExpired()) // the deadline passes while this runs
                QThread::yieldCurrentThread();
        });
        ex.post([&] { lastRan = true; });
    });
    QVERIFY(producer.join());
    deadline.setRemainingTime(kDeadlineMs);
    QVERIFY(!ex.runUntilFuture(promise.future(), deadline, mode));
    QVERIFY(!lastRan);
    QCOMPARE(ex.pendingCount(), quint64(1));
    ex.runPending();
    QVERIFY(lastRan);
}

QTEST_GUILESS_MAIN(TestDeadlines)
#include "tst_deadlines.moc"

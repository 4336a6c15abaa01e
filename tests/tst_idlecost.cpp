// P3's price of spinning (docs/contract.md, P3): a waiting side may spin, bounded and adaptive,
// before it parks, but an idle wait of any mode uses no CPU to speak of, and a blocked invoke()
// burns at most its spin budget. Measured as the CPU time of the waiting thread alone
// (getrusage(RUSAGE_THREAD)), which other load on the machine does not change.

#include <qdispatch/currentthreadexecutor.h>

#include "testsupport.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QPromise>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <sys/resource.h>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

// The calling thread's CPU time (user and system), in microseconds.
qint64 threadCpuUs()
{
    rusage usage {};
    getrusage(RUSAGE_THREAD, &usage);
    const auto us = [](const timeval &t) { return qint64(t.tv_sec) * 1000000 + t.tv_usec; };
    return us(usage.ru_utime) + us(usage.ru_stime);
}

// One second of waiting. A spin lasts 50 µs at most; the rest of the allowance is the wake-ups
// and the bookkeeping of a second's sleep, with room for a slow, shared machine.
constexpr int kIdleMs = 1000;
constexpr qint64 kMostCpuUs = 20000;

} // namespace

class TestIdleCost : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void p3_idleWaitUsesNoCpu_data() { addModeRows(); }
    void p3_idleWaitUsesNoCpu();
    void p3_blockedInvokeBurnsAtMostItsSpin();
};

// An owner waits a second in each mode for a future that nothing finishes, with nothing sent.
void TestIdleCost::p3_idleWaitUsesNoCpu()
{
    QFETCH(RunMode, mode);
    CurrentThreadExecutor ex;
    QPromise<void> never;
    never.start();
    // A round trip first, so that the wait's spin budget is at its most (a thread that was
    // served quickly spins longest).
    int warmed = 0;
    Worker warmUp([&] { warmed = ex.invoke([] { return 1; }); });
    QVERIFY(warmUp.serveAndJoin(ex, mode));
    QCOMPARE(warmed, 1);

    const qint64 before = threadCpuUs();
    QElapsedTimer elapsed;
    elapsed.start();
    QVERIFY(!ex.runUntilFuture(never.future(), QDeadlineTimer(kIdleMs), mode));
    const qint64 used = threadCpuUs() - before;
    QVERIFY2(elapsed.elapsed() >= kIdleMs - 1, "the wait ended before its deadline");
    QVERIFY2(used <= kMostCpuUs,
             qPrintable(QStringLiteral("an idle %1 ms wait in %2 used %3 µs of CPU (at most %4)")
                            .arg(kIdleMs)
                            .arg(QLatin1String(modeName(mode)))
                            .arg(used)
                            .arg(kMostCpuUs)));
    never.finish();
}

// A worker without an executor invoke()s while the owner is busy for a second: it spins at most
// its budget, then sleeps.
void TestIdleCost::p3_blockedInvokeBurnsAtMostItsSpin()
{
    CurrentThreadExecutor ex;
    QPromise<void> firstServed;
    firstServed.start();
    int results = 0;
    qint64 used = -1;
    Worker worker([&] {
        // Served at once first, so that the budget is at its most.
        results = ex.invoke([] { return 1; });
        firstServed.finish();
        const qint64 before = threadCpuUs();
        results += ex.invoke([] { return 2; });
        used = threadCpuUs() - before;
    });
    QVERIFY(ex.runUntilFuture(firstServed.future(), joinDeadline(), RunMode::ExecutorOnly));
    QThread::msleep(kIdleMs); // the second invoke() is blocked meanwhile: that is the test
    QVERIFY(worker.serveAndJoin(ex, RunMode::ExecutorOnly));
    QCOMPARE(results, 3);
    QVERIFY2(used >= 0, "the worker did not finish its invoke()");
    QVERIFY2(used <= kMostCpuUs,
             qPrintable(QStringLiteral("invoke() blocked for %1 ms used %2 µs of CPU (at most %3)")
                            .arg(kIdleMs)
                            .arg(used)
                            .arg(kMostCpuUs)));
}

QTEST_GUILESS_MAIN(TestIdleCost)
#include "tst_idlecost.moc"

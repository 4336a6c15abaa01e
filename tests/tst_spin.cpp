// P3's spin before a sleep (docs/architecture.md, "Spinning before a sleep"): how a thread's
// budget learns (the rule of src/spinwait.cpp, fed made-up waits), and the hand-off at the edge
// of the spin, where a result or an item arrives just as the waiting side gives up spinning and
// goes to sleep. A wait that parks after missing it (a lost wake-up) never ends: these tests
// then stop the program with a message saying so, rather than hang until CTest's timeout.

#include <qdispatch/currentthreadexecutor.h>

#include "spinwait_p.h"
#include "testsupport.h"

#include <QtCore/QDeadlineTimer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QPromise>
#include <QtTest/QTest>

#include <atomic>
#include <random>

using namespace qdispatch;
using namespace qdispatchtest;
using qdispatch::detail::SpinBudget;

namespace {

constexpr std::int64_t kUs = 1000;

// Feeds `waits` made-up waits to `budget`: one that spins is served after `spunNs`, one that
// sleeps ends after `sleptNs`. Returns how many of the last `tail` spun.
int feed(SpinBudget &budget, int waits, std::int64_t spunNs, std::int64_t sleptNs, int tail)
{
    int spun = 0;
    for (int i = 0; i < waits; ++i) {
        const std::int64_t limit = budget.next();
        if (limit > 0) {
            const bool served = spunNs <= limit;
            budget.learn(served ? spunNs : limit + sleptNs, served ? spunNs : limit, served);
        } else {
            budget.learn(sleptNs, 0, false);
        }
        spun += i >= waits - tail && limit > 0;
    }
    return spun;
}

// Busy for `ns` nanoseconds: an item that takes about as long as a spin lasts.
void busyFor(std::int64_t ns)
{
    QElapsedTimer clock;
    clock.start();
    while (clock.nsecsElapsed() < ns) { }
}

// Stops the program when `done` has not finished by `deadline`: a wait that missed its wake-up
// never returns, so nothing after it could report.
void failIfStalled(bool finished, const char *what, int done, int total)
{
    if (!finished)
        qFatal("%s: stalled after %d of %d round trips; a wait missed the hand-off that should "
               "have woken it (a lost wake-up at the end of the spin)",
               what, done, total);
}

constexpr int kRoundTrips = 20000;

} // namespace

class TestSpin : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void p3_budgetKeepsSpinningWhereSpinsWin();
    void p3_budgetStopsWhereSpinsLose();
    void p3_budgetStopsForWaitsServedLate();
    void p3_budgetStartsAgainWhenSpinsWinAgain();
    void c3_invokeResultAtTheEndOfTheSpin();
    void c8_executorOnlyItemAtTheEndOfTheSpin();
};

void TestSpin::initTestCase()
{
    if (detail::longestSpinNs() == 0)
        QSKIP("this machine does not spin (one CPU, or QDISPATCH_SPIN_US=0): nothing to test");
}

// Quiet machine: a spin is served in a microsecond, a sleep takes 25 (the wake-up). Spinning
// goes on, apart from the sleeps that keep the sleep's average current.
void TestSpin::p3_budgetKeepsSpinningWhereSpinsWin()
{
    SpinBudget budget;
    const int spun = feed(budget, 1000, 1 * kUs, 25 * kUs, 320);
    QCOMPARE(spun, 320 - 320 / int(SpinBudget::kProbeEvery));
    QVERIFY2(budget.budgetNs() >= SpinBudget::kMinNs, "the budget ran down though spins won");
}

// Busy machine: the spinning thread keeps the one it waits for off a CPU, so a spin is served
// only after 12 µs, where a sleep ends after 7. Spinning stops, but for the probes.
void TestSpin::p3_budgetStopsWhereSpinsLose()
{
    SpinBudget budget;
    const int spun = feed(budget, 1000, 12 * kUs, 7 * kUs, 320);
    QVERIFY2(spun <= 320 / int(SpinBudget::kProbeEvery),
             qPrintable(QStringLiteral("%1 of the last 320 waits spun, with spins losing to "
                                       "sleeps (spun average %2 ns, slept %3 ns)")
                            .arg(spun)
                            .arg(budget.spunAverageNs())
                            .arg(budget.sleptAverageNs())));
}

// Waits that nothing serves soon (an idle owner, a long item): the spins run out, and after a
// few waits the thread stops spinning for good.
void TestSpin::p3_budgetStopsForWaitsServedLate()
{
    SpinBudget budget;
    const int spun = feed(budget, 100, 500'000 * kUs, 500'000 * kUs, 90);
    QCOMPARE(spun, 0);
    QCOMPARE(budget.budgetNs(), std::int64_t(0));
}

// The machine grows quiet again: the probes notice, and spinning starts again soon.
void TestSpin::p3_budgetStartsAgainWhenSpinsWinAgain()
{
    SpinBudget budget;
    QVERIFY(feed(budget, 1000, 12 * kUs, 7 * kUs, 320) <= 320 / int(SpinBudget::kProbeEvery));
    const int spun = feed(budget, 200, 1 * kUs, 25 * kUs, 100);
    QVERIFY2(spun >= 90,
             qPrintable(QStringLiteral("only %1 of 100 waits spun after the machine "
                                       "grew quiet")
                            .arg(spun)));
}

// C3 with the spin: a worker's invoke() whose item takes 0 to 80 µs on the owner, so that the
// result comes before, during and just after the end of the worker's spin, whatever length its
// budget has learnt. Every round trip ends, with its own value.
void TestSpin::c3_invokeResultAtTheEndOfTheSpin()
{
    CurrentThreadExecutor ex;
    std::atomic<int> done { 0 };
    int wrong = 0;
    Worker worker([&] {
        std::minstd_rand random(7);
        for (int i = 0; i < kRoundTrips; ++i) {
            const std::int64_t ns = std::int64_t(random() % 80'000);
            if (ex.invoke([ns, i] {
                    busyFor(ns);
                    return i;
                }) != i)
                ++wrong;
            done.store(i + 1, std::memory_order_relaxed);
        }
    });
    const bool finished =
        ex.runUntilFuture(worker.finished(), QDeadlineTimer(60'000), RunMode::ExecutorOnly);
    failIfStalled(finished, "invoke()", done.load(), kRoundTrips);
    QVERIFY(worker.join());
    QCOMPARE(wrong, 0);
}

// C8 with the spin: the owner waits in ExecutorOnly while a worker submits one item at a time,
// 0 to 80 µs after the last one ran, so that items arrive before, during and just after the end
// of the owner's spin. The owner must wake for each of them.
void TestSpin::c8_executorOnlyItemAtTheEndOfTheSpin()
{
    CurrentThreadExecutor ex;
    std::atomic<int> ran { 0 };
    Worker worker([&] {
        std::minstd_rand random(11);
        for (int i = 0; i < kRoundTrips; ++i) {
            busyFor(std::int64_t(random() % 80'000));
            QFuture<void> item = ex.submit([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
            item.waitForFinished();
        }
    });
    const bool finished =
        ex.runUntilFuture(worker.finished(), QDeadlineTimer(60'000), RunMode::ExecutorOnly);
    failIfStalled(finished, "ExecutorOnly wait", ran.load(), kRoundTrips);
    QVERIFY(worker.join());
    QCOMPARE(ran.load(), kRoundTrips);
}

QTEST_GUILESS_MAIN(TestSpin)
#include "tst_spin.moc"

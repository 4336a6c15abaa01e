// C9 under stress: "the deadline holds in every mode, also while new items keep arriving" (an
// item that re-posts itself, a producer thread flooding), for deadlines zero, past, short, long
// and forever, in a plain loop and after a quit request; and "every deadline that a
// QDeadlineTimer can represent works", without a Qt warning. First written from an adversarial
// tester's report (docs/reliability.md) and widened to the whole class.
//
// Threads are ordered with Semaphore hand-offs, never sleeps; every thread is joined with a
// time limit. A deadline is a QDeadlineTimer given to the library, never a sleep.

#include <qdispatch/currentthreadexecutor.h>

#include "messages.h"
#include "testsupport.h"

#include <QtCore/QDeadlineTimer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QFuture>
#include <QtCore/QPromise>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <atomic>
#include <chrono>
#include <limits>
#include <memory>
#include <thread>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

// ------------------------------------------------------------------------------- the floods

enum class FloodKind { SelfRepost, Producer };

enum class FloodDeadline {
    Zero,
    Past,
    Short,
    Long, // a minute; the future finishes first, while the flood goes on
    Forever, // the overload without a deadline; the future finishes while the flood goes on
};

const char *const kFloodDeadlineNames[] = { "zero", "past", "short", "long", "forever" };

// An item that posts itself again until told to stop: items keep arriving for as long as the
// owner runs them.
struct Repost
{
    CurrentThreadExecutor *executor;
    std::atomic<bool> *stop;
    std::atomic<long long> *ran;
    Semaphore *thousand;
    void operator()() const
    {
        if (ran->fetch_add(1) + 1 == 1000)
            thousand->release();
        if (!stop->load())
            executor->post(*this);
    }
};

struct FloodOutcome
{
    bool threw = false;
    bool returned = false;
    qint64 elapsedMs = -1;
    long long ranDuringWait = 0;
    bool watchdogFired = false;
};

// Items keep arriving while the owner waits.
void waitUnderFlood(RunMode mode, FloodKind flood, FloodDeadline kind, FloodOutcome &out)
{
    CurrentThreadExecutor executor;
    std::atomic<bool> stop { false };
    std::atomic<long long> ran { 0 };
    Semaphore thousand;
    Semaphore floodGoing;
    Semaphore testOver;
    StartedPromise<void> finishedLater;
    StartedPromise<void> never;

    // A wait that ignores its deadline would run for as long as the flood lasts: the watchdog
    // ends the flood after a while, so such a wait shows as late, not as a hang.
    std::atomic<bool> fired { false };
    AnyThread watchdog(false, [&] {
        if (!testOver.tryAcquire(1, 8000)) {
            fired = true;
            stop = true;
        }
    });
    std::unique_ptr<AnyThread> producer;
    if (flood == FloodKind::SelfRepost) {
        executor.post(Repost { &executor, &stop, &ran, &thousand });
    } else {
        producer = std::make_unique<AnyThread>(false, [&] {
            long long posted = 0;
            bool announced = false;
            while (!stop.load()) {
                // Keep at most 20,000 queued: a flood, not a memory test.
                if (posted - ran.load() < 20000) {
                    executor.post([&] {
                        if (ran.fetch_add(1) + 1 == 1000)
                            thousand.release();
                    });
                    ++posted;
                } else {
                    if (!announced) {
                        announced = true;
                        floodGoing.release();
                    }
                    std::this_thread::yield();
                }
            }
            if (!announced)
                floodGoing.release();
        });
        (void)floodGoing.tryAcquire(1, kHandshakeMs);
    }
    // For Long and Forever: the awaited future finishes once the owner has run 1,000 flood
    // items, i.e. from inside the wait, with the flood still going.
    AnyThread finisher(false, [&] {
        (void)thousand.tryAcquire(1, kJoinMs);
        finishedLater.finish();
    });

    QDeadlineTimer deadline(QDeadlineTimer::Forever);
    QFuture<void> awaited = never.future();
    switch (kind) {
    case FloodDeadline::Zero:
        deadline = QDeadlineTimer(0);
        break;
    case FloodDeadline::Past:
        deadline = QDeadlineTimer::addNSecs(QDeadlineTimer::current(), -1000LL * 1000 * 1000);
        break;
    case FloodDeadline::Short:
        deadline = QDeadlineTimer(kShortMs, Qt::PreciseTimer);
        break;
    case FloodDeadline::Long:
        deadline = QDeadlineTimer(60000);
        awaited = finishedLater.future();
        break;
    case FloodDeadline::Forever:
        awaited = finishedLater.future();
        break;
    }

    const long long ranBefore = ran.load();
    QElapsedTimer clock;
    clock.start();
    const std::optional<QDeadlineTimer> given =
        kind == FloodDeadline::Forever ? std::nullopt : std::optional(deadline);
    const auto result = waitFor(executor, awaited, given, mode);
    out.threw = !result;
    out.returned = result.value_or(false);
    out.elapsedMs = clock.elapsed();
    out.ranDuringWait = ran.load() - ranBefore;

    stop = true;
    testOver.release();
    thousand.release(); // the finisher ends even if the wait ran fewer than 1,000 items
    (void)watchdog.join();
    if (producer)
        (void)producer->join();
    (void)finisher.join();
    out.watchdogFired = fired.load();
    // The flood has stopped: run what is left (a re-posting item posts no more).
    drain(executor, RunMode::ExecutorOnly);
    drain(executor, RunMode::ExecutorOnly);
}

// --------------------------------------------------------------------------- far deadlines

QDeadlineTimer farDeadline(int which)
{
    using std::chrono::hours;
    const qint64 day = 24LL * 3600 * 1000;
    switch (which) {
    case 0:
        return QDeadlineTimer(QDeadlineTimer::Forever);
    case 1:
        return QDeadlineTimer(qint64(std::numeric_limits<int>::max()) + 1); // just past int
    case 2:
        return QDeadlineTimer((1LL << 32) + 1); // narrowed to int this is 1 ms
    case 3:
        return QDeadlineTimer(30 * day);
    case 4:
        return QDeadlineTimer(365 * day);
    case 5:
        return QDeadlineTimer(100 * 365 * day);
    case 6:
        return QDeadlineTimer(std::numeric_limits<qint64>::max());
    case 7:
        return QDeadlineTimer(std::numeric_limits<qint64>::max() - 1);
    case 8:
        return QDeadlineTimer::addNSecs(QDeadlineTimer::current(),
                                        std::numeric_limits<qint64>::max() / 2);
    case 9:
        return QDeadlineTimer(0);
    case 10:
        return QDeadlineTimer::addNSecs(QDeadlineTimer::current(), -1000LL * 1000 * 1000);
    case 11:
        return QDeadlineTimer(std::numeric_limits<qint64>::min());
    case 12:
        return QDeadlineTimer(std::numeric_limits<qint64>::min() + 1);
    case 13:
        return QDeadlineTimer(-2);
    case 14:
        return QDeadlineTimer::addNSecs(QDeadlineTimer::current(),
                                        std::numeric_limits<qint64>::min() / 2);
    }
    return QDeadlineTimer();
}

const char *const kFarDeadlineNames[] = {
    "forever",    "intMaxPlus1ms", "2^32+1ms",          "30days",          "1year",
    "100years",   "qint64MaxMs",   "qint64MaxMinus1Ms", "halfQint64MaxNs", "zero",
    "pastSecond", "qint64MinMs",   "qint64MinPlus1Ms",  "minus2Ms",        "halfQint64MinNs",
};
constexpr int kFarDeadlines = int(sizeof(kFarDeadlineNames) / sizeof(kFarDeadlineNames[0]));

} // namespace

class TestDeadlineStress : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void c9_deadlineHoldsUnderFlood_data();
    void c9_deadlineHoldsUnderFlood();
    void c9_anyDeadlineWorksWithoutWarnings_data();
    void c9_anyDeadlineWorksWithoutWarnings();
};

// C9: "the deadline holds in every mode, also while items keep arriving": an item that posts
// itself again, or a producer thread that floods; deadlines zero, past, short; and with a long
// or no deadline the wait still ends when its future finishes in the middle of the flood. Run
// in a plain loop and after a quit request.
void TestDeadlineStress::c9_deadlineHoldsUnderFlood_data()
{
    addColumns<RunMode, int, int, bool>({ "mode", "flood", "deadline", "quit" });
    for (bool quit : { false, true }) {
        for (RunMode mode : kModes) {
            for (FloodKind flood : { FloodKind::SelfRepost, FloodKind::Producer }) {
                for (FloodDeadline d :
                     { FloodDeadline::Zero, FloodDeadline::Past, FloodDeadline::Short,
                       FloodDeadline::Long, FloodDeadline::Forever }) {
                    QTest::addRow("%s-%s-%s-%s", quit ? "afterQuit" : "plain", modeName(mode),
                                  flood == FloodKind::SelfRepost ? "selfRepost" : "producer",
                                  kFloodDeadlineNames[int(d)])
                        << mode << int(flood) << int(d) << quit;
                }
            }
        }
    }
}

void TestDeadlineStress::c9_deadlineHoldsUnderFlood()
{
    QFETCH(RunMode, mode);
    QFETCH(int, flood);
    QFETCH(int, deadline);
    QFETCH(bool, quit);
    const auto kind = FloodDeadline(deadline);
    FloodOutcome out;
    ExecThread thread([&] {
        if (quit)
            QThread::currentThread()->quit();
        waitUnderFlood(mode, FloodKind(flood), kind, out);
        if (!quit)
            QThread::currentThread()->quit();
    });
    thread.start();
    QVERIFY(thread.joined());
    QCOMPARE(thread.execResult(), 0);
    const QString info = QStringLiteral("returned %1 after %2 ms, %3 flood items ran meanwhile")
                             .arg(out.returned)
                             .arg(out.elapsedMs)
                             .arg(out.ranDuringWait);
    QVERIFY2(!out.threw, qPrintable(info));
    QVERIFY2(!out.watchdogFired,
             qPrintable(QStringLiteral("the wait outlasted the flood's 8 s watchdog; ") + info));
    switch (kind) {
    case FloodDeadline::Zero:
    case FloodDeadline::Past:
        QVERIFY2(!out.returned, qPrintable(info));
        QVERIFY2(out.elapsedMs < kLateMs, qPrintable(info));
        break;
    case FloodDeadline::Short:
        QVERIFY2(!out.returned, qPrintable(info));
        QVERIFY2(out.elapsedMs >= kShortMs - 5 && out.elapsedMs < kShortMs + kLateMs,
                 qPrintable(info));
        QVERIFY2(out.ranDuringWait > 0, qPrintable(info)); // it served the flood meanwhile
        break;
    case FloodDeadline::Long:
    case FloodDeadline::Forever:
        QVERIFY2(out.returned, qPrintable(info));
        QVERIFY2(out.ranDuringWait >= 1000, qPrintable(info));
        QVERIFY2(out.elapsedMs < kJoinMs, qPrintable(info));
        break;
    }
}

// C9: "any deadline a QDeadlineTimer can hold works": far ones (beyond an int of milliseconds,
// years, the largest values) wait for the future and return true; expired ones (zero, past,
// the smallest values) return false at once; Qt prints no warning either way.
void TestDeadlineStress::c9_anyDeadlineWorksWithoutWarnings_data()
{
    addColumns<RunMode, int>({ "mode", "which" });
    for (RunMode mode : kModes)
        for (int which = 0; which < kFarDeadlines; ++which)
            QTest::addRow("%s-%s", modeName(mode), kFarDeadlineNames[which]) << mode << which;
}

void TestDeadlineStress::c9_anyDeadlineWorksWithoutWarnings()
{
    QFETCH(RunMode, mode);
    QFETCH(int, which);
    const QDeadlineTimer deadline = farDeadline(which);
    const bool expired = deadline.hasExpired();

    CurrentThreadExecutor executor;
    StartedPromise<void> promise;
    Semaphore ownerWaiting;
    std::unique_ptr<AnyThread> worker;
    if (!expired) {
        worker = std::make_unique<AnyThread>(false, [&] {
            // The item runs only inside the wait: then the promise finishes.
            executor.submit([&] { ownerWaiting.release(); });
            (void)ownerWaiting.tryAcquire(1, kServeMs);
            promise.finish();
        });
    }
    MessageLog warnings; // C9: a deadline must not make Qt complain
    QElapsedTimer clock;
    clock.start();
    bool result = !expired;
    try {
        result = executor.runUntilFuture(promise.future(), deadline, mode);
    } catch (...) {
        QFAIL("runUntilFuture threw");
    }
    const qint64 elapsed = clock.elapsed();
    const int printed = warnings.count();
    const QString lastWarning = warnings.last();
    if (worker)
        QVERIFY(worker->join());
    QVERIFY2(printed == 0, qPrintable(QStringLiteral("Qt warned: ") + lastWarning));
    if (expired) {
        QVERIFY(!result);
        QVERIFY2(elapsed < kLateMs, qPrintable(QString::number(elapsed)));
    } else {
        QVERIFY(result);
        QVERIFY2(elapsed < kServeMs, qPrintable(QString::number(elapsed)));
    }
    // The same deadline in the overload for a finished future: true, no warning.
    QVERIFY(executor.runUntilFuture(qdispatch_compat::readyFuture(), deadline, mode));
    QCOMPARE(warnings.count(), 0);
}

QTEST_GUILESS_MAIN(TestDeadlineStress)
#include "tst_deadlinestress.moc"

// Interleavings that the scheduler reaches only rarely, reached on purpose: the library's test
// points (src/testhooks_p.h, compiled in by QDISPATCH_TEST_HOOKS) stop a thread at an exact
// place while the test makes another thread act.
//
// C4: an item handed down the chain never starts before the item the owner had already taken.
// X3: a wait in invoke() serves an executor that executorOf() makes for its thread during it.
// C9: no item starts after a wait's deadline passed while the owner took the inbox.
#include <qdispatch/currentthreadexecutor.h>

#include "qtcompat.h"
#include "testhooks_p.h"
#include "testsupport.h"

#include <QtCore/QPromise>
#include <QtTest/QtTest>

#include <atomic>
#include <mutex>
#include <optional>
#include <vector>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

struct HookPlan;
HookPlan *g_plan = nullptr;
void hook(detail::TestPoint point);

// What the hook does, set by each test before the threads it concerns start. The hook is
// installed for as long as the plan exists: one test's scope, whether it fails or not.
struct HookPlan
{
    HookPlan()
    {
        g_plan = this;
        detail::setTestHook(&hook);
    }
    ~HookPlan()
    {
        detail::setTestHook(nullptr);
        g_plan = nullptr;
    }
    HookPlan(const HookPlan &) = delete;
    HookPlan &operator=(const HookPlan &) = delete;

    std::atomic<QThread *> thread { nullptr }; // only this thread stops, and
    std::atomic<detail::TestPoint> point { detail::TestPoint::ItemClaimed }; // only here,
    std::atomic<bool> armed { false }; // once.
    Semaphore reached; // released when it stops there
    Semaphore go; // what it waits for before it goes on
    Semaphore breakerWaits; // released at every HandOffWaitsForClaim, by any thread
    Semaphore ownerSleeps; // released at every OwnerSleeps of `thread`
    Semaphore invokeBlocks; // released at every InvokeBlocks of `thread`
};

void hook(detail::TestPoint point)
{
    HookPlan *plan = g_plan;
    if (!plan)
        return;
    if (point == detail::TestPoint::HandOffWaitsForClaim)
        plan->breakerWaits.release();
    if (QThread::currentThread() != plan->thread.load())
        return;
    if (point == detail::TestPoint::OwnerSleeps)
        plan->ownerSleeps.release();
    if (point == detail::TestPoint::InvokeBlocks)
        plan->invokeBlocks.release();
    if (point == plan->point.load() && plan->armed.exchange(false)) {
        plan->reached.release();
        plan->go.tryAcquire(1, kHandshakeMs);
    }
}

// X3 with X9: sends thread `q` an item through its executorOf() executor and waits for it
// (serving `here`) for up to 5 s. True when it ran; `ranOn` is then the thread it ran on.
bool runsThroughExecutorOf(QThread *q, CurrentThreadExecutor &here, QThread *&ranOn)
{
    const QFuture<QThread *> onQ = executorOf(q).submit([] { return QThread::currentThread(); });
    if (!here.runUntilFuture(onQ, QDeadlineTimer(5000), RunMode::ExecutorOnly))
        return false;
    ranOn = onQ.result();
    return true;
}

} // namespace

class TestInterleavings : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void c4_handOffWaitsForTheItemTheOwnerTook();
    void x3_invokeServesAnExecutorMadeForItsThreadDuringTheWait_data();
    void x3_invokeServesAnExecutorMadeForItsThreadDuringTheWait();
    void x3_invokeServesAnExecutorMadeForItsThreadWhileAFloodKeepsItBusy();
    void x3_invokeServesAnExecutorMadeAfterItsOwnWasShutDownBeforeTheWait();
    void c9_noItemStartsAfterADeadlinePassedWhileTakingTheInbox_data();
    void c9_noItemStartsAfterADeadlinePassedWhileTakingTheInbox();
};

// C4 across a hand-off: the owner of `inner` has taken item A (its claim is open) and is stopped
// there when a third thread shuts `inner` down. B, queued behind A, moves to `outer` (this
// thread). B must not start before A has: the breaking thread waits for A to start.
void TestInterleavings::c4_handOffWaitsForTheItemTheOwnerTook()
{
    HookPlan plan;

    CurrentThreadExecutor outer;
    std::mutex orderMutex;
    std::vector<char> order;
    const auto record = [&](char name) {
        std::lock_guard lock(orderMutex);
        order.push_back(name);
    };

    Semaphore innerReady;
    CurrentThreadExecutor *inner = nullptr;
    StartedPromise<void> stop;
    const QFuture<void> stopped = stop.future();
    Worker owner([&] {
        CurrentThreadExecutor executor(&outer);
        inner = &executor;
        innerReady.release();
        executor.runUntilFuture(stopped, RunMode::ExecutorOnly);
    });
    const FinishOnExit stopOnExit { stop }; // the owner's wait ends however the test ends
    QVERIFY(innerReady.tryAcquire(1, kHandshakeMs));
    plan.thread = owner.thread();
    plan.point = detail::TestPoint::ItemClaimed;
    plan.armed = true;

    QThread *ranA = nullptr;
    QThread *ranB = nullptr;
    QFuture<void> a = inner->submit([&] {
        ranA = QThread::currentThread();
        record('A');
    });
    QFuture<void> b = inner->submit([&] {
        ranB = QThread::currentThread();
        record('B');
    });
    QVERIFY2(plan.reached.tryAcquire(1, kHandshakeMs), "the owner never took item A");

    Semaphore breakerDone;
    AnyThread breaker(true, [&] {
        inner->shutdown();
        breakerDone.release();
    });
    // The breaker either waits for A's claim (the rule) or, wrongly, finishes the hand-off.
    QVERIFY(plan.breakerWaits.tryAcquire(1, kHandshakeMs) || breakerDone.tryAcquire(1, 0));
    // Give B every chance to run here now, as it would if it had been handed down already.
    const bool bRanFirst = outer.runUntilFuture(b, QDeadlineTimer(300));
    plan.go.release();
    QVERIFY(!bRanFirst);
    QVERIFY(outer.runUntilFuture(b, QDeadlineTimer(kJoinMs)));
    QVERIFY(breaker.join());
    stop.finish();
    QVERIFY(owner.join());

    QCOMPARE(order, (std::vector<char> { 'A', 'B' }));
    QCOMPARE(ranA, owner.thread());
    QCOMPARE(ranB, QThread::currentThread()); // handed down to `outer` (C12)
    QVERIFY(a.isFinished() && !a.isCanceled());
}

void TestInterleavings::x3_invokeServesAnExecutorMadeForItsThreadDuringTheWait_data()
{
    addRows<bool>("qHasAnExecutor",
                  { { "Q has an executor of its own", true }, { "Q has none", false } });
}

// X3 with X9: thread Q waits in invoke() for an item on this thread, with or without an executor
// of its own. While Q sleeps in that wait, this thread makes Q's executorOf() executor and sends
// Q an item through it. Q's wait must take the new executor on and run the item; otherwise both
// threads wait for each other for ever.
void TestInterleavings::x3_invokeServesAnExecutorMadeForItsThreadDuringTheWait()
{
    QFETCH(bool, qHasAnExecutor);
    HookPlan plan;

    CurrentThreadExecutor here;
    Semaphore qReady;
    QThread *ranOn = nullptr;
    bool served = false;
    Worker q([&] {
        std::optional<CurrentThreadExecutor> own;
        if (qHasAnExecutor)
            own.emplace();
        qReady.acquire();
        here.invoke([&] {
            // On this test's thread, while Q waits for this very item.
            Semaphore &asleep = qHasAnExecutor ? plan.ownerSleeps : plan.invokeBlocks;
            QVERIFY(asleep.tryAcquire(1, kHandshakeMs));
            served = runsThroughExecutorOf(q.thread(), here, ranOn);
        });
    });
    plan.thread = q.thread();
    qReady.release();
    here.runUntilFuture(q.finished());
    QVERIFY(q.join());
    QVERIFY2(served, "the item sent through executorOf() never ran: Q's wait did not serve it");
    QCOMPARE(ranOn, q.thread());
}

// X3 with X9, found by an outside tester: Q's invoke() wait is kept busy by a flood on Q's own
// executor (each item posts the next), so it never sleeps. Meanwhile this thread makes Q's
// executorOf() executor and sends Q an item through it. The wait must take the new executor on
// while the flood goes on; it looked for new executors only before it slept, and the item waited
// for as long as the flood lasted.
void TestInterleavings::x3_invokeServesAnExecutorMadeForItsThreadWhileAFloodKeepsItBusy()
{
    CurrentThreadExecutor here;
    std::atomic<bool> stopFlood { false };
    std::atomic<int> floodRan { 0 };
    Semaphore floodRuns;
    bool served = false;
    QThread *ranOn = nullptr;
    Worker q([&] {
        CurrentThreadExecutor own;
        struct Flood
        {
            CurrentThreadExecutor *ex;
            std::atomic<bool> *stop;
            std::atomic<int> *ran;
            Semaphore *runs;
            void operator()() const
            {
                if (ran->fetch_add(1) == 2)
                    runs->release(); // the third item: the wait is busy with the flood
                if (!stop->load())
                    ex->post(*this);
            }
        };
        own.post(Flood { &own, &stopFlood, &floodRan, &floodRuns });
        here.invoke([&] {
            // On this test's thread, while Q's wait runs the flood.
            if (!floodRuns.tryAcquire(1, kHandshakeMs))
                return;
            served = runsThroughExecutorOf(q.thread(), here, ranOn);
        });
        stopFlood = true;
        own.runUntilFuture(qdispatch_compat::readyFuture(), RunMode::ExecutorOnly);
    });
    here.runUntilFuture(q.finished());
    QVERIFY(q.join());
    QVERIFY2(served,
             qPrintable(QStringLiteral("the item sent through executorOf() did not run "
                                       "while %1 flood items did")
                            .arg(floodRan.load())));
    QCOMPARE(ranOn, q.thread());
}

// X3 with X9, found by an outside tester: Q has an executor of its own when it calls invoke(), so
// its wait is to serve Q's executors; this thread shuts that executor down after Q sent the item
// and before its wait looked up what to serve (Q is stopped there on purpose). Then this thread
// makes Q's executorOf() executor and sends Q an item through it. The wait found no executor and
// blocked without serving any: both threads waited for ever. It must serve the new one.
void TestInterleavings::x3_invokeServesAnExecutorMadeAfterItsOwnWasShutDownBeforeTheWait()
{
    HookPlan plan;

    CurrentThreadExecutor here;
    Semaphore qReady;
    CurrentThreadExecutor *qsOwn = nullptr;
    bool waited = false;
    bool served = false;
    QThread *ranOn = nullptr;
    Worker q([&] {
        CurrentThreadExecutor own;
        qsOwn = &own;
        qReady.acquire();
        here.invoke([&] {
            // On this test's thread, with Q stopped between sending this item and its wait.
            if (!plan.reached.tryAcquire(1, kHandshakeMs))
                return;
            qsOwn->shutdown();
            plan.go.release();
            // Q's wait now sleeps with nothing of its own to serve (or, wrongly, blocks).
            waited = plan.ownerSleeps.tryAcquire(1, kHandshakeMs);
            served = runsThroughExecutorOf(q.thread(), here, ranOn);
        });
    });
    plan.thread = q.thread();
    plan.point = detail::TestPoint::InvokeWaits;
    plan.armed = true;
    qReady.release();
    here.runUntilFuture(q.finished());
    QVERIFY(q.join());
    QVERIFY2(waited, "Q's invoke() wait did not sleep in a wait that serves its thread");
    QVERIFY2(served, "the item sent through executorOf() never ran: Q's wait did not serve it");
    QCOMPARE(ranOn, q.thread());
}

void TestInterleavings::c9_noItemStartsAfterADeadlinePassedWhileTakingTheInbox_data()
{
    addRows<RunMode>(
        "mode", { { "ExecutorOnly", RunMode::ExecutorOnly }, { "AllEvents", RunMode::AllEvents } });
}

// C9: taking what producers queued needs the executor's lock, which a pendingCount() on another
// thread may hold for a while (it walks the queue). A wait's deadline that passes meanwhile must
// still hold: the owner is stopped right after it took the inbox until the deadline has passed,
// and must then start nothing.
void TestInterleavings::c9_noItemStartsAfterADeadlinePassedWhileTakingTheInbox()
{
    QFETCH(RunMode, mode);
    HookPlan plan;

    Semaphore ownerReady;
    Semaphore startWaiting;
    CurrentThreadExecutor *executor = nullptr;
    QDeadlineTimer deadline;
    std::atomic<bool> itemRan { false };
    bool finished = true;
    Worker owner([&] {
        CurrentThreadExecutor ex;
        executor = &ex;
        ownerReady.release();
        startWaiting.acquire();
        StartedPromise<void> never;
        finished = ex.runUntilFuture(never.future(), deadline, mode);
        executor = nullptr;
    });
    QVERIFY(ownerReady.tryAcquire(1, kHandshakeMs));
    plan.thread = owner.thread();
    plan.point = detail::TestPoint::InboxTaken;
    plan.armed = true;
    executor->post([&] { itemRan = true; });
    deadline = QDeadlineTimer(500);
    startWaiting.release();

    QVERIFY2(plan.reached.tryAcquire(1, kHandshakeMs), "the owner never took the inbox");
    // Stopped with the item behind its batch: let the deadline pass (the only wait on time here).
    while (!deadline.hasExpired())
        QThread::msleep(quint64(std::max<qint64>(1, deadline.remainingTime())));
    plan.go.release();
    QVERIFY(owner.join());
    QVERIFY(!finished);
    QVERIFY2(!itemRan, "an item started after the wait's deadline had passed");
}

QTEST_GUILESS_MAIN(TestInterleavings)
#include "tst_interleavings.moc"

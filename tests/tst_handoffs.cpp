// Work that crosses between the executors of a thread and down a chain:
//  - X2: postLatest keeps replacing an item after it moved down the chain, for every kind of
//    hand-off, over several hops, and to an executor on another thread;
//  - X3: invoke serves every live executor of the waiting thread, not only the newest, and one
//    made during the wait.
// First written from an adversarial tester's report (docs/reliability.md) and widened to the
// whole class of each failure. Long chains of executors (C11) are in tst_chains.cpp.
//
// Threads are ordered with Semaphore hand-offs, never sleeps; every thread is joined with a
// time limit.

#include <qdispatch/currentthreadexecutor.h>

#include "testsupport.h"

#include <QtCore/QDeadlineTimer>
#include <QtCore/QFuture>
#include <QtCore/QPromise>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

using namespace qdispatch;
using namespace qdispatchtest;

class TestHandOffs : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void x2_postLatestReplacesAfterHandOff_data();
    void x2_postLatestReplacesAfterHandOff();
    void x2_postLatestHandOffToAnotherThread_data();
    void x2_postLatestHandOffToAnotherThread();
    void x2_postLatestHandOffMeetsAQueuedKey();
    void x3_invokeServesEveryLiveExecutor_data();
    void x3_invokeServesEveryLiveExecutor();
    void x3_invokeServesAnExecutorCreatedDuringTheWait();
    void x3_invokeTurnsFromASlowFloodWithinATimeSlice();
};

// X2: "an item moved down the chain stays replaceable by its key in the executor where it now
// sits": inner.postLatest(k, v1); inner breaks (shutdown here or elsewhere, destruction, its
// thread ends) and v1 moves to outer, over one or two hops; then postLatest(k, ...) sent to
// outer directly, or routed there from the broken executor, replaces v1: only the last value
// runs, and every replaced callable is destroyed without running.
void TestHandOffs::x2_postLatestReplacesAfterHandOff_data()
{
    QTest::addColumn<int>(
        "how"); // 0 shutdown on owner, 1 shutdown elsewhere, 2 destroyed, 3 thread ends
    QTest::addColumn<int>("hops");
    QTest::addColumn<int>("sendVia"); // 0 outer, 1 the broken executor, 2 both in turn
    const char *hows[] = { "shutdown", "shutdownElsewhere", "destroyed", "threadEnds" };
    const char *vias[] = { "viaOuter", "viaBroken", "viaBoth" };
    for (int how = 0; how < 4; ++how)
        for (int hops = 1; hops <= 3; ++hops)
            for (int via = 0; via < 3; ++via) {
                if (how == 2 && via != 0)
                    continue; // a destroyed executor cannot be called
                QTest::addRow("%s-%dhops-%s", hows[how], hops, vias[via]) << how << hops << via;
            }
}

void TestHandOffs::x2_postLatestReplacesAfterHandOff()
{
    QFETCH(int, how);
    QFETCH(int, hops);
    QFETCH(int, sendVia);
    static const char key = 0;
    std::vector<int> ran;
    std::atomic<int> alive { 0 };
    struct Value
    {
        int v;
        std::vector<int> *ran;
        std::atomic<int> *alive;
        Value(int v, std::vector<int> *ran, std::atomic<int> *alive) : v(v), ran(ran), alive(alive)
        {
            ++*alive;
        }
        Value(const Value &o) : v(o.v), ran(o.ran), alive(o.alive) { ++*alive; }
        ~Value() { --*alive; }
        void operator()() const { ran->push_back(v); }
    };

    CurrentThreadExecutor outer;
    // chain[0] is the newest (the one postLatest goes to first); each links to the next, the
    // last to outer. All of them break, newest first, so v1 travels `hops` hops.
    std::vector<std::unique_ptr<CurrentThreadExecutor>> chain(static_cast<size_t>(hops));
    std::unique_ptr<AnyThread> owner;
    Semaphore built, breakNow, broken;
    if (how == 3) {
        // The chain lives on a thread that ends; the test thread destroys it afterwards.
        owner = std::make_unique<AnyThread>(true, [&] {
            CurrentThreadExecutor *older = &outer;
            for (int i = hops - 1; i >= 0; --i) {
                chain[size_t(i)] = std::make_unique<CurrentThreadExecutor>(older);
                older = chain[size_t(i)].get();
            }
            chain[0]->postLatest(&key, Value(1, &ran, &alive));
            built.release();
        });
        QVERIFY(built.tryAcquire(1, kHandshakeMs));
        QVERIFY(owner->join()); // the thread ended: every executor of the chain broke (C10)
    } else {
        CurrentThreadExecutor *older = &outer;
        for (int i = hops - 1; i >= 0; --i) {
            chain[size_t(i)] = std::make_unique<CurrentThreadExecutor>(older);
            older = chain[size_t(i)].get();
        }
        chain[0]->postLatest(&key, Value(1, &ran, &alive));
        for (auto &ex : chain) {
            if (how == 0) {
                ex->shutdown();
            } else if (how == 1) {
                AnyThread elsewhere(false, [&] { ex->shutdown(); });
                QVERIFY(elsewhere.join());
            } else {
                ex.reset();
            }
        }
    }
    for (auto &ex : chain)
        QVERIFY(!ex || ex->isBroken());
    QCOMPARE(outer.isBroken(), false);
    QCOMPARE(ran.size(), size_t(0));

    int value = 2;
    if (sendVia == 0 || sendVia == 2)
        outer.postLatest(&key, Value(value++, &ran, &alive));
    if (sendVia == 1 || sendVia == 2) {
        for (auto &ex : chain)
            ex->postLatest(&key, Value(value++, &ran, &alive));
    }
    // Every replaced callable is gone already (destroyed by the replacing call); one is queued.
    QCOMPARE(alive.load(), 1);
    drain(outer, RunMode::ExecutorOnly);
    QCOMPARE(ran, std::vector<int> { value - 1 });
    QCOMPARE(alive.load(), 0);
    chain.clear();
}

// X2 across threads: the broken executor's owner is the test thread, outer lives on another
// thread; postLatest sent from a third thread to the broken one routes to outer and replaces.
void TestHandOffs::x2_postLatestHandOffToAnotherThread_data()
{
    addRows<bool>("destroy", { { "shutdown", false }, { "destroyed", true } });
}

void TestHandOffs::x2_postLatestHandOffToAnotherThread()
{
    QFETCH(bool, destroy);
    static const char key = 0;
    std::vector<int> ran; // outer's thread only, read after it ended
    CurrentThreadExecutor *outerPtr = nullptr;
    Semaphore outerReady, sent, drained;
    AnyThread outerThread(true, [&] {
        CurrentThreadExecutor outer;
        outerPtr = &outer;
        outerReady.release();
        if (!sent.tryAcquire(1, kHandshakeMs))
            return;
        drain(outer, RunMode::ExecutorOnly);
        drained.release();
    });
    QVERIFY(outerReady.tryAcquire(1, kHandshakeMs));
    auto inner = std::make_unique<CurrentThreadExecutor>(outerPtr);
    inner->postLatest(&key, [&ran] { ran.push_back(1); });
    if (destroy)
        inner.reset();
    else
        inner->shutdown();
    AnyThread third(false, [&] {
        outerPtr->postLatest(&key, [&ran] { ran.push_back(2); });
        if (inner)
            inner->postLatest(&key, [&ran] { ran.push_back(3); });
    });
    QVERIFY(third.join());
    sent.release();
    QVERIFY(drained.tryAcquire(1, kHandshakeMs));
    QVERIFY(outerThread.join());
    QCOMPARE(ran, std::vector<int> { destroy ? 2 : 3 });
}

// X2 with C4: outer already holds a queued item with the key when inner's item with the same
// key arrives behind it. Both stay queued in order; a later postLatest replaces the one that
// runs last, so the newest value still runs last and the handed-off value never runs.
void TestHandOffs::x2_postLatestHandOffMeetsAQueuedKey()
{
    static const char key = 0;
    std::vector<int> ran;
    CurrentThreadExecutor outer;
    auto inner = std::make_unique<CurrentThreadExecutor>(&outer);
    outer.postLatest(&key, [&ran] { ran.push_back(0); });
    inner->postLatest(&key, [&ran] { ran.push_back(1); });
    inner.reset();
    outer.postLatest(&key, [&ran] { ran.push_back(2); });
    drain(outer, RunMode::ExecutorOnly);
    QVERIFY(!ran.empty());
    QCOMPARE(ran.back(), 2);
    QVERIFY(std::find(ran.begin(), ran.end(), 1) == ran.end());
    QVERIFY(ran.size() <= 2);
}

// X3: "while invoke waits, it serves every live executor of the calling thread (not only the
// newest)": a worker with 2 or 3 live executors (chained to each other or not) invokes on the
// test thread; that item sends work back to the worker through each of its executors in turn
// and waits for it (with a time limit); it must run.
void TestHandOffs::x3_invokeServesEveryLiveExecutor_data()
{
    addColumns<int, int, bool, RunMode>({ "count", "via", "chained", "ownerMode" });
    for (int count : { 2, 3 })
        for (int via = 0; via < count; ++via)
            for (bool chained : { true, false })
                for (RunMode mode : { RunMode::AllEvents, RunMode::ExecutorOnly })
                    QTest::addRow("%d-executors-via%d-%s-%s", count, via,
                                  chained ? "chained" : "unchained", modeName(mode))
                        << count << via << chained << mode;
}

void TestHandOffs::x3_invokeServesEveryLiveExecutor()
{
    QFETCH(int, count);
    QFETCH(int, via);
    QFETCH(bool, chained);
    QFETCH(RunMode, ownerMode);
    CurrentThreadExecutor gui;
    std::atomic<int> result { -1 };
    std::atomic<bool> ranOnWorker { false };
    StartedPromise<void> workerDone;
    AnyThread worker(true, [&] {
        std::vector<std::unique_ptr<CurrentThreadExecutor>> mine;
        for (int i = 0; i < count; ++i)
            mine.push_back(std::make_unique<CurrentThreadExecutor>(
                chained && i > 0 ? mine.back().get() : nullptr));
        QThread *const self = QThread::currentThread();
        CurrentThreadExecutor &target = *mine[size_t(via)];
        try {
            result = gui.invoke([&] {
                Semaphore ran;
                QFuture<void> back = target.submit([&] {
                    ranOnWorker = QThread::currentThread() == self;
                    ran.release();
                });
                return ran.tryAcquire(1, kServeMs) ? 1 : 0;
            });
        } catch (...) {
            result = -2;
        }
        // Whatever did not run inside the wait runs now, before the executors go.
        for (auto &ex : mine)
            drain(*ex, RunMode::ExecutorOnly);
        while (!mine.empty())
            mine.pop_back();
        workerDone.finish();
    });
    QVERIFY(gui.runUntilFuture(workerDone.future(), QDeadlineTimer(kJoinMs), ownerMode));
    QVERIFY(worker.join());
    QVERIFY2(result.load() == 1,
             "X3: work sent back through an older live executor did not run while invoke "
             "waited");
    QVERIFY(ranOnWorker.load());
}

// X3: an executor that an item creates on the waiting thread while invoke waits (and keeps
// after the item returns) is a live executor of that thread too: work sent to it still runs.
void TestHandOffs::x3_invokeServesAnExecutorCreatedDuringTheWait()
{
    CurrentThreadExecutor gui;
    std::atomic<int> result { -1 };
    StartedPromise<void> workerDone;
    std::unique_ptr<CurrentThreadExecutor> created; // made on the worker, inside its wait
    Semaphore createdReady;
    AnyThread worker(true, [&] {
        auto outer = std::make_unique<CurrentThreadExecutor>();
        auto inner = std::make_unique<CurrentThreadExecutor>(outer.get());
        try {
            result = gui.invoke([&] {
                // Ask the worker (now waiting) to make a new executor, through its newest one.
                inner->submit([&] {
                    created = std::make_unique<CurrentThreadExecutor>();
                    createdReady.release();
                });
                if (!createdReady.tryAcquire(1, kServeMs))
                    return -3;
                Semaphore ran;
                created->submit([&] { ran.release(); });
                return ran.tryAcquire(1, kServeMs) ? 1 : 0;
            });
        } catch (...) {
            result = -2;
        }
        if (created)
            drain(*created, RunMode::ExecutorOnly);
        created.reset();
        drain(*inner, RunMode::ExecutorOnly);
        inner.reset();
        outer.reset();
        workerDone.finish();
    });
    QVERIFY(
        gui.runUntilFuture(workerDone.future(), QDeadlineTimer(kJoinMs), RunMode::ExecutorOnly));
    QVERIFY(worker.join());
    QCOMPARE(result.load(), 1);
}

// X3, "a flood on one executor cannot starve the others": while invoke() waits, a worker's newer
// executor holds a flood of slow items, each re-posting the next, and the item on the test thread
// sends work back through the worker's older executor. Each flood item sleeps 5 ms, longer than
// a drain's time slice (4 ms), so a turn on the flooded executor ends after one item and the
// older one comes next: at most a couple of flood items may run between the work being queued
// and it starting. Counted in items, not time (a sleep is never shorter than asked); a turn of 64
// items made it wait for about 64.
void TestHandOffs::x3_invokeTurnsFromASlowFloodWithinATimeSlice()
{
    constexpr int kMostFloodItemsBetween = 3;
    constexpr int kGenerations = 200; // a second and more: longer than a turn of 64 items
    CurrentThreadExecutor gui;
    std::atomic<int> floodRan { 0 };
    std::atomic<bool> stopFlood { false };
    std::atomic<int> queuedAt { -1 };
    std::atomic<int> startedAt { -1 };
    std::atomic<int> result { -1 };
    StartedPromise<void> workerDone;
    AnyThread worker(true, [&] {
        CurrentThreadExecutor older;
        CurrentThreadExecutor newer; // invoke()'s wait sleeps on this one, and serves it first
        struct Flood
        {
            CurrentThreadExecutor *ex;
            std::atomic<int> *ran;
            std::atomic<bool> *stop;
            int left;
            void operator()() const
            {
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
                ran->fetch_add(1);
                if (left > 0 && !stop->load())
                    ex->post(Flood { ex, ran, stop, left - 1 });
            }
        };
        newer.post(Flood { &newer, &floodRan, &stopFlood, kGenerations });
        try {
            result = gui.invoke([&] {
                Semaphore ran;
                queuedAt = floodRan.load();
                older.post([&] {
                    startedAt = floodRan.load();
                    stopFlood = true;
                    ran.release();
                });
                return ran.tryAcquire(1, kServeMs) ? 1 : 0;
            });
        } catch (...) {
            result = -2;
        }
        stopFlood = true;
        drain(newer, RunMode::ExecutorOnly);
        drain(older, RunMode::ExecutorOnly);
        workerDone.finish();
    });
    QVERIFY(
        gui.runUntilFuture(workerDone.future(), QDeadlineTimer(kJoinMs), RunMode::ExecutorOnly));
    QVERIFY(worker.join());
    QCOMPARE(result.load(), 1);
    const int between = startedAt.load() - queuedAt.load();
    QVERIFY2(between <= kMostFloodItemsBetween,
             qPrintable(QStringLiteral("X3: %1 slow flood items ran on the newer executor between "
                                       "the work sent back through the older one being queued and "
                                       "it starting")
                            .arg(between)));
}

QTEST_GUILESS_MAIN(TestHandOffs)
#include "tst_handoffs.moc"

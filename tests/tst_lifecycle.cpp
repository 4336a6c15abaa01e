// C10, C11: when an executor becomes broken (shutdown(), destruction, the end of its owner
// thread), that it stays broken, and where work sent to it goes then: down the chain of old
// executors, or nowhere (Broken). What happens to the work it still holds, and where it may be
// destroyed (C12, C13), is in tst_shutdown.cpp. Threads are ordered with semaphores (never
// sleeps) and joined with a timeout; every callable is a Probe (tests/support/lifecycle.h) that
// records where it ran and where it was destroyed.
#include <qdispatch/currentthreadexecutor.h>

#include "lifecycle.h"
#include "messages.h"
#include "testsupport.h"

#include <QtCore/QDeadlineTimer>
#include <QtCore/QList>
#include <QtCore/QPromise>
#include <QtCore/QStringList>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <atomic>
#include <exception>
#include <memory>
#include <thread>
#include <utility>

using namespace qdispatch;
using namespace qdispatchtest;

class TestLifecycle : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void c10_brokenAfterShutdown();
    void c10_brokenDuringDestruction();
    void c10_brokenAfterOwnerFinished_data();
    void c10_brokenAfterOwnerFinished();
    void c10_brokenIsFinal();
    void c10_brokenIsFinalAcrossQThreadRestart();
    void c10_waitingNeverBreaks_data();
    void c10_waitingNeverBreaks();

    void c11_chainOfThree();
    void c11_oldDestroyedFirstIsSkipped();
    void c11_noneLeftThrowsBroken();
};

void TestLifecycle::c10_brokenAfterShutdown()
{
    CurrentThreadExecutor executor;
    QVERIFY(!executor.isBroken());
    executor.shutdown();
    QVERIFY(executor.isBroken());
    executor.shutdown(); // idempotent
    QVERIFY(executor.isBroken());

    // Seen from another thread too, and a submit there finds nothing alive.
    bool seenBroken = false;
    auto journal = std::make_shared<Journal>();
    Submitted submitted;
    onWorker([&] {
        seenBroken = executor.isBroken();
        submitted = submitProbes(&executor, journal, { 0 });
    });
    QVERIFY(seenBroken);
    QCOMPARE(submitted.brokenErrors, 1);

    // shutdown() is thread-safe: called on a thread that is not the (still running) owner.
    BlockedOwner owner(false);
    QVERIFY(owner.waitReady());
    QVERIFY(!owner.executor()->isBroken());
    owner.executor()->shutdown();
    QVERIFY(owner.executor()->isBroken());
    QVERIFY(owner.finish());
    QVERIFY(owner.executor()->isBroken());
}

void TestLifecycle::c10_brokenDuringDestruction()
{
    // An item that never runs is destroyed inside ~CurrentThreadExecutor (C12). Its destructor
    // holds the destruction there until another thread has looked at the executor.
    struct HoldDestruction
    {
        CurrentThreadExecutor *executor;
        Semaphore *inDestructor;
        Semaphore *observed;
        bool *ownerSawBroken;
        bool live = true;

        HoldDestruction(CurrentThreadExecutor *e, Semaphore *in, Semaphore *seen, bool *saw)
            : executor(e), inDestructor(in), observed(seen), ownerSawBroken(saw)
        { }
        HoldDestruction(HoldDestruction &&other) noexcept
            : executor(other.executor), inDestructor(other.inDestructor), observed(other.observed),
              ownerSawBroken(other.ownerSawBroken)
        {
            other.live = false;
        }
        ~HoldDestruction()
        {
            if (!live)
                return;
            *ownerSawBroken = executor->isBroken();
            inDestructor->release();
            observed->tryAcquire(1, kHandshakeMs);
        }
        int operator()() { return 1; }
    };

    auto executor = std::make_unique<CurrentThreadExecutor>();
    CurrentThreadExecutor *raw = executor.get();
    Semaphore inDestructor, observed;
    bool ownerSawBroken = false;
    std::atomic<bool> observerSawBroken { false };
    std::atomic<int> observerSubmit { -1 }; // 0: threw Broken, 1: was accepted, 2: other error

    std::unique_ptr<QThread> observer(QThread::create([&] {
        if (!inDestructor.tryAcquire(1, kHandshakeMs))
            return;
        observerSawBroken = raw->isBroken();
        try {
            raw->submit([] { return 0; });
            observerSubmit = 1;
        } catch (const ExecutorError &error) {
            observerSubmit = error.code() == ExecutorError::Code::Broken ? 0 : 2;
        } catch (...) {
            observerSubmit = 2;
        }
        observed.release();
    }));
    observer->start();

    QFuture<int> queued;
    onWorker([&] {
        queued = raw->submit(HoldDestruction(raw, &inDestructor, &observed, &ownerSawBroken));
    });
    QVERIFY(!raw->isBroken());

    executor.reset();
    QVERIFY(observer->wait(joinDeadline()));
    QVERIFY(ownerSawBroken);
    QVERIFY(observerSawBroken.load());
    QCOMPARE(observerSubmit.load(), 0);
    VERIFY_NO_PROBLEM(brokenProblem(queued));
}

void TestLifecycle::c10_brokenAfterOwnerFinished_data()
{
    addThreadKindRows();
}

void TestLifecycle::c10_brokenAfterOwnerFinished()
{
    QFETCH(bool, useQThread);
    BlockedOwner owner(useQThread);
    QVERIFY(owner.waitReady());
    CurrentThreadExecutor *executor = owner.executor();
    QCOMPARE(executor->thread(), owner.qthread());
    QVERIFY(!executor->isBroken()); // the owner still runs
    QVERIFY(owner.finish()); // QThread: right after wait(); std::thread: after join()
    QVERIFY(executor->isBroken());

    auto journal = std::make_shared<Journal>();
    const Submitted submitted = submitProbes(executor, journal, { 0 });
    QCOMPARE(submitted.brokenErrors, 1);
    QCOMPARE(journal->alive.load(), 0);
}

void TestLifecycle::c10_brokenIsFinal()
{
    CurrentThreadExecutor executor;
    executor.shutdown();

    // Waiting on it does not revive it.
    StartedPromise<void> done;
    done.finish();
    executor.runUntilFuture(done.future(), RunMode::ExecutorOnly);
    QVERIFY(executor.isBroken());

    // Nor does a newer executor of the same thread chained to it, which works normally.
    auto journal = std::make_shared<Journal>();
    {
        CurrentThreadExecutor newer(&executor);
        const Submitted submitted = submitProbesFromWorker(&newer, journal, { 0 });
        QCOMPARE(submitted.futures.size(), 1);
        newer.runUntilFuture(submitted.futures.first(), RunMode::ExecutorOnly);
        QCOMPARE(submitted.futures.first().result(), 0);
        QCOMPARE(journal->ranOn(0), QThread::currentThread());
        QVERIFY(executor.isBroken());
    }
    executor.shutdown();
    QVERIFY(executor.isBroken());
    const Submitted later = submitProbesFromWorker(&executor, journal, { 1 });
    QCOMPARE(later.brokenErrors, 1);
    QCOMPARE(journal->callOrder(), QList<int> { 0 });
}

void TestLifecycle::c10_brokenIsFinalAcrossQThreadRestart()
{
    // A QThread object can be started again: a new run of the same QThread is not the owner
    // thread coming back, so the executor made by the first run stays broken.
    // (QThread::create's thread cannot run twice, hence a subclass.)
    class TwoRuns : public QThread
    {
    public:
        std::atomic<int> runs { 0 };
        std::unique_ptr<CurrentThreadExecutor> executor;
        Semaphore secondRunStarted, endSecondRun;
        Semaphore firstRunReturned; // for ThreadSanitizer, see releasingOnReturn()
        ~TwoRuns() override
        {
            endSecondRun.release();
            wait();
        }

    protected:
        void run() override
        {
            if (runs.fetch_add(1) == 0) {
                executor = std::make_unique<CurrentThreadExecutor>();
                firstRunReturned.release();
            } else {
                secondRunStarted.release();
                endSecondRun.tryAcquire(1, kHandshakeMs);
            }
        }
    };
    auto thread = std::make_unique<TwoRuns>();
    std::unique_ptr<CurrentThreadExecutor> &executor = thread->executor;
    Semaphore &secondRunStarted = thread->secondRunStarted;
    Semaphore &endSecondRun = thread->endSecondRun;
    thread->start();
    QVERIFY(thread->firstRunReturned.tryAcquire(1, kHandshakeMs));
    QVERIFY(thread->wait(joinDeadline()));
    QVERIFY(executor);
    QVERIFY(executor->isBroken());

    thread->start();
    QVERIFY(secondRunStarted.tryAcquire(1, kHandshakeMs));
    QCOMPARE(executor->thread(), thread.get());
    QVERIFY(executor->isBroken());
    auto journal = std::make_shared<Journal>();
    const Submitted submitted = submitProbes(executor.get(), journal, { 0 });
    QCOMPARE(submitted.brokenErrors, 1);
    QCOMPARE(journal->alive.load(), 0);
    endSecondRun.release();
    QVERIFY(thread->wait(joinDeadline()));
    QVERIFY(executor->isBroken());

    MessageLog log;
    executor.reset();
    const QStringList messages = log.texts();
    QVERIFY2(messages.isEmpty(), qPrintable(messages.join(QLatin1Char('\n'))));
}

void TestLifecycle::c10_waitingNeverBreaks_data()
{
    addModeRows();
}

void TestLifecycle::c10_waitingNeverBreaks()
{
    QFETCH(RunMode, mode);
    CurrentThreadExecutor executor;
    auto journal = std::make_shared<Journal>();

    // asgiref breaks its executor when the awaited future completes; here it stays usable.
    for (int round = 0; round < 3; ++round) {
        const Submitted submitted = submitProbesFromWorker(&executor, journal, { round });
        QCOMPARE(submitted.futures.size(), 1);
        executor.runUntilFuture(submitted.futures.first(), mode);
        QVERIFY(!executor.isBroken());
        QCOMPARE(submitted.futures.first().result(), round);
        QCOMPARE(journal->ranOn(round), executor.thread());
    }

    // An already finished future, and a deadline that passes first, do not break it either.
    StartedPromise<void> done;
    done.finish();
    executor.runUntilFuture(done.future(), mode);
    QVERIFY(!executor.isBroken());
    StartedPromise<void> never;
    QVERIFY(!executor.runUntilFuture(never.future(), QDeadlineTimer(1), mode));
    QVERIFY(!executor.isBroken());
    never.finish();

    const Submitted after = submitProbesFromWorker(&executor, journal, { 3 });
    QCOMPARE(after.futures.size(), 1);
    QVERIFY(executor.runUntilFuture(after.futures.first(), joinDeadline(), mode));
    QCOMPARE(after.futures.first().result(), 3);
    QCOMPARE(journal->callOrder(), (QList<int> { 0, 1, 2, 3 }));
}

void TestLifecycle::c11_chainOfThree()
{
    // E1 on a QThread running an event loop; E2 (old = E1) and E3 (old = E2) on this thread.
    LoopThread t1(WithExecutor {});
    CurrentThreadExecutor *e1 = t1.startAndWait();
    QVERIFY(e1);
    QCOMPARE(e1->thread(), &t1);
    auto e2 = std::make_unique<CurrentThreadExecutor>(e1);
    CurrentThreadExecutor e3(e2.get());
    QCOMPARE(e2->oldExecutor(), e1);
    QCOMPARE(e3.oldExecutor(), e2.get());

    // Queued on E2 while this thread runs no events.
    auto journal = std::make_shared<Journal>();
    const Submitted onE2 = submitProbesFromWorker(e2.get(), journal, { 0, 1, 2, 3, 4 });
    QCOMPARE(onE2.futures.size(), 5);
    QCOMPARE(journal->called.available(), 0);

    // The middle one shuts down: its queue moves, in order, to E1 and runs on E1's thread.
    e2->shutdown();
    QVERIFY(e2->isBroken());
    QVERIFY(!e1->isBroken());
    QVERIFY(!e3.isBroken());
    QVERIFY(journal->destroyed.tryAcquire(5, kHandshakeMs));
    QCOMPARE(journal->callOrder(), (QList<int> { 0, 1, 2, 3, 4 }));
    for (int id = 0; id < 5; ++id) {
        QCOMPARE(journal->ranOn(id), e1->thread());
        QCOMPARE(journal->diedOn(id), e1->thread()); // C12: destroyed where it ran
        QCOMPARE(onE2.futures.at(id).result(), id);
    }

    // Later submits to the broken E2 go down the chain.
    const Submitted laterOnE2 = submitProbesFromWorker(e2.get(), journal, { 5, 6 });
    QCOMPARE(laterOnE2.futures.size(), 2);
    QVERIFY(journal->destroyed.tryAcquire(2, kHandshakeMs));
    QCOMPARE(journal->ranOn(5), e1->thread());
    QCOMPARE(journal->ranOn(6), e1->thread());

    // E3 is alive: its items still run on its own thread.
    const Submitted onE3 = submitProbesFromWorker(&e3, journal, { 7 });
    QCOMPARE(onE3.futures.size(), 1);
    QVERIFY(e3.runUntilFuture(onE3.futures.first(), joinDeadline()));
    QCOMPARE(journal->ranOn(7), QThread::currentThread());
    QVERIFY(journal->destroyed.tryAcquire(1, kHandshakeMs));

    // E3 shut down with items queued: they skip the broken E2 and run on E1.
    const Submitted queuedOnE3 = submitProbesFromWorker(&e3, journal, { 8, 9 });
    QCOMPARE(queuedOnE3.futures.size(), 2);
    e3.shutdown();
    QVERIFY(journal->destroyed.tryAcquire(2, kHandshakeMs));
    QCOMPARE(journal->ranOn(8), e1->thread());
    QCOMPARE(journal->ranOn(9), e1->thread());
    QCOMPARE(journal->callOrder(), (QList<int> { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }));

    // E1's thread ends (E1 is destroyed there): none is left, nothing is queued.
    QVERIFY(t1.stop());
    QCOMPARE(e2->oldExecutor(), nullptr);
    const Submitted none = submitProbesFromWorker(&e3, journal, { 10 });
    QCOMPARE(none.brokenErrors, 1);
    QCOMPARE(none.futures.size(), 0);
    QCOMPARE(journal->ranOn(10), nullptr);
    QCOMPARE(journal->alive.load(), 0);
    QCOMPARE(journal->called.available(), 10);
}

void TestLifecycle::c11_oldDestroyedFirstIsSkipped()
{
    // E1 lives on a thread that waits in RunMode::ExecutorOnly until `stop` finishes.
    StartedPromise<void> stop;
    const QFuture<void> stopped = stop.future();
    Semaphore ready;
    CurrentThreadExecutor *e1 = nullptr;
    std::unique_ptr<QThread> t1(QThread::create([&, stopped] {
        CurrentThreadExecutor executor;
        e1 = &executor;
        ready.release();
        executor.runUntilFuture(stopped, RunMode::ExecutorOnly);
    }));
    t1->start();
    // Lets t1 end however this test ends (~QThread of QThread::create waits for it).
    const FinishOnExit stopOnExit { stop };
    QVERIFY(ready.tryAcquire(1, kHandshakeMs));

    auto e2 = std::make_unique<CurrentThreadExecutor>(e1);
    CurrentThreadExecutor e3(e2.get());
    auto journal = std::make_shared<Journal>();
    const Submitted onE2 = submitProbesFromWorker(e2.get(), journal, { 0, 1, 2 });
    const Submitted onE3 = submitProbesFromWorker(&e3, journal, { 3, 4 });
    QCOMPARE(onE2.futures.size(), 3);
    QCOMPARE(onE3.futures.size(), 2);
    QCOMPARE(journal->called.available(), 0);

    // E2, older than E3, is destroyed first (on its owner: silent); its items go to E1.
    {
        MessageLog log;
        e2.reset();
        const QStringList messages = log.texts();
        QVERIFY2(messages.isEmpty(), qPrintable(messages.join(QLatin1Char('\n'))));
    }
    QCOMPARE(e3.oldExecutor(), nullptr);
    QVERIFY(!e3.isBroken());
    QVERIFY(journal->destroyed.tryAcquire(3, kHandshakeMs));
    QCOMPARE(journal->callOrder(), (QList<int> { 0, 1, 2 }));
    for (int id = 0; id < 3; ++id)
        QCOMPARE(journal->ranOn(id), t1.get());

    // E3 breaks: its chain skips the destroyed E2 and reaches E1.
    e3.shutdown();
    QVERIFY(journal->destroyed.tryAcquire(2, kHandshakeMs));
    QCOMPARE(journal->callOrder(), (QList<int> { 0, 1, 2, 3, 4 }));
    QCOMPARE(journal->ranOn(3), t1.get());
    QCOMPARE(journal->ranOn(4), t1.get());
    QCOMPARE(onE3.futures.at(1).result(), 4);
    const Submitted later = submitProbesFromWorker(&e3, journal, { 5 });
    QCOMPARE(later.futures.size(), 1);
    QVERIFY(journal->destroyed.tryAcquire(1, kHandshakeMs));
    QCOMPARE(journal->ranOn(5), t1.get());

    stop.finish();
    QVERIFY(t1->wait(joinDeadline()));
    const Submitted none = submitProbesFromWorker(&e3, journal, { 6 });
    QCOMPARE(none.brokenErrors, 1);
    QCOMPARE(journal->ranOn(6), nullptr);
    QCOMPARE(journal->alive.load(), 0);
}

void TestLifecycle::c11_noneLeftThrowsBroken()
{
    auto e1 = std::make_unique<CurrentThreadExecutor>();
    CurrentThreadExecutor e2(e1.get());
    QCOMPARE(e2.oldExecutor(), e1.get());
    e1.reset();
    QCOMPARE(e2.oldExecutor(), nullptr);

    auto journal = std::make_shared<Journal>();
    const Submitted queued = submitProbesFromWorker(&e2, journal, { 0, 1 });
    QCOMPARE(queued.futures.size(), 2);
    e2.shutdown(); // the chain has only the destroyed E1: the queued items fail (C12)
    VERIFY_NO_PROBLEM(brokenProblem(queued.futures));

    // A submit now throws Broken and queues nothing: neither the callable nor a move-only
    // argument is called or kept.
    std::atomic<int> otherErrors { 0 };
    std::atomic<int> brokenErrors { 0 };
    QString message;
    onWorker([&] {
        try {
            e2.submit(Probe(journal, 2));
        } catch (const ExecutorError &error) {
            (error.code() == ExecutorError::Code::Broken ? brokenErrors : otherErrors)++;
            message = QString::fromUtf8(error.what());
        }
        try {
            e2.submit([](Probe probe) { return probe(); }, Probe(journal, 3));
        } catch (const ExecutorError &error) {
            (error.code() == ExecutorError::Code::Broken ? brokenErrors : otherErrors)++;
        }
    });
    QCOMPARE(brokenErrors.load(), 2);
    QCOMPARE(otherErrors.load(), 0);
    QVERIFY2(message.contains(QLatin1String("broken")), qPrintable(message));
    QCOMPARE(journal->called.available(), 0);
    QCOMPARE(journal->alive.load(), 0);
    QCOMPARE(journal->destroyed.available(), 4);
}

QTEST_GUILESS_MAIN(TestLifecycle)
#include "tst_lifecycle.moc"

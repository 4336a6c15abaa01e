// Tests for CurrentThreadExecutor::invoke (X3) and CurrentThreadExecutor::current() (X4).
// Every test names the rule it guards. Threads are ordered with Semaphore hand-offs (never
// sleeps); every worker thread is joined with a timeout, so a deadlock shows as a failure.

#include <qdispatch/currentthreadexecutor.h>

#include "testsupport.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QFuture>
#include <QtCore/QPromise>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

// A deadlock blocks the test thread itself, so no QVERIFY can report it; this turns it into a
// loud failure (with every thread's stack from QtTest's crash handler) instead of a hang.
class Watchdog
{
public:
    explicit Watchdog(const char *what, int ms = kJoinMs + 10000)
        : m_thread([this, what, ms] {
              if (!m_done.tryAcquire(1, ms))
                  qFatal("tst_invoke: %s still blocked after %d ms: deadlock", what, ms);
          })
    { }
    ~Watchdog()
    {
        m_done.release();
        m_thread.join();
    }
    Watchdog(const Watchdog &) = delete;
    Watchdog &operator=(const Watchdog &) = delete;

private:
    Semaphore m_done;
    std::thread m_thread;
};

struct MyError : std::runtime_error
{
    explicit MyError(const std::string &what, int tag) : std::runtime_error(what), tag(tag) { }
    int tag;
};

// What a worker saw when it called invoke(); checked on the test thread.
struct Outcome
{
    std::atomic<bool> returned { false };
    std::atomic<int> value { 0 };
    std::atomic<bool> caughtMyError { false };
    std::atomic<bool> caughtOther { false };
    std::string message; // published by the worker's end (Worker::join / finished)
    int tag = 0;
    QThread *worker = nullptr; // the thread that called invoke(), the same way
};

// Calls ex.invoke(args...) on a worker while this thread, ex's owner, serves ex, and records in
// `out` what invoke() gave back: its result, or what it threw.
template<typename... A> void invokeFromWorker(CurrentThreadExecutor &ex, Outcome &out, A &&...args)
{
    Worker worker([&] {
        out.worker = QThread::currentThread();
        try {
            out.value = ex.invoke(std::forward<A>(args)...);
            out.returned = true;
        } catch (const MyError &e) {
            out.caughtMyError = true;
            out.message = e.what();
            out.tag = e.tag;
        } catch (...) {
            out.caughtOther = true;
        }
    });
    QVERIFY(worker.serveAndJoin(ex));
}

} // namespace

class TestInvoke : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void x3_inlineOnOwnerThread();
    void x3_inlineOnOwnerThreadOvertakesQueuedItems();
    void x3_inlineOnOwnerThreadRethrows();
    void x3_inlineWhereBrokenChainLeadsToCallingThread_data();
    void x3_inlineWhereBrokenChainLeadsToCallingThread();
    void x3_fromWorkerReturnsResult();
    void x3_fromWorkerWithArguments();
    void x3_fromWorkerRethrowsItemException();
    void x3_fromWorkerMoveOnlyResult();
    void x3_fromWorkerVoidResult();
    void x3_fromWorkerOnBrokenChainThrowsBroken();
    void x3_workerWaitRunsItsOwnExecutor();
    void x3_pingPongGuiAndWorker();

    void x4_nullOnFreshThread();
    void x4_mainThreadSeesMainExecutor();
    void x4_newestLiveOnConstructingThread();
    void x4_olderOneAfterNewestIsDestroyed();
    void x4_olderOneAfterNewestIsShutDown();
    void x4_destroyingOlderFirstKeepsNewest();
    void x4_perThread();
};

// ---------------------------------------------------------------------------------------- X3

void TestInvoke::x3_inlineOnOwnerThread()
{
    CurrentThreadExecutor ex;
    int runs = 0;
    QThread *ranOn = nullptr;
    int result = 0;
    QVERIFY_THROWS_NO_EXCEPTION(result = ex.invoke(
                                    [&](int a, int b) {
                                        ++runs;
                                        ranOn = QThread::currentThread();
                                        return a * b;
                                    },
                                    6, 7));
    // Ran before invoke() returned, without anybody draining the executor.
    QCOMPARE(result, 42);
    QCOMPARE(runs, 1);
    QCOMPARE(ranOn, ex.thread());
    QCOMPARE(ranOn, QThread::currentThread());

    // Nothing was queued: a drain does not run it a second time.
    drain(ex);
    QCOMPARE(runs, 1);

    // Move-only result, inline.
    std::unique_ptr<int> p;
    QVERIFY_THROWS_NO_EXCEPTION(p = ex.invoke([] { return std::make_unique<int>(5); }));
    QVERIFY(p);
    QCOMPARE(*p, 5);
}

void TestInvoke::x3_inlineOnOwnerThreadOvertakesQueuedItems()
{
    CurrentThreadExecutor ex;
    std::vector<int> log;
    ex.post([&] { log.push_back(1); });
    QVERIFY_THROWS_NO_EXCEPTION(ex.invoke([&] { log.push_back(2); }));
    QCOMPARE(log, std::vector<int> { 2 }); // inline, not behind the queued item
    drain(ex);
    QCOMPARE(log, (std::vector<int> { 2, 1 }));
}

void TestInvoke::x3_inlineOnOwnerThreadRethrows()
{
    CurrentThreadExecutor ex;
    bool caught = false;
    try {
        ex.invoke([] { throw MyError("inline failure", 3); });
    } catch (const MyError &e) {
        caught = true;
        QCOMPARE(std::string(e.what()), std::string("inline failure"));
        QCOMPARE(e.tag, 3);
    } catch (...) {
        QFAIL("invoke() on the owner thread threw something else than the item's exception");
    }
    QVERIFY(caught);
}

void TestInvoke::x3_inlineWhereBrokenChainLeadsToCallingThread_data()
{
    addRows<bool, bool>("brokenOnAnotherThread", "throughHandle",
                        { { "own broken executor", false, false },
                          { "own broken executor, handle", false, true },
                          { "another thread's executor, destroyed", true, true } });
}

// X3: the item would run on this thread (the broken executor's chain leads to a live executor
// of this thread), so invoke() runs it inline instead of rejecting it as OwnThread or waiting.
void TestInvoke::x3_inlineWhereBrokenChainLeadsToCallingThread()
{
    QFETCH(bool, brokenOnAnotherThread);
    QFETCH(bool, throughHandle);
    CurrentThreadExecutor live;
    std::unique_ptr<CurrentThreadExecutor> mine;
    qdispatch::ExecutorHandle handle;
    if (brokenOnAnotherThread) {
        Worker other([&] {
            CurrentThreadExecutor theirs(&live);
            handle = theirs.handle();
        }); // destroyed there: broken, its chain leads here
        QVERIFY(other.join());
    } else {
        mine = std::make_unique<CurrentThreadExecutor>(&live);
        mine->shutdown();
        handle = mine->handle();
    }
    QVERIFY(handle.isBroken());

    std::vector<int> log;
    live.post([&] { log.push_back(1); }); // queued: an inline call overtakes it
    QThread *ranOn = nullptr;
    int result = 0;
    const auto fn = [&](int a) {
        ranOn = QThread::currentThread();
        log.push_back(2);
        return a * 2;
    };
    QVERIFY_THROWS_NO_EXCEPTION(result = (throughHandle || !mine) ? handle.invoke(fn, 21)
                                                                  : mine->invoke(fn, 21));
    QCOMPARE(result, 42);
    QCOMPARE(ranOn, QThread::currentThread());
    QCOMPARE(log, std::vector<int> { 2 });
    drain(live);
    QCOMPARE(log, (std::vector<int> { 2, 1 }));
}

void TestInvoke::x3_fromWorkerReturnsResult()
{
    CurrentThreadExecutor ex;
    std::atomic<QThread *> ranOn { nullptr };
    Outcome out;
    invokeFromWorker(ex, out, [&] {
        ranOn = QThread::currentThread();
        return 42;
    });
    QVERIFY(out.returned.load());
    QCOMPARE(out.value.load(), 42);
    QCOMPARE(ranOn.load(), ex.thread());
    QVERIFY(ranOn.load() != out.worker);
}

void TestInvoke::x3_fromWorkerWithArguments()
{
    CurrentThreadExecutor ex;
    Outcome out;
    const auto fn = [](int a, std::unique_ptr<int> b) {
        return QThread::currentThread() == QCoreApplication::instance()->thread() ? a + *b : -1;
    };
    invokeFromWorker(ex, out, fn, 40, std::make_unique<int>(2));
    QVERIFY(out.returned.load());
    QCOMPARE(out.value.load(), 42);
}

void TestInvoke::x3_fromWorkerRethrowsItemException()
{
    CurrentThreadExecutor ex;
    std::atomic<QThread *> ranOn { nullptr };
    Outcome out;
    invokeFromWorker(ex, out, [&]() -> int {
        ranOn = QThread::currentThread();
        throw MyError("item failed on purpose", 17);
    });
    QVERIFY(!out.returned.load());
    QVERIFY2(!out.caughtOther.load(), "invoke() rethrew an exception of another type");
    QVERIFY(out.caughtMyError.load());
    QCOMPARE(out.message, std::string("item failed on purpose"));
    QCOMPARE(out.tag, 17);
    QCOMPARE(ranOn.load(), ex.thread());

    // The executor goes on.
    Outcome next;
    invokeFromWorker(ex, next, [] { return 5; });
    QCOMPARE(next.value.load(), 5);
    QVERIFY(next.returned.load());
}

void TestInvoke::x3_fromWorkerMoveOnlyResult()
{
    CurrentThreadExecutor ex;
    std::unique_ptr<std::string> got;
    std::atomic<bool> returned { false };
    Worker worker([&] {
        got = ex.invoke([] { return std::make_unique<std::string>("move-only"); });
        returned = true;
    });
    QVERIFY(worker.serveAndJoin(ex));
    QVERIFY(returned.load());
    QVERIFY(got);
    QCOMPARE(*got, std::string("move-only"));
}

void TestInvoke::x3_fromWorkerVoidResult()
{
    CurrentThreadExecutor ex;
    int runs = 0;
    std::atomic<bool> returned { false };
    Worker worker([&] {
        ex.invoke([&] { ++runs; });
        returned = true; // invoke() returned only after the item ran
    });
    QVERIFY(worker.serveAndJoin(ex));
    QVERIFY(returned.load());
    QCOMPARE(runs, 1);
}

void TestInvoke::x3_fromWorkerOnBrokenChainThrowsBroken()
{
    CurrentThreadExecutor ex;
    ex.shutdown();
    std::atomic<bool> called { false };
    std::atomic<int> code { -1 };
    Worker worker([&] {
        try {
            ex.invoke([&] { called = true; });
        } catch (const ExecutorError &e) {
            code = int(e.code());
        }
    });
    QVERIFY(worker.join());
    QCOMPARE(code.load(), int(ExecutorError::Code::Broken));
    QVERIFY(!called.load());
}

// X3: while a worker with its own executor waits in invoke(), items sent to that worker still run.
void TestInvoke::x3_workerWaitRunsItsOwnExecutor()
{
    Watchdog watchdog("x3_workerWaitRunsItsOwnExecutor");
    CurrentThreadExecutor gui;
    std::atomic<QThread *> backOn { nullptr };
    Semaphore ready;
    Outcome out;
    Worker worker([&] {
        CurrentThreadExecutor w;
        ready.release();
        try {
            out.value = gui.invoke([&] {
                // Runs on the GUI thread while the worker is blocked in invoke(): the worker
                // must still run this.
                QFuture<int> back = w.submit([&] {
                    backOn = QThread::currentThread();
                    return 41;
                });
                gui.runUntilFuture(back, QDeadlineTimer(kJoinMs), RunMode::ExecutorOnly);
                return back.isFinished() ? back.result() + 1 : -1;
            });
            out.returned = true;
        } catch (...) {
            out.caughtOther = true;
        }
    });
    QVERIFY(ready.tryAcquire(1, kHandshakeMs));
    QVERIFY(worker.serveAndJoin(gui));
    QVERIFY(out.returned.load());
    QCOMPARE(out.value.load(), 42);
    QCOMPARE(backOn.load(), worker.thread());
}

// X3: the ping-pong that plain Qt (BlockingQueuedConnection both ways) deadlocks on.
void TestInvoke::x3_pingPongGuiAndWorker()
{
    constexpr int kRounds = 1000;
    Watchdog watchdog("x3_pingPongGuiAndWorker");
    CurrentThreadExecutor gui;
    QThread *const guiThread = QThread::currentThread();
    QCOMPARE(gui.thread(), guiThread);

    std::atomic<int> wrongThread { 0 };
    std::atomic<int> wrongResult { 0 };
    std::atomic<int> rounds { 0 };
    std::atomic<bool> caught { false };
    Worker worker([&] {
        CurrentThreadExecutor w;
        QThread *const workerThread = QThread::currentThread();
        try {
            for (int i = 0; i < kRounds; ++i) {
                const int r = gui.invoke([&, i] {
                    if (QThread::currentThread() != guiThread)
                        ++wrongThread;
                    // Back to the worker, which is blocked in gui.invoke() right now.
                    const int inner = w.invoke([&, i] {
                        if (QThread::currentThread() != workerThread)
                            ++wrongThread;
                        return 2 * i;
                    });
                    return inner + 1;
                });
                if (r != 2 * i + 1)
                    ++wrongResult;
                ++rounds;
            }
        } catch (...) {
            caught = true;
        }
    });
    QVERIFY2(gui.runUntilFuture(worker.finished(), QDeadlineTimer(kJoinMs)),
             "ping-pong did not finish: deadlock");
    QVERIFY(worker.join());
    QVERIFY(!caught.load());
    QCOMPARE(rounds.load(), kRounds);
    QCOMPARE(wrongResult.load(), 0);
    QCOMPARE(wrongThread.load(), 0);
}

// ---------------------------------------------------------------------------------------- X4

void TestInvoke::x4_nullOnFreshThread()
{
    std::atomic<bool> sawNull { false };
    std::atomic<bool> sawOwn { false };
    std::atomic<bool> nullAfter { false };
    Worker worker([&] {
        sawNull = CurrentThreadExecutor::current() == nullptr;
        {
            CurrentThreadExecutor ex;
            sawOwn = CurrentThreadExecutor::current() == &ex;
        }
        nullAfter = CurrentThreadExecutor::current() == nullptr;
    });
    QVERIFY(worker.join());
    QVERIFY(sawNull.load());
    QVERIFY(sawOwn.load());
    QVERIFY(nullAfter.load());
}

void TestInvoke::x4_mainThreadSeesMainExecutor()
{
    // The only executor constructed on this thread so far is the main-thread executor (X5).
    QVERIFY(qdispatch::mainThreadExecutor());
    QCOMPARE(CurrentThreadExecutor::current(), qdispatch::mainThreadExecutor());
}

void TestInvoke::x4_newestLiveOnConstructingThread()
{
    CurrentThreadExecutor *const before = CurrentThreadExecutor::current();
    {
        CurrentThreadExecutor a;
        QCOMPARE(CurrentThreadExecutor::current(), &a);
        CurrentThreadExecutor b(&a);
        QCOMPARE(CurrentThreadExecutor::current(), &b);
        // Newest by construction, not by chain: c has no old executor.
        CurrentThreadExecutor c;
        QCOMPARE(CurrentThreadExecutor::current(), &c);
    }
    QCOMPARE(CurrentThreadExecutor::current(), before);
}

void TestInvoke::x4_olderOneAfterNewestIsDestroyed()
{
    CurrentThreadExecutor a;
    auto b = std::make_unique<CurrentThreadExecutor>(&a);
    QCOMPARE(CurrentThreadExecutor::current(), b.get());
    b.reset();
    QCOMPARE(CurrentThreadExecutor::current(), &a);
}

void TestInvoke::x4_olderOneAfterNewestIsShutDown()
{
    CurrentThreadExecutor *const before = CurrentThreadExecutor::current();
    CurrentThreadExecutor a;
    CurrentThreadExecutor b(&a);
    QCOMPARE(CurrentThreadExecutor::current(), &b);
    b.shutdown();
    QCOMPARE(CurrentThreadExecutor::current(), &a);
    a.shutdown();
    QCOMPARE(CurrentThreadExecutor::current(), before);

    // Shut down from another thread: the owner thread's current() follows at once.
    CurrentThreadExecutor c;
    CurrentThreadExecutor d;
    QCOMPARE(CurrentThreadExecutor::current(), &d);
    Worker worker([&] { d.shutdown(); });
    QVERIFY(worker.join());
    QCOMPARE(CurrentThreadExecutor::current(), &c);
}

void TestInvoke::x4_destroyingOlderFirstKeepsNewest()
{
    CurrentThreadExecutor *const before = CurrentThreadExecutor::current();
    auto a = std::make_unique<CurrentThreadExecutor>();
    auto b = std::make_unique<CurrentThreadExecutor>(a.get());
    a.reset();
    QCOMPARE(CurrentThreadExecutor::current(), b.get());
    QCOMPARE(b->oldExecutor(), nullptr);
    b.reset();
    QCOMPARE(CurrentThreadExecutor::current(), before);
}

void TestInvoke::x4_perThread()
{
    CurrentThreadExecutor mine;
    QCOMPARE(CurrentThreadExecutor::current(), &mine);

    std::atomic<CurrentThreadExecutor *> seenByOther { &mine };
    std::atomic<bool> otherSawItsOwn { false };
    std::atomic<CurrentThreadExecutor *> seenByThird { &mine };
    Semaphore otherReady;
    Semaphore checked;
    Worker other([&] {
        seenByOther = CurrentThreadExecutor::current();
        CurrentThreadExecutor theirs;
        otherSawItsOwn = CurrentThreadExecutor::current() == &theirs;
        otherReady.release();
        // Keep `theirs` alive while the test thread looks at its own current().
        (void)checked.tryAcquire(1, kHandshakeMs);
    });
    QVERIFY(otherReady.tryAcquire(1, kHandshakeMs));
    QCOMPARE(CurrentThreadExecutor::current(), &mine); // theirs is not ours
    Worker third([&] { seenByThird = CurrentThreadExecutor::current(); });
    QVERIFY(third.join());
    checked.release();
    QVERIFY(other.join());

    QCOMPARE(seenByOther.load(), nullptr);
    QVERIFY(otherSawItsOwn.load());
    QCOMPARE(seenByThird.load(), nullptr);
    QCOMPARE(CurrentThreadExecutor::current(), &mine);
}

QTEST_GUILESS_MAIN(TestInvoke)
#include "tst_invoke.moc"

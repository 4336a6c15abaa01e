// Tests for the coroutine support of <qdispatch/coro.h> (X6). This file is built as C++20;
// every other test stays C++17, which keeps the C++17 promise of the main header tested.
// Threads are ordered with Semaphore hand-offs, never sleeps; every worker is joined with a
// time limit.

#include <qdispatch/coro.h>

#include "testcoro.h"
#include "testsupport.h"

#include <QtConcurrent/QtConcurrentRun>
#include <QtCore/QCoreApplication>
#include <QtCore/QFuture>
#include <QtCore/QPromise>
#include <QtCore/QRegularExpression>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <atomic>
#include <coroutine>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

using namespace qdispatch;
using namespace qdispatchtest;

// X6: the header must not add a global operator co_await (it would clash with QCoro's).
template<typename T> concept HasFreeCoAwait = requires(T value)
{
    operator co_await(std::move(value));
};
static_assert(!HasFreeCoAwait<QFuture<int>>);
static_assert(!HasFreeCoAwait<QFuture<void>>);

namespace {

// What a test coroutine saw. The coroutine fills it in and calls complete() last; the test
// reads it only after done() (or wait()) said so, so the hand-off is ordered.
struct Outcome
{
    Outcome()
    {
        m_promise.start();
        m_future = m_promise.future();
    }

    QThread *before = nullptr; // the thread the coroutine started on
    QThread *after = nullptr; // the thread it continued on after the co_await
    QString afterName; // that thread's objectName() (the thread may be gone when it is read)
    int value = 0;
    std::optional<ExecutorError::Code> errorCode;
    std::string errorText; // what() of any other exception that reached the co_await

    // The last thing the coroutine does with this object: the test may destroy it as soon as
    // the semaphore is released.
    void complete()
    {
        m_promise.finish();
        m_seen.release();
    }
    // Finishes when the coroutine completed: wait for it with runUntilFuture().
    QFuture<void> done() const { return m_future; }
    // For tests whose thread needs to run nothing meanwhile.
    bool wait() { return m_seen.tryAcquire(1, kHandshakeMs); }
    // After done() finished: takes the hand-off so that the fields are safe to read.
    bool completed() { return m_seen.tryAcquire(1, kHandshakeMs); }

private:
    QPromise<void> m_promise;
    QFuture<void> m_future;
    Semaphore m_seen;
};

// Runs `awaitable` and records where the coroutine went on and what it got.
template<typename Awaitable> Detached record(Outcome &out, Awaitable awaitable)
{
    out.before = QThread::currentThread();
    try {
        if constexpr (std::is_void_v<decltype(awaitable.await_resume())>) {
            co_await std::move(awaitable);
        } else {
            out.value = co_await std::move(awaitable);
        }
    } catch (const ExecutorError &e) {
        out.errorCode = e.code();
        out.errorText = e.what();
    } catch (const std::exception &e) {
        out.errorText = e.what();
    }
    out.after = QThread::currentThread();
    out.afterName = out.after->objectName();
    out.complete();
}

} // namespace

class TestCoro : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void x6_resumeOnMovesAWorkerCoroutineToTheOwnerThread();
    void x6_resumeOnItsOwnThreadContinuesAtOnce();
    void x6_resumeOnABrokenChainThrowsBroken();
    void x6_resumeOnABrokenExecutorFollowsTheChain();
    void x6_resumeOnQueuedWhenTheExecutorDiesThrowsBroken();
    void x6_pingPongBetweenTwoThreads();
    void x6_resultOfResumesOnTheAwaitingThreadsExecutor_data();
    void x6_resultOfResumesOnTheAwaitingThreadsExecutor();
    void x6_resultOfWithoutExecutorResumesOnTheFinishingThread();
    void x6_resultOfAFinishedFutureDoesNotSuspend();
    void x6_resultOfRethrowsTheFuturesException();
    void x6_resultOfASubmittedItemsException();
    void x6_resultOfACancelledFutureThrowsFutureCanceled();
    void x6_resultOfACancelledSubmitThrowsFutureCanceled();
    void x6_resultOfAMoveOnlyResult();
    void x6_resultOfAQtConcurrentFuture();
    void x6_resultOfSurvivesALaterThen();
    void x6_resultOfWithTheAwaitingExecutorGoneThrowsBroken();
    void x6_resultOfLeavesAnEarlierThenInPlace();
    void x6_resultOfBesideWhenAll();
};

void TestCoro::x6_resumeOnMovesAWorkerCoroutineToTheOwnerThread()
{
    CurrentThreadExecutor executor;
    Outcome out;
    Worker worker([&] { record(out, resumeOn(executor)); });
    executor.runUntilFuture(out.done());
    QVERIFY(out.completed());
    QVERIFY(worker.join());
    QCOMPARE(out.before, worker.thread());
    QCOMPARE(out.after, QThread::currentThread());
    QVERIFY(!out.errorCode);
}

void TestCoro::x6_resumeOnItsOwnThreadContinuesAtOnce()
{
    CurrentThreadExecutor executor;
    Outcome out;
    record(out, resumeOn(executor));
    // Nothing was queued and nothing ran the executor: the coroutine is already done.
    QVERIFY(out.done().isFinished());
    QVERIFY(out.completed());
    QCOMPARE(out.after, QThread::currentThread());
    QVERIFY(!out.errorCode);
}

void TestCoro::x6_resumeOnABrokenChainThrowsBroken()
{
    CurrentThreadExecutor executor;
    executor.shutdown();

    Outcome here; // on the owner thread itself
    record(here, resumeOn(executor));
    QVERIFY(here.completed());
    QCOMPARE(here.errorCode, ExecutorError::Code::Broken);
    QCOMPARE(here.after, QThread::currentThread());

    Outcome there; // from another thread, through a handle
    const qdispatch::ExecutorHandle handle = executor.handle();
    Worker worker([&] { record(there, resumeOn(handle)); });
    QVERIFY(there.wait());
    QVERIFY(worker.join());
    QCOMPARE(there.errorCode, ExecutorError::Code::Broken);
    QCOMPARE(there.after, worker.thread());
}

void TestCoro::x6_resumeOnABrokenExecutorFollowsTheChain()
{
    // C11: the outer executor on this thread takes over the broken inner one's work.
    CurrentThreadExecutor outer;
    CurrentThreadExecutor inner(&outer);
    inner.shutdown();
    Outcome out;
    Worker worker([&] { record(out, resumeOn(inner)); });
    outer.runUntilFuture(out.done());
    QVERIFY(out.completed());
    QVERIFY(worker.join());
    QVERIFY(!out.errorCode);
    QCOMPARE(out.after, QThread::currentThread());
}

void TestCoro::x6_resumeOnQueuedWhenTheExecutorDiesThrowsBroken()
{
    // The resumption is queued on a worker's executor, which is then destroyed without running
    // it: the coroutine resumes on the destroying thread with Broken, never hangs (C12).
    Semaphore handleReady;
    Semaphore queued;
    qdispatch::ExecutorHandle handle;
    Outcome out;
    Worker owner([&] {
        auto executor = std::make_unique<CurrentThreadExecutor>();
        handle = executor->handle();
        handleReady.release();
        if (!queued.tryAcquire(1, kHandshakeMs))
            return;
        executor.reset();
    });
    QVERIFY(handleReady.tryAcquire(1, kHandshakeMs));
    record(out, resumeOn(handle));
    QVERIFY(!out.done().isFinished()); // suspended, its resumption queued on the worker
    queued.release();
    QVERIFY(out.wait());
    QVERIFY(owner.join());
    QCOMPARE(out.errorCode, ExecutorError::Code::Broken);
    QCOMPARE(out.after, owner.thread());
}

void TestCoro::x6_pingPongBetweenTwoThreads()
{
    // One coroutine hops 1,000 times between this thread and a worker that owns an executor,
    // checking at every hop that it runs where it asked to.
    constexpr int rounds = 1000;
    CurrentThreadExecutor mainExecutor;
    QThread *const mainThread = QThread::currentThread();
    std::atomic<int> misplaced { 0 };
    std::atomic<int> hops { 0 };
    StartedPromise<void> finish;

    auto pingPong = [&](CurrentThreadExecutor &mine) -> Detached {
        QThread *const workerThread = QThread::currentThread();
        for (int i = 0; i < rounds; ++i) {
            co_await resumeOn(mainExecutor);
            misplaced += QThread::currentThread() != mainThread;
            co_await resumeOn(mine);
            misplaced += QThread::currentThread() != workerThread;
            ++hops;
        }
        finish.finish();
    };

    Worker worker([&] {
        CurrentThreadExecutor executor;
        pingPong(executor);
        executor.runUntilFuture(finish.future(), RunMode::ExecutorOnly);
    });
    mainExecutor.runUntilFuture(finish.future());
    QVERIFY(worker.join());
    QCOMPARE(hops.load(), rounds);
    QCOMPARE(misplaced.load(), 0);
}

void TestCoro::x6_resultOfResumesOnTheAwaitingThreadsExecutor_data()
{
    addModeRows();
}

void TestCoro::x6_resultOfResumesOnTheAwaitingThreadsExecutor()
{
    // This thread has a current executor (X4), so the coroutine continues here, not on the
    // worker that finished the future.
    QFETCH(RunMode, mode);
    CurrentThreadExecutor executor;
    StartedPromise<int> promise;
    Outcome out;
    record(out, resultOf(promise.future()));
    QVERIFY(!out.done().isFinished());
    Worker finisher([&] {
        promise.addResult(42);
        promise.finish();
    });
    executor.runUntilFuture(out.done(), mode);
    QVERIFY(out.completed());
    QVERIFY(finisher.join());
    QCOMPARE(out.value, 42);
    QCOMPARE(out.after, QThread::currentThread());
}

void TestCoro::x6_resultOfWithoutExecutorResumesOnTheFinishingThread()
{
    // The awaiting worker has no executor: it is not blocked (it ends while the coroutine is
    // suspended), and the coroutine continues on the thread that finishes the future.
    StartedPromise<int> promise;
    Outcome out;
    Worker awaiting([&] { record(out, resultOf(promise.future())); });
    QVERIFY(awaiting.join());
    QVERIFY(!out.done().isFinished());
    promise.addResult(7);
    promise.finish(); // resumes the coroutine right here
    QVERIFY(out.done().isFinished());
    QVERIFY(out.completed());
    QCOMPARE(out.before, awaiting.thread());
    QCOMPARE(out.after, QThread::currentThread());
    QCOMPARE(out.value, 7);
}

void TestCoro::x6_resultOfAFinishedFutureDoesNotSuspend()
{
    Outcome out;
    record(out, resultOf(qdispatch_compat::readyFuture(5)));
    QVERIFY(out.done().isFinished());
    QVERIFY(out.completed());
    QCOMPARE(out.value, 5);
}

void TestCoro::x6_resultOfRethrowsTheFuturesException()
{
    StartedPromise<int> promise;
    Outcome out;
    record(out, resultOf(promise.future()));
    promise.setException(std::make_exception_ptr(std::invalid_argument("no such tile")));
    promise.finish();
    // This thread's current executor is the main-thread one (X4, X5): it resumes the coroutine.
    qdispatch::mainThreadExecutor()->runUntilFuture(out.done());
    QVERIFY(out.completed());
    QCOMPARE(out.errorText, std::string("no such tile"));
    QVERIFY(!out.errorCode);
}

void TestCoro::x6_resultOfASubmittedItemsException()
{
    // A worker without an executor awaits an item that throws on this thread (C5).
    CurrentThreadExecutor executor;
    Outcome out;
    Semaphore suspended;
    Worker worker([&] {
        record(out, resultOf(executor.submit([]() -> int { throw std::logic_error("bad item"); })));
        suspended.release();
    });
    // The item runs only after the coroutine suspended, so this thread finishes the future.
    QVERIFY(suspended.tryAcquire(1, kHandshakeMs));
    executor.runUntilFuture(out.done());
    QVERIFY(out.completed());
    QVERIFY(worker.join());
    QCOMPARE(out.errorText, std::string("bad item"));
    QCOMPARE(out.after, QThread::currentThread()); // the thread that finished the future
}

void TestCoro::x6_resultOfACancelledFutureThrowsFutureCanceled()
{
    StartedPromise<int> valuePromise;
    Outcome value;
    record(value, resultOf(valuePromise.future()));
    valuePromise.future().cancel();
    valuePromise.finish();
    CurrentThreadExecutor *const home = qdispatch::mainThreadExecutor(); // X4 on this thread
    home->runUntilFuture(value.done());
    QVERIFY(value.completed());
    QCOMPARE(value.errorText, std::string(FutureCanceled().what()));

    // A future whose promise is destroyed unfinished is cancelled by Qt: no hang either.
    Outcome dropped;
    {
        StartedPromise<void> voidPromise;
        record(dropped, resultOf(voidPromise.future()));
        QVERIFY(!dropped.done().isFinished());
    }
    home->runUntilFuture(dropped.done());
    QVERIFY(dropped.completed());
    QCOMPARE(dropped.errorText, std::string(FutureCanceled().what()));
}

void TestCoro::x6_resultOfACancelledSubmitThrowsFutureCanceled()
{
    // C6: the item is cancelled before it starts, so it never runs and there is no result.
    CurrentThreadExecutor executor;
    bool ran = false;
    Outcome out;
    Semaphore cancelled;
    Worker worker([&] {
        QFuture<int> future = executor.submit([&] {
            ran = true;
            return 1;
        });
        future.cancel();
        record(out, resultOf(future));
        // After the co_await suspended (this worker has no executor to resume it here): the
        // continuation that resultOf() attached is then ordered before the item finishes the
        // future, for ThreadSanitizer too (QFuture::then() hands it over inside Qt).
        cancelled.release();
    });
    QVERIFY(cancelled.tryAcquire(1, kHandshakeMs));
    executor.runUntilFuture(out.done());
    QVERIFY(out.completed());
    QVERIFY(worker.join());
    QVERIFY(!ran);
    QCOMPARE(out.errorText, std::string(FutureCanceled().what()));
}

void TestCoro::x6_resultOfAMoveOnlyResult()
{
    CurrentThreadExecutor executor;
    std::unique_ptr<int> got;
    StartedPromise<void> finished;
    Semaphore seen;
    auto consume = [&](QFuture<std::unique_ptr<int>> future) -> Detached {
        got = co_await resultOf(std::move(future));
        seen.release();
        finished.finish();
    };
    Semaphore suspended;
    Worker worker([&] {
        consume(executor.submit([] { return std::make_unique<int>(99); }));
        suspended.release();
    });
    // The item runs only after the coroutine suspended: the continuation that resultOf()
    // attached on the worker is ordered before this thread runs it, for ThreadSanitizer too
    // (QFuture::then() hands it over inside Qt).
    QVERIFY(suspended.tryAcquire(1, kHandshakeMs));
    executor.runUntilFuture(finished.future());
    QVERIFY(seen.tryAcquire(1, kHandshakeMs));
    QVERIFY(worker.join());
    QVERIFY(got);
    QCOMPARE(*got, 99);
}

void TestCoro::x6_resultOfAQtConcurrentFuture()
{
    CurrentThreadExecutor executor;
    Semaphore go;
    Outcome out;
    QFuture<int> future = QtConcurrent::run([&] {
        go.acquire();
        return 6 * 7;
    });
    record(out, resultOf(future));
    QVERIFY(!out.done().isFinished());
    go.release();
    executor.runUntilFuture(out.done());
    QVERIFY(out.completed());
    QCOMPARE(out.value, 42);
    QCOMPARE(out.after, QThread::currentThread());
}

void TestCoro::x6_resultOfSurvivesALaterThen()
{
    // Qt 6.4 keeps one continuation per future. A then() attached after the co_await replaces
    // the one resultOf() attached; the coroutine must still get its result, and the user's
    // continuation must run too.
#if defined(__SANITIZE_THREAD__)
    // The resumption goes through coro.h's own std::thread, which drops the last reference to
    // the future's shared state while this thread's ~QPromise tears the continuation down; the
    // count is QFutureInterfaceBase's, inside libQt6Core (docs/sanitizers.md). Run in the dev
    // and asan builds.
    QSKIP("ThreadSanitizer cannot see QFutureInterfaceBase's reference count: see "
          "docs/sanitizers.md");
#endif
    StartedPromise<int> promise;
    QFuture<int> future = promise.future();
    Outcome out;
    Worker awaiting([&] { record(out, resultOf(future)); });
    QVERIFY(awaiting.join());
    QVERIFY(!out.done().isFinished());

    std::atomic<int> userSaw { 0 };
    QFuture<void> userChain = future.then(QtFuture::Launch::Sync, [&](int v) { userSaw = v; });
    promise.addResult(11);
    promise.finish();
    QVERIFY(out.wait());
    QCOMPARE(out.value, 11);
    QVERIFY(!out.errorCode);
    QVERIFY(userChain.isFinished());
    QCOMPARE(userSaw.load(), 11);
}

void TestCoro::x6_resultOfWithTheAwaitingExecutorGoneThrowsBroken()
{
    // The awaiting thread's executor is destroyed while the coroutine waits, and nothing is
    // down its chain: when the future finishes, the coroutine resumes with Broken on the
    // finishing thread instead of hanging.
    StartedPromise<int> promise;
    Outcome out;
    Worker owner([&] {
        CurrentThreadExecutor executor;
        record(out, resultOf(promise.future()));
    });
    QVERIFY(owner.join());
    QVERIFY(!out.done().isFinished());
    promise.addResult(1);
    promise.finish();
    QVERIFY(out.wait());
    QCOMPARE(out.errorCode, ExecutorError::Code::Broken);
    // Completion was noticed by QDispatch's watch thread (the awaiting thread had an executor),
    // which serves every awaiting coroutine and so must not run this one itself.
    QVERIFY(out.after != QThread::currentThread());
    QVERIFY(out.afterName != QStringLiteral("qdispatch future watch"));
}

void TestCoro::x6_resultOfLeavesAnEarlierThenInPlace()
{
    // X6 with a current executor: the caller's own continuation, attached before the co_await,
    // still runs, and Qt warns about no replaced continuation. (A then() of resultOf()'s would
    // replace it: Qt keeps one continuation per future. From Qt 6.7 on, replacing a
    // continuation prints a warning: any warning fails the test.)
    QTest::failOnWarning(QRegularExpression(QStringLiteral(".*")));
    CurrentThreadExecutor executor;
    StartedPromise<int> promise;
    QFuture<int> future = promise.future();
    int userSaw = 0;
    QFuture<void> userChain = future.then(QtFuture::Launch::Sync, [&](int v) { userSaw = v; });
    Outcome out;
    record(out, resultOf(future));
    QVERIFY(!out.done().isFinished());
    Worker finisher([&] {
        promise.addResult(21);
        promise.finish();
    });
    executor.runUntilFuture(out.done(), RunMode::ExecutorOnly);
    QVERIFY(out.completed());
    QVERIFY(finisher.join());
    QCOMPARE(out.value, 21);
    QCOMPARE(out.after, QThread::currentThread());
    QVERIFY(userChain.isFinished());
    QVERIFY(!userChain.isCanceled());
    QCOMPARE(userSaw, 21);
}

void TestCoro::x6_resultOfBesideWhenAll()
{
    // X6: QtFuture::whenAll() on the awaited futures, set up before the co_await, still
    // completes with every result, and so does the coroutine. (On Qt 6.4, whenAll() survives
    // even a replaced continuation; this guards the combination on every Qt of the matrix.)
    CurrentThreadExecutor executor;
    QPromise<int> first;
    QPromise<int> second;
    first.start();
    second.start();
    QFuture<int> a = first.future();
    QFuture<int> b = second.future();
    QList<QFuture<int>> both { a, b };
    QFuture<QList<QFuture<int>>> all = QtFuture::whenAll(both.begin(), both.end());
    Outcome out;
    record(out, resultOf(a));
    Worker finisher([&] {
        first.addResult(1);
        first.finish();
        second.addResult(2);
        second.finish();
    });
    executor.runUntilFuture(out.done());
    executor.runUntilFuture(all);
    QVERIFY(out.completed());
    QVERIFY(finisher.join());
    QCOMPARE(out.value, 1);
    QVERIFY(all.isFinished());
    QVERIFY(!all.isCanceled());
    const QList<QFuture<int>> results = all.result();
    QCOMPARE(results.size(), 2);
    QVERIFY(!results.at(0).isCanceled());
    QCOMPARE(results.at(0).result(), 1);
    QCOMPARE(results.at(1).result(), 2);
}

QTEST_GUILESS_MAIN(TestCoro)
#include "tst_coro.moc"

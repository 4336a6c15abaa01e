// Tests for the main-thread executor and its free functions (X5). The main-thread executor
// lives exactly as long as the QCoreApplication, so this test has its own main(): it runs one
// QTest object before the application exists, one while it lives and one after it was
// destroyed, and the last one also creates and destroys applications of its own. Threads are
// ordered with Semaphore hand-offs (never sleeps) and joined with a timeout.

#include <qdispatch/currentthreadexecutor.h>

#include "qtcompat.h"
#include "testsupport.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QFuture>
#include <QtCore/QPromise>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

// Arguments for the applications that tests create themselves (they must outlive them).
int g_appArgc = 1;
char g_appName[] = "tst_mainthread";
char *g_appArgv[] = { g_appName, nullptr };

// Shared by the phases without an application: both free functions refuse with NoApplication,
// name QCoreApplication in the message, and never call the callable.
void checkNoApplicationErrors()
{
    QVERIFY(!QCoreApplication::instance());
    bool called = false;

    const Thrown run = thrownBy([&] { (void)qdispatch::runOnMainThread([&] { called = true; }); });
    QVERIFY(run.executorError);
    QCOMPARE(run.code, ExecutorError::Code::NoApplication);
    QVERIFY2(run.message.contains(QLatin1String("QCoreApplication")), qPrintable(run.message));

    const Thrown invoke = thrownBy([&] { qdispatch::invokeOnMainThread([&] { called = true; }); });
    QVERIFY(invoke.executorError);
    QCOMPARE(invoke.code, ExecutorError::Code::NoApplication);
    QVERIFY2(invoke.message.contains(QLatin1String("QCoreApplication")),
             qPrintable(invoke.message));

    // From another thread the answer is the same.
    Thrown fromWorker;
    {
        Worker worker([&] {
            fromWorker = thrownBy([&] { (void)qdispatch::invokeOnMainThread([] { return 1; }); });
        });
        QVERIFY(worker.join());
    }
    QVERIFY(fromWorker.executorError);
    QCOMPARE(fromWorker.code, ExecutorError::Code::NoApplication);

    QVERIFY(!called);
}

// Shared by the phases without an application: there is no main-thread executor.
void checkNoMainThreadExecutor()
{
    QVERIFY(!QCoreApplication::instance());
    QCOMPARE(qdispatch::mainThreadExecutor(), nullptr);
}

} // namespace

// ------------------------------------------------------------------- before the application

class TestMainThreadBeforeApp : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void x5_nullBeforeApplicationExists();
    void x5_throwsNoApplicationBeforeApplicationExists();
};

void TestMainThreadBeforeApp::x5_nullBeforeApplicationExists()
{
    checkNoMainThreadExecutor();
}

void TestMainThreadBeforeApp::x5_throwsNoApplicationBeforeApplicationExists()
{
    checkNoApplicationErrors();
}

// ------------------------------------------------------------------- while the application lives

class TestMainThreadWithApp : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void x5_boundToApplicationThread();
    void x5_sameExecutorSeenFromWorker();
    void x5_runOnMainThreadFromWorkerRunsOnMainThread();
    void x5_invokeOnMainThreadFromWorkerReturnsValue();
    void x5_invokeOnMainThreadFromWorkerRethrows();
    void x5_invokeOnMainThreadInlineOnMainThread();
    void x5_runOnMainThreadFromMainThreadThrowsOwnThread();
};

void TestMainThreadWithApp::x5_boundToApplicationThread()
{
    CurrentThreadExecutor *const ex = qdispatch::mainThreadExecutor();
    QVERIFY(ex);
    QVERIFY(!ex->isBroken());
    QCOMPARE(ex->thread(), QCoreApplication::instance()->thread());
    QCOMPARE(ex->thread(), QThread::currentThread());
}

void TestMainThreadWithApp::x5_sameExecutorSeenFromWorker()
{
    std::atomic<CurrentThreadExecutor *> seen { nullptr };
    Worker worker([&] { seen = qdispatch::mainThreadExecutor(); });
    QVERIFY(worker.join());
    QVERIFY(seen.load());
    QCOMPARE(seen.load(), qdispatch::mainThreadExecutor());
}

void TestMainThreadWithApp::x5_runOnMainThreadFromWorkerRunsOnMainThread()
{
    CurrentThreadExecutor *const ex = qdispatch::mainThreadExecutor();
    QVERIFY(ex);
    QFuture<QThread *> future;
    Thrown thrown;
    Semaphore submitted;
    Worker worker([&] {
        thrown = thrownBy(
            [&] { future = qdispatch::runOnMainThread([] { return QThread::currentThread(); }); });
        submitted.release();
    });
    QVERIFY(submitted.tryAcquire(1, kHandshakeMs));
    QVERIFY(worker.join());
    QVERIFY(!thrown.threw());
    QVERIFY(!future.isFinished()); // this thread has not processed events yet

    QVERIFY(ex->runUntilFuture(future, QDeadlineTimer(kJoinMs)));
    QCOMPARE(future.result(), QCoreApplication::instance()->thread());
    QVERIFY(future.result() != worker.thread());
}

void TestMainThreadWithApp::x5_invokeOnMainThreadFromWorkerReturnsValue()
{
    CurrentThreadExecutor *const ex = qdispatch::mainThreadExecutor();
    QVERIFY(ex);
    QThread *const mainThread = QThread::currentThread();
    std::atomic<int> value { 0 };
    std::atomic<bool> ranOnMain { false };
    Thrown thrown;
    Worker worker([&] {
        thrown = thrownBy([&] {
            value = qdispatch::invokeOnMainThread([&] {
                ranOnMain = QThread::currentThread() == mainThread;
                return 42;
            });
        });
    });
    QVERIFY(worker.serveAndJoin(*ex));
    QVERIFY(!thrown.threw());
    QCOMPARE(value.load(), 42);
    QVERIFY(ranOnMain.load());
}

void TestMainThreadWithApp::x5_invokeOnMainThreadFromWorkerRethrows()
{
    CurrentThreadExecutor *const ex = qdispatch::mainThreadExecutor();
    QVERIFY(ex);
    std::string message;
    bool caught = false;
    Worker worker([&] {
        try {
            qdispatch::invokeOnMainThread([]() -> int { throw std::out_of_range("x5 failure"); });
        } catch (const std::out_of_range &e) {
            caught = true;
            message = e.what();
        } catch (...) { }
    });
    QVERIFY(worker.serveAndJoin(*ex));
    QVERIFY(caught);
    QCOMPARE(message, std::string("x5 failure"));
}

void TestMainThreadWithApp::x5_invokeOnMainThreadInlineOnMainThread()
{
    int runs = 0;
    QThread *ranOn = nullptr;
    int value = 0;
    QVERIFY_THROWS_NO_EXCEPTION(value = qdispatch::invokeOnMainThread([&] {
                                    ++runs;
                                    ranOn = QThread::currentThread();
                                    return 7;
                                }));
    QCOMPARE(value, 7);
    QCOMPARE(runs, 1); // ran inline, before invokeOnMainThread() returned
    QCOMPARE(ranOn, QThread::currentThread());
    qdispatch::mainThreadExecutor()->runUntilFuture(qdispatch_compat::readyFuture());
    QCOMPARE(runs, 1); // and was not queued as well
}

void TestMainThreadWithApp::x5_runOnMainThreadFromMainThreadThrowsOwnThread()
{
    bool called = false;
    const Thrown t = thrownBy([&] { (void)qdispatch::runOnMainThread([&] { called = true; }); });
    QVERIFY(t.executorError);
    QCOMPARE(t.code, ExecutorError::Code::OwnThread);
    QVERIFY(!called);
}

// ------------------------------------------------------------------- after the application

class TestMainThreadAfterApp : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void x5_nullAfterApplicationIsDestroyed();
    void x5_throwsNoApplicationAfterApplicationIsDestroyed();
    void x5_followsEachApplicationLifetime();
    void x5_queuedItemFailsBrokenWhenApplicationIsDestroyed();
    void x5_runOnMainThreadRacingApplicationDestruction();
};

void TestMainThreadAfterApp::x5_followsEachApplicationLifetime()
{
    QVERIFY(!QCoreApplication::instance());
    for (int round = 0; round < 2; ++round) {
        QCOMPARE(qdispatch::mainThreadExecutor(), nullptr);
        {
            QCoreApplication app(g_appArgc, g_appArgv);
            CurrentThreadExecutor *const ex = qdispatch::mainThreadExecutor();
            QVERIFY(ex);
            QVERIFY(!ex->isBroken());
            QCOMPARE(ex->thread(), app.thread());

            // Usable right away.
            std::atomic<int> value { 0 };
            Worker worker([&] { value = qdispatch::invokeOnMainThread([] { return 3; }); });
            QVERIFY(worker.serveAndJoin(*ex));
            QCOMPARE(value.load(), 3);
        }
        QCOMPARE(qdispatch::mainThreadExecutor(), nullptr);
    }
}

void TestMainThreadAfterApp::x5_queuedItemFailsBrokenWhenApplicationIsDestroyed()
{
    QVERIFY(!QCoreApplication::instance());
    auto app = std::make_unique<QCoreApplication>(g_appArgc, g_appArgv);
    QVERIFY(qdispatch::mainThreadExecutor());

    std::atomic<bool> called { false };
    QFuture<int> future;
    Thrown submitError;
    // The waiter keeps what result() threw and this thread reads it after worker.join(): the
    // exception is made here, in app.reset(), and reaches the waiter through QFuture's
    // hand-off inside Qt, which ThreadSanitizer cannot see.
    std::exception_ptr waitError;
    bool waitThrew = false;
    std::atomic<bool> waitReturned { false };
    Semaphore queued;
    Worker worker([&] {
        submitError = thrownBy([&] {
            future = qdispatch::runOnMainThread([&] {
                called = true;
                return 1;
            });
        });
        queued.release();
        if (submitError.threw())
            return;
        // A waiter blocked on the item while the application goes away must be released.
        try {
            (void)future.result();
        } catch (...) {
            waitThrew = true;
            waitError = std::current_exception();
        }
        waitReturned = true;
    });
    QVERIFY(queued.tryAcquire(1, kHandshakeMs));
    QVERIFY(!submitError.threw());

    app.reset(); // the main thread never processed events: the item is still queued
    QVERIFY(!QCoreApplication::instance());
    QCOMPARE(qdispatch::mainThreadExecutor(), nullptr);

    QVERIFY2(worker.join(), "the waiter on a queued main-thread item hangs");
    QVERIFY(waitReturned.load());
    QVERIFY(!called.load());
    QVERIFY(future.isFinished());
    QVERIFY(waitThrew);
    const Thrown rethrown = thrownBy([&] { std::rethrow_exception(waitError); });
    QVERIFY(rethrown.executorError);
    QCOMPARE(rethrown.code, ExecutorError::Code::Broken);
}

// A worker that keeps calling runOnMainThread() while the application goes away: each call
// either queues an item (which then runs or fails with Broken) or throws (NoApplication once the
// application is gone). The free functions, not the caller, must make that hand-over safe; run
// this under ASan, where a call that uses the executor being destroyed is a use-after-free.
void TestMainThreadAfterApp::x5_runOnMainThreadRacingApplicationDestruction()
{
    constexpr int kRounds = 300;
    for (int round = 0; round < kRounds; ++round) {
        auto app = std::make_unique<QCoreApplication>(g_appArgc, g_appArgv);
        Semaphore started;
        std::atomic<int> unexpected { 0 };
        std::vector<QFuture<void>> futures; // worker only, until it is joined
        Worker worker([&] {
            started.release();
            for (;;) {
                try {
                    futures.push_back(qdispatch::runOnMainThread([] {}));
                } catch (const ExecutorError &e) {
                    if (e.code() == ExecutorError::Code::NoApplication)
                        return;
                    if (e.code() != ExecutorError::Code::Broken) {
                        ++unexpected;
                        return;
                    }
                } catch (...) {
                    ++unexpected;
                    return;
                }
            }
        });
        QVERIFY(started.tryAcquire(1, kHandshakeMs));
        app.reset(); // the worker is inside runOnMainThread() at about this moment
        QVERIFY(worker.join());
        QCOMPARE(unexpected.load(), 0);
        int unfinished = 0;
        for (const QFuture<void> &f : futures)
            unfinished += f.isFinished() ? 0 : 1;
        QCOMPARE(unfinished, 0); // C12: nothing queued is left hanging
    }
}

void TestMainThreadAfterApp::x5_nullAfterApplicationIsDestroyed()
{
    checkNoMainThreadExecutor();
}

void TestMainThreadAfterApp::x5_throwsNoApplicationAfterApplicationIsDestroyed()
{
    checkNoApplicationErrors();
}

int main(int argc, char **argv)
{
    TestMainThreadBeforeApp before;
    TestMainThreadWithApp during;
    TestMainThreadAfterApp after;
    return execAroundApplication(argc, argv, before, during, &after);
}

#include "tst_mainthread.moc"

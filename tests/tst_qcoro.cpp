// X6 beside QCoro, the coroutine library Qt users already have (Debian's qcoro-qt6-dev):
// qdispatch::resumeOn() and qdispatch::resultOf() work inside a QCoro::Task, and QCoro's own
// `co_await future` and ours live in one translation unit and one coroutine without clashing
// (X6: the header adds no global operator co_await). Built as C++20, only where CMake finds
// QCoro6 (CI always installs it; tests/CMakeLists.txt fails there when it is missing).
// Threads are ordered with Semaphore hand-offs, never sleeps.

#include <qdispatch/coro.h>

#include "testsupport.h"

#include <QCoro/QCoroFuture>
#include <QCoro/QCoroTask>

#include <QtConcurrent/QtConcurrentRun>
#include <QtCore/QCoreApplication>
#include <QtCore/QFuture>
#include <QtCore/QPromise>
#include <QtCore/QThread>
#include <QtTest/QTest>

using namespace qdispatch;
using namespace qdispatchtest;

class TestQCoro : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void x6_resumeOnInsideAQCoroTask();
    void x6_resultOfInsideAQCoroTask();
    void x6_qcoroAwaitAndResultOfInOneTask();
    void x6_qcoroAwaitsATaskThatUsesResultOf();
};

void TestQCoro::x6_resumeOnInsideAQCoroTask()
{
    // X6: resumeOn() asks nothing of the promise type; QCoro's Task is just another coroutine.
    CurrentThreadExecutor gui;
    LoopThread worker(WithExecutor {});
    CurrentThreadExecutor *const other = worker.startAndWait();
    QVERIFY(other);
    QThread *const mainThread = QThread::currentThread();

    StartedPromise<void> done;
    QThread *wentTo = nullptr;
    QThread *cameBackTo = nullptr;
    auto task = [&]() -> QCoro::Task<void> {
        co_await qdispatch::resumeOn(*other);
        wentTo = QThread::currentThread();
        co_await qdispatch::resumeOn(gui);
        cameBackTo = QThread::currentThread();
        done.finish();
    };
    QCoro::Task<void> running = task();
    gui.runUntilFuture(done.future());
    QCOMPARE(wentTo, &worker);
    QCOMPARE(cameBackTo, mainThread);
}

void TestQCoro::x6_resultOfInsideAQCoroTask()
{
    // X6: resultOf() in a QCoro::Task on a thread with a current executor resumes on that
    // thread with the result.
    CurrentThreadExecutor gui;
    Semaphore go;
    QFuture<int> work = QtConcurrent::run([&] {
        go.acquire();
        return 6 * 7;
    });

    StartedPromise<void> done;
    int value = 0;
    QThread *resumedOn = nullptr;
    auto task = [&]() -> QCoro::Task<void> {
        value = co_await qdispatch::resultOf(work);
        resumedOn = QThread::currentThread();
        done.finish();
    };
    QCoro::Task<void> running = task();
    QVERIFY(!done.future().isFinished());
    go.release();
    gui.runUntilFuture(done.future());
    QCOMPARE(value, 42);
    QCOMPARE(resumedOn, QThread::currentThread());
}

void TestQCoro::x6_qcoroAwaitAndResultOfInOneTask()
{
    // QCoro's `co_await future` (its QFutureWatcher, through QCoro::Task's await_transform) and
    // qdispatch::resultOf() on the same future and on a submitted item, in one coroutine.
    CurrentThreadExecutor gui;
    LoopThread worker(WithExecutor {});
    CurrentThreadExecutor *const other = worker.startAndWait();
    QVERIFY(other);
    Semaphore go;
    QFuture<int> work = QtConcurrent::run([&] {
        go.acquire();
        return 5;
    });

    StartedPromise<void> done;
    int byQCoro = 0;
    int byQDispatch = 0;
    int submitted = 0;
    QThread *ranOn = nullptr;
    auto task = [&]() -> QCoro::Task<void> {
        byQCoro = co_await work; // QCoro's own awaiter
        byQDispatch = co_await qdispatch::resultOf(work); // ours, on the same future
        // An item on the other executor's thread, awaited with QCoro's awaiter and with ours.
        QFuture<int> item = other->submit([&ranOn] {
            ranOn = QThread::currentThread();
            return 7;
        });
        submitted = co_await item;
        submitted += co_await qdispatch::resultOf(item);
        done.finish();
    };
    QCoro::Task<void> running = task();
    go.release();
    gui.runUntilFuture(done.future());
    QCOMPARE(byQCoro, 5);
    QCOMPARE(byQDispatch, 5);
    QCOMPARE(submitted, 14);
    QCOMPARE(ranOn, &worker);
}

void TestQCoro::x6_qcoroAwaitsATaskThatUsesResultOf()
{
    // A QCoro::Task awaiting another QCoro::Task whose body uses resultOf() and resumeOn():
    // QCoro's own task chaining still works around our awaitables.
    CurrentThreadExecutor gui;
    LoopThread worker(WithExecutor {});
    CurrentThreadExecutor *const other = worker.startAndWait();
    QVERIFY(other);

    auto inner = [&]() -> QCoro::Task<int> {
        co_await qdispatch::resumeOn(*other);
        const bool onWorker = QThread::currentThread() == &worker;
        co_await qdispatch::resumeOn(gui);
        const int n = co_await qdispatch::resultOf(QtConcurrent::run([] { return 20; }));
        co_return onWorker ? n + 1 : -1;
    };
    StartedPromise<void> done;
    int got = 0;
    auto outer = [&]() -> QCoro::Task<void> {
        got = co_await inner();
        done.finish();
    };
    QCoro::Task<void> running = outer();
    gui.runUntilFuture(done.future());
    QCOMPARE(got, 21);
}

QTEST_GUILESS_MAIN(TestQCoro)

#include "tst_qcoro.moc"

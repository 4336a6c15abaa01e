// X9 with X6: `co_await resumeOn(executorOf(thread))` moves a coroutine onto any QThread that
// runs its event loop. Built as C++20 (tests/CMakeLists.txt), like tst_coro.cpp. Threads are
// ordered with Semaphore hand-offs, never sleeps; every thread is joined with a time limit.

#include <qdispatch/coro.h>

#include "testcoro.h"
#include "testsupport.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <optional>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

// What the coroutine saw; read by the test only after `done` was released, its last step.
struct Outcome
{
    QThread *before = nullptr;
    QThread *after = nullptr;
    std::optional<ExecutorError::Code> errorCode;
    Semaphore done;
};

Detached hop(ExecutorHandle target, Outcome &out)
{
    out.before = QThread::currentThread();
    try {
        co_await resumeOn(target);
    } catch (const ExecutorError &e) {
        out.errorCode = e.code();
    }
    out.after = QThread::currentThread();
    out.done.release();
}

} // namespace

class TestExecutorOfCoro : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void x9_x6_resumeOnExecutorOfMovesTheCoroutineToThatThread();
    void x9_x6_c10_resumeOnAFinishedThreadsExecutorThrowsBroken();
};

// X9, X6: from the main thread onto a QThread (started after the co_await was queued: the
// resumption waits for its event loop like any item), then back to the main thread.
void TestExecutorOfCoro::x9_x6_resumeOnExecutorOfMovesTheCoroutineToThatThread()
{
    LoopThread thread;
    Outcome there;
    hop(executorOf(&thread), there); // suspends: the thread is not running yet
    QCOMPARE(there.before, QCoreApplication::instance()->thread());
    thread.start();
    QVERIFY(there.done.tryAcquire(1, kJoinMs));
    QVERIFY(!there.errorCode);
    QCOMPARE(there.after, &thread);

    Outcome back;
    Semaphore started;
    executorOf(&thread).post([&] {
        hop(executorOf(QCoreApplication::instance()->thread()), back);
        started.release();
    });
    QVERIFY(started.tryAcquire(1, kJoinMs));
    // The main thread's events run it (QTRY_ evaluates its condition more than once: no side
    // effect).
    QTRY_VERIFY_WITH_TIMEOUT(back.done.available() == 1, kJoinMs);
    QVERIFY(back.done.tryAcquire(1));
    QCOMPARE(back.before, &thread);
    QCOMPARE(back.after, QCoreApplication::instance()->thread());
    QVERIFY(thread.stop());
}

// X9, X6, C10: the executor of a thread that has finished is broken and has no chain, so the
// co_await throws Broken on the awaiting thread instead of hanging.
void TestExecutorOfCoro::x9_x6_c10_resumeOnAFinishedThreadsExecutorThrowsBroken()
{
    LoopThread thread;
    thread.start();
    const ExecutorHandle h = executorOf(&thread);
    QVERIFY(thread.stop());
    QVERIFY(h.isBroken());
    Outcome out;
    hop(h, out);
    QVERIFY(out.done.tryAcquire(1, 0));
    QCOMPARE(out.errorCode, ExecutorError::Code::Broken);
    QCOMPARE(out.after, QCoreApplication::instance()->thread());
}

QTEST_GUILESS_MAIN(TestExecutorOfCoro)
#include "tst_executorofcoro.moc"

// Behaviour that changed between the Qt versions QDispatch supports (6.4 to the newest Debian
// ships), tested on each of them by the Qt matrix (scripts/qt-matrix.sh):
// - an unfinished QPromise destroyed: since Qt 6.5 its future's continuations run (cancelled),
//   before they were skipped. Every wait must still finish on such a future (C8, C9, X6).
// - QFuture::cancelChain() (Qt 6.10): cancelling a continuation's chain reaches the submitted
//   item's own future, so the queued item is skipped (C6). Compiled only where it exists.
// Built as C++20 for resultOf() (X6). Threads are ordered with Semaphore hand-offs, never sleeps.

#include <qdispatch/coro.h>

#include "testcoro.h"
#include "testsupport.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QFuture>
#include <QtCore/QPromise>
#include <QtCore/QThread>
#include <QtCore/QtGlobal>
#include <QtTest/QTest>

#include <atomic>
#include <memory>
#include <string>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

void addModes()
{
    addColumns<RunMode, bool>({ "mode", "dropOnWorker" });
    for (const bool worker : { false, true }) {
        const char *where = worker ? "dropped on a worker" : "dropped by an item";
        for (RunMode mode : kModes)
            QTest::addRow("%s, %s", modeName(mode), where) << mode << worker;
    }
}

// Destroys `promise` unfinished while `executor`'s thread waits: either in an item submitted
// from a worker (it runs inside the wait), or on the worker itself once an item showed that
// the wait has begun.
class Dropper
{
public:
    Dropper(CurrentThreadExecutor &executor, std::unique_ptr<QPromise<int>> &promise, bool onWorker)
        : m_worker([&executor, &promise, onWorker, this] {
              if (onWorker) {
                  executor.post([this] { m_waiting.release(); });
                  if (m_waiting.tryAcquire(1, kHandshakeMs))
                      promise.reset();
              } else {
                  executor.submit([&promise] { promise.reset(); });
              }
          })
    { }
    bool join() { return m_worker.join(); }

private:
    Semaphore m_waiting;
    Worker m_worker; // last: it starts at once
};

} // namespace

class TestQtVersions : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void c8_runUntilFutureFinishesOnADroppedPromise_data() { addModes(); }
    void c8_runUntilFutureFinishesOnADroppedPromise();
    void x6_resultOfFinishesOnADroppedPromise_data() { addModes(); }
    void x6_resultOfFinishesOnADroppedPromise();
#if QT_VERSION >= QT_VERSION_CHECK(6, 10, 0)
    void c6_cancelChainSkipsTheQueuedItem();
#endif
};

void TestQtVersions::initTestCase()
{
    qInfo("Qt %s (built against %s)", qVersion(), QT_VERSION_STR);
}

void TestQtVersions::c8_runUntilFutureFinishesOnADroppedPromise()
{
    QFETCH(RunMode, mode);
    QFETCH(bool, dropOnWorker);
    CurrentThreadExecutor executor;
    auto promise = std::make_unique<QPromise<int>>();
    promise->start();
    const QFuture<int> future = promise->future();
    Dropper dropper(executor, promise, dropOnWorker);
    QVERIFY(executor.runUntilFuture(future, QDeadlineTimer(kJoinMs), mode));
    QVERIFY(dropper.join());
    QVERIFY(!promise);
    QVERIFY(future.isFinished());
    QVERIFY(future.isCanceled());
    QCOMPARE(future.resultCount(), 0);
}

void TestQtVersions::x6_resultOfFinishesOnADroppedPromise()
{
    QFETCH(RunMode, mode);
    QFETCH(bool, dropOnWorker);
    CurrentThreadExecutor executor;
    auto promise = std::make_unique<QPromise<int>>();
    promise->start();
    StartedPromise<void> done;
    std::string error;
    QThread *resumedOn = nullptr;
    auto await = [&](QFuture<int> future) -> Detached {
        try {
            co_await qdispatch::resultOf(future);
        } catch (const FutureCanceled &e) {
            error = e.what();
        }
        resumedOn = QThread::currentThread();
        done.finish();
    };
    await(promise->future());
    QVERIFY(!done.future().isFinished());
    Dropper dropper(executor, promise, dropOnWorker);
    QVERIFY(executor.runUntilFuture(done.future(), QDeadlineTimer(kJoinMs), mode));
    QVERIFY(dropper.join());
    QCOMPARE(error, std::string(FutureCanceled().what()));
    QCOMPARE(resumedOn, QThread::currentThread()); // X6: through this thread's executor
}

#if QT_VERSION >= QT_VERSION_CHECK(6, 10, 0)
void TestQtVersions::c6_cancelChainSkipsTheQueuedItem()
{
    // C6 through Qt 6.10's cancelChain(): a worker cancels the chain from the continuation's
    // end before the owner thread ran the item; the item must be skipped.
    CurrentThreadExecutor executor;
    std::atomic<bool> ran { false };
    std::atomic<bool> continued { false };
    QFuture<int> item;
    QFuture<void> chain;
    Worker worker([&] {
        item = executor.submit([&ran] {
            ran = true;
            return 1;
        });
        chain = item.then(QtFuture::Launch::Sync, [&continued](int) { continued = true; });
        chain.cancelChain();
    });
    QVERIFY(worker.join());
    QVERIFY(item.isCanceled()); // the cancel reached the submitted item's own future
    executor.runUntilFuture(item, QDeadlineTimer(kJoinMs), RunMode::ExecutorOnly);
    drain(executor);
    QVERIFY(item.isFinished());
    QVERIFY(!ran);
    QVERIFY(chain.isFinished());
    QVERIFY(chain.isCanceled());
    QVERIFY(!continued);
}
#endif

QTEST_GUILESS_MAIN(TestQtVersions)

#include "tst_qtversions.moc"

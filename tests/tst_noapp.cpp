// C9 without a QCoreApplication: RunMode::ExecutorOnly works, the two event-loop modes
// throw ExecutorError{NoApplication} with a message that says what to do, and a plain
// std::thread producer can keep the owner busy. This binary deliberately never creates a
// QCoreApplication (custom main() below); tst_rununtil and tst_waitmodes cover the rest of C8
// and C9.
//
// Threads are ordered with semaphores (tryAcquire with a timeout, checked), never with sleeps,
// and every thread is joined with a timeout.

#include <qdispatch/currentthreadexecutor.h>

#include "testsupport.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QFuture>
#include <QtCore/QObject>
#include <QtCore/QPromise>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <memory>

#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace qdispatch;
using namespace qdispatchtest;

class TestNoApp : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void c9_executorOnlyWithStdThreadProducer();
    void c9_eventLoopModesThrowNoApplication_data();
    void c9_eventLoopModesThrowNoApplication();
    void c9_executorOnlyDeadlineWithoutApplication();
    void c8_nestedExecutorOnlyWithoutApplication();
    void x9_executorOfThrowsNoApplication();
};

void TestNoApp::initTestCase()
{
    QVERIFY(QCoreApplication::instance() == nullptr);
}

// C9: ExecutorOnly needs no QCoreApplication. A std::thread producer submits 1,000 items and
// waits for each one's result, then finishes the promise the owner waits for.
void TestNoApp::c9_executorOnlyWithStdThreadProducer()
{
    CurrentThreadExecutor executor;
    QThread *const owner = QThread::currentThread();
    const std::thread::id ownerId = std::this_thread::get_id();
    QCOMPARE(executor.thread(), owner);

    StartedPromise<qint64> promise;
    const QFuture<qint64> awaited = promise.future();
    std::atomic<int> offThread { 0 };
    std::atomic<int> ran { 0 };
    std::atomic<bool> producerFailed { false };

    AnyThread producer(false, [&] {
        qint64 sum = 0;
        try {
            std::vector<QFuture<int>> futures;
            for (int i = 1; i <= 500; ++i) { // a burst, then one round trip at a time
                futures.push_back(executor.submit([&, i] {
                    if (std::this_thread::get_id() != ownerId || QThread::currentThread() != owner)
                        ++offThread;
                    ++ran;
                    return i;
                }));
            }
            for (const auto &f : futures)
                sum += f.result();
            for (int i = 501; i <= 1000; ++i) {
                sum += executor
                           .submit([&, i] {
                               if (std::this_thread::get_id() != ownerId)
                                   ++offThread;
                               ++ran;
                               return i;
                           })
                           .result();
            }
        } catch (...) {
            producerFailed = true;
        }
        promise.addResult(sum);
        promise.finish();
    });

    executor.runUntilFuture(awaited, RunMode::ExecutorOnly);
    QVERIFY(producer.join());
    QVERIFY(!producerFailed.load());
    QVERIFY(awaited.isFinished());
    QCOMPARE(awaited.result(), qint64(500500));
    QCOMPARE(ran.load(), 1000);
    QCOMPARE(offThread.load(), 0);
}

// C9: without a QCoreApplication, AllEvents and ExcludeUserInput throw NoApplication (both
// overloads, finished or not), say what to do, and change nothing: a queued item stays queued
// until an ExecutorOnly wait runs it.
void TestNoApp::c9_eventLoopModesThrowNoApplication_data()
{
    addColumns<RunMode, bool, bool>({ "mode", "withDeadline", "finished" });
    for (const auto &[mode, name] :
         { std::pair { RunMode::AllEvents, "AllEvents" },
           std::pair { RunMode::ExcludeUserInput, "ExcludeUserInput" } }) {
        for (bool withDeadline : { false, true }) {
            for (bool finished : { false, true }) {
                QTest::addRow("%s-%s-%s", name, withDeadline ? "deadline" : "forever",
                              finished ? "finished" : "unfinished")
                    << mode << withDeadline << finished;
            }
        }
    }
}

void TestNoApp::c9_eventLoopModesThrowNoApplication()
{
    QFETCH(RunMode, mode);
    QFETCH(bool, withDeadline);
    QFETCH(bool, finished);
    CurrentThreadExecutor executor;

    std::atomic<int> ran { 0 };
    QFuture<void> item;
    AnyThread producer(false, [&] { item = executor.submit([&] { ++ran; }); });
    QVERIFY(producer.join());

    StartedPromise<void> promise;
    if (finished)
        promise.finish();

    int code = -1;
    std::string message;
    try {
        if (withDeadline)
            (void)executor.runUntilFuture(promise.future(), QDeadlineTimer(200), mode);
        else
            executor.runUntilFuture(promise.future(), mode);
    } catch (const ExecutorError &e) {
        code = int(e.code());
        message = e.what();
    } catch (...) {
        code = -2;
    }
    QCOMPARE(code, int(ExecutorError::Code::NoApplication));
    // It says what is missing and what to do instead.
    QVERIFY2(message.find("QCoreApplication") != std::string::npos, message.c_str());
    QVERIFY2(message.find("ExecutorOnly") != std::string::npos, message.c_str());
    QCOMPARE(ran.load(), 0);
    QVERIFY(!item.isFinished());
    QVERIFY(!executor.isBroken());

    executor.runUntilFuture(item, RunMode::ExecutorOnly);
    QCOMPARE(ran.load(), 1);
}

// C9: the deadline overload in ExecutorOnly without an application: false when the deadline
// passes first, true once the future finished.
void TestNoApp::c9_executorOnlyDeadlineWithoutApplication()
{
    CurrentThreadExecutor executor;
    StartedPromise<int> promise;
    const QFuture<int> awaited = promise.future();

    QElapsedTimer clock;
    clock.start();
    QVERIFY(!executor.runUntilFuture(awaited, QDeadlineTimer(50, Qt::PreciseTimer),
                                     RunMode::ExecutorOnly));
    QVERIFY(clock.elapsed() >= 45);
    QVERIFY(!executor.runUntilFuture(awaited, QDeadlineTimer(0), RunMode::ExecutorOnly));

    Semaphore ownerWaiting;
    AnyThread producer(false, [&] {
        try {
            executor.submit([&] { ownerWaiting.release(); });
        } catch (...) { }
        if (ownerWaiting.tryAcquire(1, kHandshakeMs))
            promise.addResult(3);
        promise.finish();
    });
    QVERIFY(executor.runUntilFuture(awaited, joinDeadline(), RunMode::ExecutorOnly));
    QVERIFY(producer.join());
    QCOMPARE(awaited.resultCount(), 1);
    QCOMPARE(awaited.result(), 3);
    QVERIFY(executor.runUntilFuture(awaited, QDeadlineTimer(0), RunMode::ExecutorOnly));
}

// C8 without an application: an item nests an ExecutorOnly wait on the same executor for a
// promise that only a later item finishes.
void TestNoApp::c8_nestedExecutorOnlyWithoutApplication()
{
    CurrentThreadExecutor executor;
    StartedPromise<void> gate;
    const QFuture<void> gateFuture = gate.future();
    Semaphore firstStarted;
    std::atomic<bool> laterRanFirst { false };
    std::atomic<bool> laterRan { false };
    std::atomic<bool> failed { false };

    StartedPromise<void> allDone;
    AnyThread producer(false, [&] {
        try {
            QFuture<void> first = executor.submit([&] {
                firstStarted.release();
                executor.runUntilFuture(gateFuture, RunMode::ExecutorOnly);
                laterRanFirst = laterRan.load();
            });
            if (firstStarted.tryAcquire(1, kHandshakeMs)) {
                executor
                    .submit([&] {
                        laterRan = true;
                        gate.finish();
                    })
                    .waitForFinished();
                first.waitForFinished();
            } else {
                failed = true;
            }
        } catch (...) {
            failed = true;
        }
        allDone.finish();
    });
    QVERIFY(executor.runUntilFuture(allDone.future(), joinDeadline(), RunMode::ExecutorOnly));
    QVERIFY(producer.join());
    QVERIFY(!failed.load());
    QVERIFY(laterRanFirst.load());
}

// X9 without a QCoreApplication: Qt delivers no events to an event loop then, so executorOf()
// refuses with NoApplication (and says what to do) rather than hand out an executor whose items
// might never run; a running QThread is not touched.
void TestNoApp::x9_executorOfThrowsNoApplication()
{
    Semaphore stop;
    std::unique_ptr<QThread> thread(QThread::create([&] { stop.acquire(); }));
    thread->start();
    int code = -1;
    QString message;
    try {
        (void)qdispatch::executorOf(thread.get());
    } catch (const ExecutorError &e) {
        code = int(e.code());
        message = QString::fromUtf8(e.what());
    }
    stop.release();
    QVERIFY(thread->wait(QDeadlineTimer(kJoinMs)));
    QCOMPARE(code, int(ExecutorError::Code::NoApplication));
    QVERIFY2(message.contains(QLatin1String("executorOf()")), qPrintable(message));
}

int main(int argc, char **argv)
{
    // No QCoreApplication, on purpose.
    TestNoApp tc;
    return QTest::qExec(&tc, argc, argv);
}

#include "tst_noapp.moc"

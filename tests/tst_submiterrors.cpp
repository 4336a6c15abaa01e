// Tests for CurrentThreadExecutor::submit when things go wrong: C5 (an item's exception lands in
// its future, whatever its type, and goes nowhere else), C6 (cancelling a future before or after
// its item started) and C7 (submit from the owner thread throws OwnThread and queues nothing).
// Threads are ordered with Semaphore handshakes (never sleeps); every thread is joined with a
// timeout.

#include <qdispatch/currentthreadexecutor.h>

#include "testsupport.h"

#include <QtCore/QEventLoop>
#include <QtCore/QFuture>
#include <QtCore/QPromise>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtTest/QTest>

#include <atomic>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <typeinfo>
#include <vector>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

struct NotAnException
{
    int code;
};

struct DerivedError : std::logic_error
{
    using std::logic_error::logic_error;
};

bool mentionsDeadlock(const char *what)
{
    const std::string text(what);
    return text.find("deadlock") != std::string::npos && text.find("thread") != std::string::npos;
}

} // namespace

class TestSubmitErrors : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void c5_stdExceptionSameTypeAndMessage();
    void c5_nonStdExceptionTypes();
    void c5_executorContinuesAfterException();
    void c5_nothingEscapesIntoEventLoop();

    void c6_cancelBeforeStartSkipsFn();
    void c6_cancelAfterStartDoesNotInterrupt();

    void c7_submitFromOwnerThrows();
    void c7_submitFromInsideRunningItemThrows();
    void c7_submitFromPlainThreadOwnerThrows();
};

void TestSubmitErrors::c5_stdExceptionSameTypeAndMessage()
{
    CurrentThreadExecutor ex;
    // Plain variables, not a structured binding: C++17 does not let a lambda capture one.
    QFuture<int> plain;
    QFuture<int> derived;
    QFuture<void> viaVoid;
    std::tie(plain, derived, viaVoid) = onWorker([&] {
        QFuture<int> p = ex.submit([]() -> int { throw std::runtime_error("plain boom"); });
        QFuture<int> d = ex.submit([]() -> int { throw DerivedError("derived boom"); });
        QFuture<void> v = ex.submit([] { throw std::out_of_range("void boom"); });
        return std::make_tuple(p, d, v);
    });
    QVERIFY(ex.runUntilFuture(viaVoid, joinDeadline()));

    // result() rethrows, same dynamic type (no slicing) and same what().
    auto inspect = [](auto &&call, const std::type_info &expected, const char *text) {
        try {
            call();
        } catch (const std::exception &e) {
            return typeid(e) == expected && std::strcmp(e.what(), text) == 0;
        } catch (...) { }
        return false;
    };
    QVERIFY(inspect([&] { (void)plain.result(); }, typeid(std::runtime_error), "plain boom"));
    QVERIFY(inspect([&] { plain.waitForFinished(); }, typeid(std::runtime_error), "plain boom"));
    QVERIFY(inspect([&] { (void)derived.result(); }, typeid(DerivedError), "derived boom"));
    QVERIFY(inspect([&] { viaVoid.waitForFinished(); }, typeid(std::out_of_range), "void boom"));
}

void TestSubmitErrors::c5_nonStdExceptionTypes()
{
    CurrentThreadExecutor ex;
    auto [anInt, aStruct] = onWorker([&] {
        QFuture<int> anInt = ex.submit([]() -> int { throw 42; });
        QFuture<void> aStruct = ex.submit([] { throw NotAnException { 7 }; });
        return std::make_pair(anInt, aStruct);
    });
    QVERIFY(ex.runUntilFuture(aStruct, joinDeadline()));
    QVERIFY(anInt.isFinished());

    int thrownInt = 0;
    try {
        (void)anInt.result();
    } catch (int v) {
        thrownInt = v;
    } catch (...) { }
    QCOMPARE(thrownInt, 42);

    int thrownCode = 0;
    try {
        aStruct.waitForFinished();
    } catch (const NotAnException &e) {
        thrownCode = e.code;
    } catch (...) { }
    QCOMPARE(thrownCode, 7);
}

void TestSubmitErrors::c5_executorContinuesAfterException()
{
    CurrentThreadExecutor ex;
    std::vector<int> ranOrder;
    auto [first, second, third, fourth] = onWorker([&] {
        QFuture<int> a = ex.submit([&]() -> int {
            ranOrder.push_back(1);
            throw std::runtime_error("first");
        });
        QFuture<int> b = ex.submit([&] {
            ranOrder.push_back(2);
            return 2;
        });
        QFuture<void> c = ex.submit([&] {
            ranOrder.push_back(3);
            throw 3;
        });
        QFuture<int> d = ex.submit([&] {
            ranOrder.push_back(4);
            return 4;
        });
        return std::make_tuple(a, b, c, d);
    });
    QVERIFY(ex.runUntilFuture(fourth, joinDeadline()));
    QCOMPARE(ranOrder, (std::vector<int> { 1, 2, 3, 4 }));
    QVERIFY(first.isFinished());
    QVERIFY(third.isFinished());
    QCOMPARE(second.result(), 2);
    QCOMPARE(fourth.result(), 4);
    QVERIFY(!ex.isBroken());
}

void TestSubmitErrors::c5_nothingEscapesIntoEventLoop()
{
    // The owner runs a plain QEventLoop (the Receiver's event handler drains): if an item's
    // exception escaped it, Qt would abort or exec() would throw.
    CurrentThreadExecutor ex;
    SafeEventLoop loop;

    std::vector<QFuture<void>> throwing;
    QFuture<int> last;
    Worker producer([&] {
        throwing.push_back(ex.submit([] { throw std::runtime_error("loop boom"); }));
        throwing.push_back(ex.submit([] { throw 42; }));
        throwing.push_back(ex.submit([] { throw NotAnException { 1 }; }));
        last = ex.submit([&] {
            loop.quit();
            return 9;
        });
    });
    bool escaped = false;
    int exitCode = -1;
    try {
        exitCode = loop.exec();
    } catch (...) {
        escaped = true;
    }
    QVERIFY(producer.join());
    QVERIFY(!escaped);
    QVERIFY(!loop.timedOut());
    QCOMPARE(exitCode, 0);
    QCOMPARE(last.result(), 9);
    for (const QFuture<void> &f : throwing) {
        QVERIFY(f.isFinished());
        QCOMPARE(errorCodeOf(f), kOtherException); // the item's own exception, kept
    }
}

void TestSubmitErrors::c6_cancelBeforeStartSkipsFn()
{
    CurrentThreadExecutor ex;
    std::atomic<bool> calledB { false };
    std::atomic<bool> calledD { false };
    auto token = std::make_shared<int>(0);
    auto [a, b, c, d] = onWorker([&] {
        QFuture<int> a = ex.submit([] { return 1; });
        QFuture<int> b = ex.submit([&calledB, token] {
            calledB = true;
            return 2;
        });
        b.cancel(); // cancelled by another thread than the owner
        QFuture<void> d = ex.submit([&calledD] { calledD = true; });
        QFuture<int> c = ex.submit([] { return 3; });
        return std::make_tuple(a, b, c, d);
    });
    d.cancel(); // cancelled by the owner thread, before it processes anything
    QVERIFY(b.isCanceled());
    QVERIFY(d.isCanceled());

    QVERIFY(ex.runUntilFuture(b, joinDeadline()));
    QVERIFY(ex.runUntilFuture(c, joinDeadline()));
    QVERIFY(!calledB);
    QVERIFY(!calledD);
    QVERIFY(b.isFinished());
    QVERIFY(b.isCanceled());
    QVERIFY(d.isFinished());
    QVERIFY(d.isCanceled());
    QCOMPARE(a.result(), 1);
    QCOMPARE(c.result(), 3);
    QVERIFY(!a.isCanceled());
    QVERIFY(!c.isCanceled());
    QCOMPARE(token.use_count(), 1L); // the skipped callable was destroyed, not kept
}

void TestSubmitErrors::c6_cancelAfterStartDoesNotInterrupt()
{
    CurrentThreadExecutor ex;
    Semaphore submitted;
    Semaphore started;
    Semaphore proceed;
    std::atomic<bool> proceeded { false };
    std::atomic<bool> completed { false };
    std::atomic<bool> sawStart { false };
    std::atomic<bool> cancelled { false };
    QFuture<int> fut;

    Worker canceller([&] {
        fut = ex.submit([&] {
            started.release();
            proceeded = proceed.tryAcquire(1, kHandshakeMs);
            completed = true;
            return 5;
        });
        QFuture<int> mine = fut;
        submitted.release();
        sawStart = started.tryAcquire(1, kHandshakeMs);
        mine.cancel(); // while fn runs on the owner thread
        cancelled = mine.isCanceled();
        proceed.release();
    });
    QVERIFY(submitted.tryAcquire(1, kHandshakeMs));
    const bool finished = ex.runUntilFuture(fut, joinDeadline());
    QVERIFY(canceller.join());
    QVERIFY(finished);
    QVERIFY(sawStart);
    QVERIFY(cancelled);
    QVERIFY(proceeded); // fn kept running after the cancel...
    QVERIFY(completed); // ...to its end
    QVERIFY(fut.isFinished());
    QVERIFY(fut.isCanceled());
}

void TestSubmitErrors::c7_submitFromOwnerThrows()
{
    CurrentThreadExecutor ex;
    std::atomic<int> calls { 0 };
    auto token = std::make_shared<int>(0);
    bool thrown = false;
    ExecutorError::Code code = ExecutorError::Code::Broken;
    std::string message;
    try {
        QFuture<void> f = ex.submit([&calls, token] { ++calls; });
        Q_UNUSED(f);
    } catch (const ExecutorError &e) {
        thrown = true;
        code = e.code();
        message = e.what();
    }
    QVERIFY(thrown);
    QVERIFY(code == ExecutorError::Code::OwnThread);
    QVERIFY2(mentionsDeadlock(message.c_str()), message.c_str());
    QCOMPARE(token.use_count(), 1L); // the rejected callable was not kept anywhere
    QVERIFY(!ex.isBroken());

    // Nothing was queued: a drain up to a later item runs only that item.
    std::atomic<int> markerCalls { 0 };
    QFuture<void> marker = onWorker([&] { return ex.submit([&] { ++markerCalls; }); });
    QVERIFY(ex.runUntilFuture(marker, joinDeadline()));
    QCOMPARE(markerCalls.load(), 1);
    QCOMPARE(calls.load(), 0);
}

void TestSubmitErrors::c7_submitFromInsideRunningItemThrows()
{
    CurrentThreadExecutor ex;
    std::atomic<int> innerCalls { 0 };
    bool thrown = false;
    bool otherException = false;
    ExecutorError::Code code = ExecutorError::Code::Broken;
    std::string message;
    QFuture<void> outer = onWorker([&] {
        return ex.submit([&] {
            try {
                QFuture<void> f = ex.submit([&] { ++innerCalls; });
                Q_UNUSED(f);
            } catch (const ExecutorError &e) {
                thrown = true;
                code = e.code();
                message = e.what();
            } catch (...) {
                otherException = true;
            }
        });
    });
    QVERIFY(ex.runUntilFuture(outer, joinDeadline()));
    QVERIFY(outer.isFinished());
    QVERIFY(!otherException);
    QVERIFY(thrown);
    QVERIFY(code == ExecutorError::Code::OwnThread);
    QVERIFY2(mentionsDeadlock(message.c_str()), message.c_str());

    std::atomic<int> markerCalls { 0 };
    QFuture<void> marker = onWorker([&] { return ex.submit([&] { ++markerCalls; }); });
    QVERIFY(ex.runUntilFuture(marker, joinDeadline()));
    QVERIFY(ex.runUntilFuture(marker, joinDeadline(), RunMode::ExecutorOnly));
    QCOMPARE(markerCalls.load(), 1);
    QCOMPARE(innerCalls.load(), 0);
}

void TestSubmitErrors::c7_submitFromPlainThreadOwnerThrows()
{
    bool thrown = false;
    bool codeOk = false;
    bool messageOk = false;
    int calls = 0;
    int drained = -1;
    AnyThread owner(false, [&] {
        CurrentThreadExecutor local;
        try {
            QFuture<void> f = local.submit([&] { ++calls; });
            Q_UNUSED(f);
        } catch (const ExecutorError &e) {
            thrown = true;
            codeOk = e.code() == ExecutorError::Code::OwnThread;
            messageOk = mentionsDeadlock(e.what());
        }
        // Drain whatever might have been queued, without an event loop.
        StartedPromise<void> ready;
        ready.finish();
        local.runUntilFuture(ready.future(), RunMode::ExecutorOnly);
        drained = calls;
    });
    QVERIFY(owner.join());
    QVERIFY(thrown);
    QVERIFY(codeOk);
    QVERIFY(messageOk);
    QCOMPARE(drained, 0);
    QCOMPARE(calls, 0);
}

QTEST_GUILESS_MAIN(TestSubmitErrors)
#include "tst_submiterrors.moc"

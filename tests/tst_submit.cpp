// Tests for CurrentThreadExecutor::submit and where/when/how its items run: rules C1..C7 of docs/contract.md.
// Every test names the rule it covers. Threads are ordered with Semaphore handshakes (never
// sleeps); every std::thread is joined, every QThread waited for with a timeout.

#include <qdispatch/currentthreadexecutor.h>

#include "testsupport.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QEventLoop>
#include <QtCore/QFuture>
#include <QtCore/QPromise>
#include <QtCore/QScopeGuard>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtTest/QTest>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

using qdispatch::CurrentThreadExecutor;
using qdispatch::ExecutorError;
using qdispatch::RunMode;

using namespace qdispatchtest;

namespace {

struct CopyCounter
{
    static inline std::atomic<int> copies{0};
    static inline std::atomic<int> moves{0};
    static void reset()
    {
        copies = 0;
        moves = 0;
    }

    int value = 0;
    explicit CopyCounter(int v) : value(v) { }
    CopyCounter(const CopyCounter &other) : value(other.value) { ++copies; }
    CopyCounter(CopyCounter &&other) noexcept : value(other.value) { ++moves; }
    CopyCounter &operator=(const CopyCounter &) = delete;
    CopyCounter &operator=(CopyCounter &&) = delete;
};

// Copy-only: a user-declared copy constructor suppresses the implicit move constructor, so
// every "move" of it is a copy.
struct CopyOnly
{
    int value = 0;
    CopyOnly() = default;
    explicit CopyOnly(int v) : value(v) { }
    CopyOnly(const CopyOnly &) = default;
    CopyOnly &operator=(const CopyOnly &) = default;
};

struct MoveOnly
{
    std::unique_ptr<int> p;
};
static_assert(!std::is_copy_constructible_v<MoveOnly>);

struct MoveOnlyFn
{
    std::unique_ptr<int> base;
    int operator()(std::unique_ptr<int> a, std::unique_ptr<int> b) && { return *base + *a + *b; }
};
static_assert(!std::is_copy_constructible_v<MoveOnlyFn>);

// Tells by its result which value category it was invoked as.
struct RefQualified
{
    int operator()() & { return 1; }
    int operator()() const & { return 2; }
    int operator()() && { return 3; }
    int operator()() const && { return 4; }
};

// The same for a callable returning void: it reports through the int it points to.
struct RefQualifiedVoid
{
    std::atomic<int> *out;
    void operator()() & { *out = 1; }
    void operator()() const & { *out = 2; }
    void operator()() && { *out = 3; }
    void operator()() const && { *out = 4; }
};

struct NotAnException
{
    int code;
};

struct DerivedError : std::logic_error
{
    using std::logic_error::logic_error;
};

enum class Kind { Void, Int, CopyOnly, MoveOnly };

} // namespace

class TestSubmit : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void c1_guiThreadOwner();
    void c1_qthreadOwner();
    void c1_plainStdThreadOwner();

    void c2_submitReturnsAtOnce();
    void c2_moveOnlyCallableAndArgs();
    void c2_moveOnlyResult();
    void c2_argumentsAreDecayCopied();
    void c2_callableAndArgsInvokedAsRvalues();
    void c2_c5_resultTypeMatrix_data();
    void c2_c5_resultTypeMatrix();

    void c3_ownerThreadExactlyOnceOneAtATime_data();
    void c3_ownerThreadExactlyOnceOneAtATime();
    void c3_runsInPlainQEventLoop();
    void c3_runsInProcessEvents();

    void c4_singleProducerOrder();
    void c4_fourProducersEachInOrder();

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

// ---------------------------------------------------------------------------------------- C1

void TestSubmit::c1_guiThreadOwner()
{
    CurrentThreadExecutor ex;
    QThread *const gui = QCoreApplication::instance()->thread();
    QVERIFY(QThread::currentThread() == gui);
    QVERIFY(ex.thread() == gui);

    // thread() seen from another thread is the same, and items run there.
    auto [seenElsewhere, fut] = onWorker([&] {
        QThread *seen = ex.thread();
        return std::make_pair(seen, ex.submit([] { return QThread::currentThread(); }));
    });
    QVERIFY(seenElsewhere == gui);
    QVERIFY(ex.runUntilFuture(fut, joinDeadline()));
    QVERIFY(fut.result() == gui);
    QVERIFY(ex.thread() == gui); // never changes
}

void TestSubmit::c1_qthreadOwner()
{
    LoopThread owner(WithExecutor{}); // C3: its items run in QThread::exec()
    CurrentThreadExecutor *ex = owner.startAndWait();
    QVERIFY(ex);
    QVERIFY(ex->thread() == static_cast<QThread *>(&owner));

    Semaphore ran;
    std::atomic<QThread *> itemThread{nullptr};
    std::atomic<QThread *> reported{nullptr}; // thread() seen on the owner thread itself
    QFuture<void> fut = ex->submit([&] {
        itemThread = QThread::currentThread();
        reported = ex->thread();
        ran.release();
    });
    QVERIFY(ran.tryAcquire(1, kHandshakeMs));
    QVERIFY(itemThread.load() == static_cast<QThread *>(&owner));
    QVERIFY(reported.load() == static_cast<QThread *>(&owner));
    QVERIFY(ex->thread() == static_cast<QThread *>(&owner)); // never changes
    QVERIFY(owner.stop());
    QVERIFY(fut.isFinished());
}

void TestSubmit::c1_plainStdThreadOwner()
{
    Semaphore ready;
    QPromise<void> stopPromise;
    stopPromise.start();
    const QFuture<void> stopFuture = stopPromise.future();
    CurrentThreadExecutor *ex = nullptr;
    QThread *ownerThread = nullptr;
    QThread *reported = nullptr;
    bool waitOk = false;
    bool waitThrew = false;
    // Released just before stopPromise.finish(); the owner takes it before it destroys the
    // executor. The QPromise orders the same thing, but inside Qt where ThreadSanitizer cannot
    // see it, so this thread's last use of `ex` would look raced with the destruction.
    Semaphore stopping;

    AnyThread owner(false, [&] {
        CurrentThreadExecutor local;
        ownerThread = QThread::currentThread();
        reported = local.thread();
        ex = &local;
        ready.release();
        try {
            local.runUntilFuture(stopFuture, RunMode::ExecutorOnly);
            waitOk = true;
        } catch (...) {
            waitThrew = true;
        }
        stopping.tryAcquire(1, kHandshakeMs);
    });
    auto stop = qScopeGuard([&] {
        stopping.release();
        stopPromise.finish();
        (void)owner.join();
    });

    QVERIFY(ready.tryAcquire(1, kHandshakeMs));
    QVERIFY(ownerThread != QThread::currentThread());
    QVERIFY(reported == ownerThread);
    QVERIFY(ex->thread() == ownerThread);

    Semaphore ran;
    QThread *itemThread = nullptr;
    QFuture<int> fut = ex->submit([&] {
        itemThread = QThread::currentThread();
        ran.release();
        return 7;
    });
    QVERIFY(ran.tryAcquire(1, kHandshakeMs));
    QVERIFY(itemThread == ownerThread);
    QVERIFY(ex->thread() == ownerThread); // never changes

    stop.dismiss();
    stopping.release();
    stopPromise.finish();
    QVERIFY(owner.join());
    QVERIFY(!waitThrew);
    QVERIFY(waitOk);
    QVERIFY(fut.isFinished());
    QCOMPARE(fut.result(), 7);
}

// ---------------------------------------------------------------------------------------- C2

void TestSubmit::c2_submitReturnsAtOnce()
{
    CurrentThreadExecutor ex;
    std::atomic<bool> ran{false};
    std::atomic<bool> ranWhenReturned{true};
    std::atomic<bool> finishedWhenReturned{true};
    Semaphore returned;
    QFuture<void> fut;

    Worker producer([&] {
        fut = ex.submit([&] { ran = true; });
        ranWhenReturned = ran.load();
        finishedWhenReturned = fut.isFinished();
        returned.release();
    });
    // The owner (this thread) processes nothing while it waits here.
    const bool submitReturned = returned.tryAcquire(1, kHandshakeMs);
    if (!submitReturned)
        QCoreApplication::processEvents(); // let a submit that waits for its item return, to join
    QVERIFY(producer.join());
    QVERIFY(submitReturned);
    QVERIFY(!ranWhenReturned);
    QVERIFY(!finishedWhenReturned);
    QVERIFY(!ran);
    QVERIFY(!fut.isFinished());

    QVERIFY(ex.runUntilFuture(fut, joinDeadline()));
    QVERIFY(ran);
    QVERIFY(fut.isFinished());
}

void TestSubmit::c2_moveOnlyCallableAndArgs()
{
    CurrentThreadExecutor ex;
    auto [a, b, c] = onWorker([&] {
        MoveOnlyFn fn{std::make_unique<int>(100)};
        auto arg = std::make_unique<int>(20);
        QFuture<int> a = ex.submit(std::move(fn), std::move(arg), std::make_unique<int>(3));

        // A mutable lambda owning a unique_ptr, taking a move-only argument by rvalue reference.
        QFuture<int> b = ex.submit(
                [p = std::make_unique<int>(1000)](std::unique_ptr<int> &&q) mutable {
                    return *p + *q;
                },
                std::make_unique<int>(1));

        // A move-only argument whose ownership ends up inside the callable.
        auto owned = std::make_shared<int>(5);
        std::weak_ptr<int> watch = owned;
        QFuture<bool> c = ex.submit(
                [watch](std::unique_ptr<std::shared_ptr<int>> holder) {
                    return holder && *holder && !watch.expired();
                },
                std::make_unique<std::shared_ptr<int>>(std::move(owned)));
        return std::make_tuple(a, b, c);
    });
    QVERIFY(ex.runUntilFuture(c, joinDeadline()));
    QVERIFY(a.isFinished());
    QVERIFY(b.isFinished());
    QCOMPARE(a.result(), 123);
    QCOMPARE(b.result(), 1001);
    QCOMPARE(c.result(), true);
}

void TestSubmit::c2_moveOnlyResult()
{
    CurrentThreadExecutor ex;
    QFuture<std::unique_ptr<int>> fut = onWorker([&] {
        auto source = std::make_unique<int>(42);
        return ex.submit([](std::unique_ptr<int> p) { return p; }, std::move(source));
    });
    QVERIFY(ex.runUntilFuture(fut, joinDeadline()));
    QVERIFY(fut.isFinished());
    QVERIFY(fut.isValid());
    std::unique_ptr<int> out = fut.takeResult();
    QVERIFY(out);
    QCOMPARE(*out, 42);
}

void TestSubmit::c2_argumentsAreDecayCopied()
{
    CurrentThreadExecutor ex;

    // An lvalue argument is copied exactly once into the item; later changes to it do not
    // reach the item. An rvalue one is never copied.
    CopyCounter::reset();
    int copiesAfterLvalueSubmit = -1;
    int copiesAfterRvalueSubmit = -1;
    auto [lv, rv] = onWorker([&] {
        CopyCounter counter(5);
        QFuture<int> lv = ex.submit([](const CopyCounter &c) { return c.value; }, counter);
        copiesAfterLvalueSubmit = CopyCounter::copies;
        counter.value = 99;
        QFuture<int> rv = ex.submit([](CopyCounter c) { return c.value; }, CopyCounter(7));
        copiesAfterRvalueSubmit = CopyCounter::copies;
        return std::make_pair(lv, rv);
    });
    QCOMPARE(copiesAfterLvalueSubmit, 1);
    QCOMPARE(copiesAfterRvalueSubmit, 1);
    QVERIFY(ex.runUntilFuture(rv, joinDeadline()));
    QCOMPARE(lv.result(), 5);
    QCOMPARE(rv.result(), 7);
    QCOMPARE(CopyCounter::copies.load(), 1); // invoking copies nothing either

    // An lvalue callable is copied (its captured state with it); an rvalue one is moved.
    CopyCounter::reset();
    int callableCopies = -1;
    int rvalueCallableCopies = -1;
    QFuture<int> fromLvalueFn = onWorker([&] {
        CopyCounter captured(11);
        auto fn = [captured] { return captured.value; };
        CopyCounter::reset();
        QFuture<int> f = ex.submit(fn);
        callableCopies = CopyCounter::copies;
        CopyCounter::reset();
        QFuture<int> g = ex.submit([captured] { return captured.value + 1; });
        rvalueCallableCopies = CopyCounter::copies - 1; // the capture itself is one copy
        return g;
    });
    QCOMPARE(callableCopies, 1);
    QCOMPARE(rvalueCallableCopies, 0);
    QVERIFY(ex.runUntilFuture(fromLvalueFn, joinDeadline()));
    QCOMPARE(fromLvalueFn.result(), 12);

    // A reference argument decays to a value: the item sees its own copy, not the original.
    int original = 1;
    const int *originalAddress = &original;
    auto [addr, seen] = onWorker([&] {
        int &ref = original;
        QFuture<const int *> addr = ex.submit([](const int &r) { return &r; }, ref);
        QFuture<int> seen = ex.submit([](const int &r) { return r; }, ref);
        original = 2;
        return std::make_pair(addr, seen);
    });
    QVERIFY(ex.runUntilFuture(seen, joinDeadline()));
    QVERIFY(addr.result() != originalAddress);
    QCOMPARE(seen.result(), 1);

    // ...while std::ref still passes a reference on purpose.
    int target = 0;
    QFuture<void> viaRef = onWorker([&] {
        return ex.submit([](int &r) { r = 33; }, std::ref(target));
    });
    QVERIFY(ex.runUntilFuture(viaRef, joinDeadline()));
    QCOMPARE(target, 33);
}

void TestSubmit::c2_callableAndArgsInvokedAsRvalues()
{
    CurrentThreadExecutor ex;
    auto [fromRvalue, fromLvalue, fromConst, argIsRvalue] = onWorker([&] {
        RefQualified lvalueFn;
        const RefQualified constFn;
        std::string text = "kept";
        QFuture<int> a = ex.submit(RefQualified{});
        QFuture<int> b = ex.submit(lvalueFn);
        QFuture<int> c = ex.submit(constFn); // decays: the stored copy is not const
        QFuture<bool> d = ex.submit(
                [](auto &&s) {
                    (void)s;
                    return std::is_rvalue_reference_v<decltype(s)>
                            && !std::is_const_v<std::remove_reference_t<decltype(s)>>;
                },
                text);
        return std::make_tuple(a, b, c, d);
    });
    QVERIFY(ex.runUntilFuture(argIsRvalue, joinDeadline()));
    QCOMPARE(fromRvalue.result(), 3);
    QCOMPARE(fromLvalue.result(), 3);
    QCOMPARE(fromConst.result(), 3);
    QCOMPARE(argIsRvalue.result(), true);

    // The same when the callable returns void.
    std::atomic<int> voidFnCategory{0};
    std::atomic<int> voidArgIsRvalue{-1};
    QFuture<void> last = onWorker([&] {
        RefQualifiedVoid fn{&voidFnCategory};
        std::string text = "kept";
        ex.submit(fn);
        return ex.submit(
                [&voidArgIsRvalue](auto &&s) {
                    (void)s;
                    voidArgIsRvalue = std::is_rvalue_reference_v<decltype(s)> ? 1 : 0;
                },
                text);
    });
    QVERIFY(ex.runUntilFuture(last, joinDeadline()));
    QCOMPARE(voidFnCategory.load(), 3);
    QCOMPARE(voidArgIsRvalue.load(), 1);
}

namespace {
template <typename T>
T makeResult(std::atomic<int> &calls, int v)
{
    ++calls;
    if constexpr (std::is_void_v<T>) {
        (void)v;
    } else if constexpr (std::is_same_v<T, int>) {
        return v;
    } else if constexpr (std::is_same_v<T, CopyOnly>) {
        return CopyOnly(v);
    } else {
        return MoveOnly{std::make_unique<int>(v)};
    }
}

template <typename T>
void checkResultKind()
{
    CurrentThreadExecutor ex;
    std::atomic<int> calls{0};
    std::atomic<int> throwingCalls{0};
    auto [good, bad] = onWorker([&] {
        QFuture<T> good = ex.submit([&calls](int v) { return makeResult<T>(calls, v); }, 42);
        QFuture<T> bad = ex.submit([&throwingCalls](int) -> T {
            ++throwingCalls;
            throw std::runtime_error("matrix failure");
        }, 1);
        return std::make_pair(good, bad);
    });
    QVERIFY(!good.isFinished());
    QVERIFY(ex.runUntilFuture(bad, joinDeadline()));
    QVERIFY(good.isFinished());
    QVERIFY(bad.isFinished());
    QCOMPARE(calls.load(), 1);
    QCOMPARE(throwingCalls.load(), 1);

    if constexpr (std::is_same_v<T, int>) {
        QCOMPARE(good.result(), 42);
    } else if constexpr (std::is_same_v<T, CopyOnly>) {
        QCOMPARE(good.result().value, 42);
    } else if constexpr (std::is_same_v<T, MoveOnly>) {
        MoveOnly taken = good.takeResult();
        QVERIFY(taken.p);
        QCOMPARE(*taken.p, 42);
    }

    std::string message;
    bool caught = false;
    try {
        bad.waitForFinished();
    } catch (const std::runtime_error &e) {
        caught = true;
        message = e.what();
    } catch (...) {
    }
    QVERIFY(caught);
    QCOMPARE(message, std::string("matrix failure"));
}
} // namespace

void TestSubmit::c2_c5_resultTypeMatrix_data()
{
    QTest::addColumn<int>("kind");
    QTest::newRow("void") << int(Kind::Void);
    QTest::newRow("int") << int(Kind::Int);
    QTest::newRow("copyOnly") << int(Kind::CopyOnly);
    QTest::newRow("moveOnly") << int(Kind::MoveOnly);
}

void TestSubmit::c2_c5_resultTypeMatrix()
{
    QFETCH(int, kind);
    switch (Kind(kind)) {
    case Kind::Void:
        checkResultKind<void>();
        break;
    case Kind::Int:
        checkResultKind<int>();
        break;
    case Kind::CopyOnly:
        checkResultKind<CopyOnly>();
        break;
    case Kind::MoveOnly:
        checkResultKind<MoveOnly>();
        break;
    }
}

// ---------------------------------------------------------------------------------------- C3

void TestSubmit::c3_ownerThreadExactlyOnceOneAtATime_data()
{
    addModeRows();
}

void TestSubmit::c3_ownerThreadExactlyOnceOneAtATime()
{
    QFETCH(RunMode, mode);
    constexpr int kProducers = 4;
    constexpr int kPerProducer = 1000;
    constexpr int kTotal = kProducers * kPerProducer;

    CurrentThreadExecutor ex;
    auto runs = std::make_unique<std::atomic<int>[]>(kTotal);
    for (int i = 0; i < kTotal; ++i)
        runs[i] = 0;
    std::atomic<int> inside{0};
    std::atomic<int> maxInside{0};
    std::atomic<int> wrongThread{0};
    std::atomic<int> ran{0};
    QPromise<void> allRan;
    allRan.start();
    std::vector<QFuture<int>> futures[kProducers];

    std::vector<std::unique_ptr<Worker>> producers;
    for (int p = 0; p < kProducers; ++p) {
        producers.push_back(std::make_unique<Worker>([&, p] {
            for (int i = 0; i < kPerProducer; ++i) {
                const int id = p * kPerProducer + i;
                futures[p].push_back(ex.submit([&, id] {
                    const int now = ++inside;
                    int seen = maxInside.load();
                    while (now > seen && !maxInside.compare_exchange_weak(seen, now)) { }
                    if (QThread::currentThread() != ex.thread())
                        ++wrongThread;
                    ++runs[id];
                    --inside;
                    if (++ran == kTotal)
                        allRan.finish();
                    return id;
                }));
            }
        }));
    }
    const bool done = ex.runUntilFuture(allRan.future(), joinDeadline(), mode);
    producers.clear(); // joins
    QVERIFY(done);
    QCOMPARE(ran.load(), kTotal);

    // A later drain must not run anything a second time.
    QFuture<void> marker = onWorker([&] { return ex.submit([] { }); });
    QVERIFY(ex.runUntilFuture(marker, joinDeadline(), mode));

    QCOMPARE(wrongThread.load(), 0);
    QCOMPARE(maxInside.load(), 1);
    QCOMPARE(ran.load(), kTotal);
    for (int i = 0; i < kTotal; ++i) {
        if (runs[i] != 1)
            QFAIL(qPrintable(QStringLiteral("item %1 ran %2 times").arg(i).arg(runs[i].load())));
    }
    for (int p = 0; p < kProducers; ++p) {
        QCOMPARE(int(futures[p].size()), kPerProducer);
        for (int i = 0; i < kPerProducer; ++i) {
            QVERIFY(futures[p][i].isFinished());
            QCOMPARE(futures[p][i].result(), p * kPerProducer + i);
        }
    }
}

void TestSubmit::c3_runsInPlainQEventLoop()
{
    constexpr int kItems = 500;
    CurrentThreadExecutor ex;
    QEventLoop loop;
    bool timedOut = false;
    QTimer safety;
    safety.setSingleShot(true);
    QObject::connect(&safety, &QTimer::timeout, &loop, [&] {
        timedOut = true;
        loop.quit();
    });
    safety.start(30000);

    int ran = 0;
    int wrongThread = 0;
    std::vector<QFuture<void>> futures;
    Worker producer([&] {
        for (int i = 0; i < kItems; ++i) {
            futures.push_back(ex.submit([&] {
                if (QThread::currentThread() != ex.thread())
                    ++wrongThread;
                if (++ran == kItems)
                    loop.quit();
            }));
        }
    });
    loop.exec();
    QVERIFY(producer.join());
    QVERIFY(!timedOut);
    QCOMPARE(ran, kItems);
    QCOMPARE(wrongThread, 0);
    QCOMPARE(int(futures.size()), kItems);
    for (const auto &f : futures)
        QVERIFY(f.isFinished());
}

void TestSubmit::c3_runsInProcessEvents()
{
    constexpr int kItems = 500;
    CurrentThreadExecutor ex;
    std::atomic<int> ran{0};
    int wrongThread = 0;
    QTimer tick; // wakes processEvents(WaitForMoreEvents) so the deadline is looked at
    tick.start(50);
    std::vector<QFuture<void>> futures;
    Worker producer([&] {
        for (int i = 0; i < kItems; ++i) {
            futures.push_back(ex.submit([&] {
                if (QThread::currentThread() != ex.thread())
                    ++wrongThread;
                ++ran;
            }));
        }
    });
    const QDeadlineTimer deadline = joinDeadline();
    while (ran < kItems && !deadline.hasExpired())
        QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents);
    QVERIFY(producer.join());
    QCOMPARE(ran.load(), kItems);
    QCOMPARE(wrongThread, 0);
    for (const auto &f : futures)
        QVERIFY(f.isFinished());
}

// ---------------------------------------------------------------------------------------- C4

void TestSubmit::c4_singleProducerOrder()
{
    constexpr int kItems = 10000;
    CurrentThreadExecutor ex;
    std::vector<int> order; // owner thread only
    order.reserve(kItems);
    QPromise<void> allRan;
    allRan.start();

    Worker producer([&] {
        for (int i = 0; i < kItems; ++i) {
            ex.submit([&, i] {
                order.push_back(i);
                if (int(order.size()) == kItems)
                    allRan.finish();
            });
        }
    });
    const bool done = ex.runUntilFuture(allRan.future(), joinDeadline());
    QVERIFY(producer.join());
    QVERIFY(done);
    QCOMPARE(int(order.size()), kItems);
    for (int i = 0; i < kItems; ++i) {
        if (order[i] != i)
            QFAIL(qPrintable(QStringLiteral("position %1 holds item %2").arg(i).arg(order[i])));
    }
}

void TestSubmit::c4_fourProducersEachInOrder()
{
    constexpr int kProducers = 4;
    constexpr int kPerProducer = 2500;
    constexpr int kTotal = kProducers * kPerProducer;
    CurrentThreadExecutor ex;
    std::vector<std::pair<int, int>> order; // owner thread only
    order.reserve(kTotal);
    QPromise<void> allRan;
    allRan.start();
    Semaphore go;
    std::atomic<int> startFailures{0};

    std::vector<std::unique_ptr<Worker>> producers;
    for (int p = 0; p < kProducers; ++p) {
        producers.push_back(std::make_unique<Worker>([&, p] {
            if (!go.tryAcquire(1, kHandshakeMs))
                ++startFailures;
            for (int i = 0; i < kPerProducer; ++i) {
                ex.submit([&, p, i] {
                    order.emplace_back(p, i);
                    if (int(order.size()) == kTotal)
                        allRan.finish();
                });
            }
        }));
    }
    go.release(kProducers); // all start together
    const bool done = ex.runUntilFuture(allRan.future(), joinDeadline());
    producers.clear(); // joins
    QVERIFY(done);
    QCOMPARE(startFailures.load(), 0);
    QCOMPARE(int(order.size()), kTotal);
    int next[kProducers] = {};
    for (const auto &[p, i] : order) {
        if (i != next[p])
            QFAIL(qPrintable(QStringLiteral("producer %1: item %2 ran where %3 was due")
                                     .arg(p)
                                     .arg(i)
                                     .arg(next[p])));
        ++next[p];
    }
    for (int p = 0; p < kProducers; ++p)
        QCOMPARE(next[p], kPerProducer);
}

// ---------------------------------------------------------------------------------------- C5

void TestSubmit::c5_stdExceptionSameTypeAndMessage()
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
        } catch (...) {
        }
        return false;
    };
    QVERIFY(inspect([&] { (void)plain.result(); }, typeid(std::runtime_error), "plain boom"));
    QVERIFY(inspect([&] { plain.waitForFinished(); }, typeid(std::runtime_error), "plain boom"));
    QVERIFY(inspect([&] { (void)derived.result(); }, typeid(DerivedError), "derived boom"));
    QVERIFY(inspect([&] { viaVoid.waitForFinished(); }, typeid(std::out_of_range), "void boom"));
}

void TestSubmit::c5_nonStdExceptionTypes()
{
    CurrentThreadExecutor ex;
    auto [anInt, aStruct] = onWorker([&] {
        QFuture<int> anInt = ex.submit([]() -> int { throw 42; });
        QFuture<void> aStruct = ex.submit([] { throw NotAnException{7}; });
        return std::make_pair(anInt, aStruct);
    });
    QVERIFY(ex.runUntilFuture(aStruct, joinDeadline()));
    QVERIFY(anInt.isFinished());

    int thrownInt = 0;
    try {
        (void)anInt.result();
    } catch (int v) {
        thrownInt = v;
    } catch (...) {
    }
    QCOMPARE(thrownInt, 42);

    int thrownCode = 0;
    try {
        aStruct.waitForFinished();
    } catch (const NotAnException &e) {
        thrownCode = e.code;
    } catch (...) {
    }
    QCOMPARE(thrownCode, 7);
}

void TestSubmit::c5_executorContinuesAfterException()
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
    QCOMPARE(ranOrder, (std::vector<int>{1, 2, 3, 4}));
    QVERIFY(first.isFinished());
    QVERIFY(third.isFinished());
    QCOMPARE(second.result(), 2);
    QCOMPARE(fourth.result(), 4);
    QVERIFY(!ex.isBroken());
}

void TestSubmit::c5_nothingEscapesIntoEventLoop()
{
    // The owner runs a plain QEventLoop (the Receiver's event handler drains): if an item's
    // exception escaped it, Qt would abort or exec() would throw.
    CurrentThreadExecutor ex;
    QEventLoop loop;
    bool timedOut = false;
    QTimer safety;
    safety.setSingleShot(true);
    QObject::connect(&safety, &QTimer::timeout, &loop, [&] {
        timedOut = true;
        loop.quit();
    });
    safety.start(30000);

    std::vector<QFuture<void>> throwing;
    QFuture<int> last;
    Worker producer([&] {
        throwing.push_back(ex.submit([] { throw std::runtime_error("loop boom"); }));
        throwing.push_back(ex.submit([] { throw 42; }));
        throwing.push_back(ex.submit([] { throw NotAnException{1}; }));
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
    QVERIFY(!timedOut);
    QCOMPARE(exitCode, 0);
    QCOMPARE(last.result(), 9);
    for (auto &f : throwing) {
        QVERIFY(f.isFinished());
        bool rethrown = false;
        try {
            f.waitForFinished();
        } catch (...) {
            rethrown = true;
        }
        QVERIFY(rethrown);
    }
}

// ---------------------------------------------------------------------------------------- C6

void TestSubmit::c6_cancelBeforeStartSkipsFn()
{
    CurrentThreadExecutor ex;
    std::atomic<bool> calledB{false};
    std::atomic<bool> calledD{false};
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

void TestSubmit::c6_cancelAfterStartDoesNotInterrupt()
{
    CurrentThreadExecutor ex;
    Semaphore submitted;
    Semaphore started;
    Semaphore proceed;
    std::atomic<bool> proceeded{false};
    std::atomic<bool> completed{false};
    std::atomic<bool> sawStart{false};
    std::atomic<bool> cancelled{false};
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

// ---------------------------------------------------------------------------------------- C7

namespace {
bool mentionsDeadlock(const char *what)
{
    const std::string text(what);
    return text.find("deadlock") != std::string::npos && text.find("thread") != std::string::npos;
}
} // namespace

void TestSubmit::c7_submitFromOwnerThrows()
{
    CurrentThreadExecutor ex;
    std::atomic<int> calls{0};
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
    std::atomic<int> markerCalls{0};
    QFuture<void> marker = onWorker([&] { return ex.submit([&] { ++markerCalls; }); });
    QVERIFY(ex.runUntilFuture(marker, joinDeadline()));
    QCOMPARE(markerCalls.load(), 1);
    QCOMPARE(calls.load(), 0);
}

void TestSubmit::c7_submitFromInsideRunningItemThrows()
{
    CurrentThreadExecutor ex;
    std::atomic<int> innerCalls{0};
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

    std::atomic<int> markerCalls{0};
    QFuture<void> marker = onWorker([&] { return ex.submit([&] { ++markerCalls; }); });
    QVERIFY(ex.runUntilFuture(marker, joinDeadline()));
    QVERIFY(ex.runUntilFuture(marker, joinDeadline(), RunMode::ExecutorOnly));
    QCOMPARE(markerCalls.load(), 1);
    QCOMPARE(innerCalls.load(), 0);
}

void TestSubmit::c7_submitFromPlainThreadOwnerThrows()
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
        QPromise<void> ready;
        ready.start();
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

QTEST_GUILESS_MAIN(TestSubmit)
#include "tst_submit.moc"

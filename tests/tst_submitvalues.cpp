// Tests for what CurrentThreadExecutor::submit takes and gives back, C2: it returns at once;
// callables and arguments are stored as decayed copies (moved when they are rvalues) and invoked
// as rvalues; move-only callables, arguments and results work; with C5, every result type,
// void included, and every one of them failing. Threads are ordered with Semaphore handshakes
// (never sleeps); every thread is joined with a timeout.

#include <qdispatch/currentthreadexecutor.h>

#include "testsupport.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QFuture>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <atomic>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

struct CopyCounter
{
    static inline std::atomic<int> copies { 0 };
    static inline std::atomic<int> moves { 0 };
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

template<typename T> T makeResult(std::atomic<int> &calls, int v)
{
    ++calls;
    if constexpr (std::is_void_v<T>) {
        (void)v;
    } else if constexpr (std::is_same_v<T, int>) {
        return v;
    } else if constexpr (std::is_same_v<T, CopyOnly>) {
        return CopyOnly(v);
    } else {
        return MoveOnly { std::make_unique<int>(v) };
    }
}

// One result type's check, for the rows of c2_c5_resultTypeMatrix.
using ResultCheck = void (*)();

template<typename T> void checkResultKind()
{
    CurrentThreadExecutor ex;
    std::atomic<int> calls { 0 };
    std::atomic<int> throwingCalls { 0 };
    auto [good, bad] = onWorker([&] {
        QFuture<T> good = ex.submit([&calls](int v) { return makeResult<T>(calls, v); }, 42);
        QFuture<T> bad = ex.submit(
            [&throwingCalls](int) -> T {
                ++throwingCalls;
                throw std::runtime_error("matrix failure");
            },
            1);
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
    } catch (...) { }
    QVERIFY(caught);
    QCOMPARE(message, std::string("matrix failure"));
}

} // namespace

class TestSubmitValues : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void c2_submitReturnsAtOnce();
    void c2_moveOnlyCallableAndArgs();
    void c2_moveOnlyResult();
    void c2_argumentsAreDecayCopied();
    void c2_callableAndArgsInvokedAsRvalues();
    void c2_c5_resultTypeMatrix_data();
    void c2_c5_resultTypeMatrix();
};

void TestSubmitValues::c2_submitReturnsAtOnce()
{
    CurrentThreadExecutor ex;
    std::atomic<bool> ran { false };
    std::atomic<bool> ranWhenReturned { true };
    std::atomic<bool> finishedWhenReturned { true };
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

void TestSubmitValues::c2_moveOnlyCallableAndArgs()
{
    CurrentThreadExecutor ex;
    auto [a, b, c] = onWorker([&] {
        MoveOnlyFn fn { std::make_unique<int>(100) };
        auto arg = std::make_unique<int>(20);
        QFuture<int> a = ex.submit(std::move(fn), std::move(arg), std::make_unique<int>(3));

        // A mutable lambda owning a unique_ptr, taking a move-only argument by rvalue reference.
        QFuture<int> b = ex.submit(
            [p = std::make_unique<int>(1000)](std::unique_ptr<int> &&q) mutable { return *p + *q; },
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

void TestSubmitValues::c2_moveOnlyResult()
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

void TestSubmitValues::c2_argumentsAreDecayCopied()
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
    QFuture<void> viaRef =
        onWorker([&] { return ex.submit([](int &r) { r = 33; }, std::ref(target)); });
    QVERIFY(ex.runUntilFuture(viaRef, joinDeadline()));
    QCOMPARE(target, 33);
}

void TestSubmitValues::c2_callableAndArgsInvokedAsRvalues()
{
    CurrentThreadExecutor ex;
    auto [fromRvalue, fromLvalue, fromConst, argIsRvalue] = onWorker([&] {
        RefQualified lvalueFn;
        const RefQualified constFn;
        std::string text = "kept";
        QFuture<int> a = ex.submit(RefQualified {});
        QFuture<int> b = ex.submit(lvalueFn);
        QFuture<int> c = ex.submit(constFn); // decays: the stored copy is not const
        QFuture<bool> d = ex.submit(
            [](auto &&s) {
                (void)s;
                return std::is_rvalue_reference_v<decltype(s)> &&
                    !std::is_const_v<std::remove_reference_t<decltype(s)>>;
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
    std::atomic<int> voidFnCategory { 0 };
    std::atomic<int> voidArgIsRvalue { -1 };
    QFuture<void> last = onWorker([&] {
        RefQualifiedVoid fn { &voidFnCategory };
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

void TestSubmitValues::c2_c5_resultTypeMatrix_data()
{
    QTest::addColumn<ResultCheck>("check");
    QTest::newRow("void") << &checkResultKind<void>;
    QTest::newRow("int") << &checkResultKind<int>;
    QTest::newRow("copyOnly") << &checkResultKind<CopyOnly>;
    QTest::newRow("moveOnly") << &checkResultKind<MoveOnly>;
}

void TestSubmitValues::c2_c5_resultTypeMatrix()
{
    QFETCH(ResultCheck, check);
    check();
}

QTEST_GUILESS_MAIN(TestSubmitValues)
#include "tst_submitvalues.moc"

// Tests for context objects (X8): submit(context, fn, args...), post(context, fn) and
// postLatest(context, key, fn), on the executor and through an ExecutorHandle (X7). Every test
// names the rule it guards. Threads are ordered with Semaphore hand-offs (never sleeps); every
// worker thread is joined with a time limit.

#include <qdispatch/currentthreadexecutor.h>

#include "testsupport.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QFuture>
#include <QtCore/QPointer>
#include <QtCore/QRegularExpression>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <atomic>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

// A stand-in for a widget: any QObject subclass works as a context.
class Widget : public QObject
{ };

// X8, overload resolution, checked by the compiler. The plain submit(fn, args...) has the
// result type of a call, so it does not exist for a pointer in front; only the context form can
// make these well-formed, and only the plain form can make the last ones QFuture<QObject *>.
template<typename Target, typename... A>
using SubmitResult = decltype(std::declval<Target &>().submit(std::declval<A>()...));
template<typename Target, typename Void, typename... A> struct CanSubmit : std::false_type
{ };
template<typename Target, typename... A>
struct CanSubmit<Target, std::void_t<SubmitResult<Target, A...>>, A...> : std::true_type
{ };

// Callables for the overload checks (types only: nothing here is called).
struct ReturnsInt
{
    int operator()() const { return 1; }
};
struct TakesObject
{
    QObject *operator()(QObject *object) const { return object; }
};

static_assert(
    std::is_same_v<SubmitResult<CurrentThreadExecutor, Widget *, ReturnsInt>, QFuture<int>>);
static_assert(std::is_same_v<SubmitResult<ExecutorHandle, Widget *, ReturnsInt>, QFuture<int>>);
static_assert(
    std::is_same_v<SubmitResult<CurrentThreadExecutor, const QObject *, ReturnsInt>, QFuture<int>>);
static_assert(std::is_same_v<SubmitResult<CurrentThreadExecutor, QPointer<Widget> &, ReturnsInt>,
                             QFuture<int>>);
static_assert(std::is_same_v<SubmitResult<CurrentThreadExecutor, Widget *, TakesObject, Widget *>,
                             QFuture<QObject *>>);
static_assert(
    std::is_same_v<SubmitResult<CurrentThreadExecutor, TakesObject, Widget *>, QFuture<QObject *>>);
static_assert(
    std::is_same_v<SubmitResult<ExecutorHandle, TakesObject, Widget *>, QFuture<QObject *>>);
// A context with a callable that does not fit its arguments is no call at all.
static_assert(!CanSubmit<CurrentThreadExecutor, void, Widget *, TakesObject>::value);
static_assert(!CanSubmit<CurrentThreadExecutor, void, Widget *>::value);

// The executor itself, or a handle to it (X7: "behaving exactly as the executor's own").
struct Target
{
    CurrentThreadExecutor &ex;
    bool viaHandle;

    template<typename... A> auto submit(A &&...args) const
    {
        return viaHandle ? ex.handle().submit(std::forward<A>(args)...)
                         : ex.submit(std::forward<A>(args)...);
    }
    template<typename... A> void post(A &&...args) const
    {
        if (viaHandle)
            ex.handle().post(std::forward<A>(args)...);
        else
            ex.post(std::forward<A>(args)...);
    }
    template<typename... A> void postLatest(A &&...args) const
    {
        if (viaHandle)
            ex.handle().postLatest(std::forward<A>(args)...);
        else
            ex.postLatest(std::forward<A>(args)...);
    }
};

} // namespace

class TestContext : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    // Every test runs on the executor and through a handle to it (X7).
    void initTestCase_data();
    void init();

    void x8_destroyedBeforeStartSkipsSubmit();
    void x8_destroyedBeforeStartSkipsPostsSilently();
    void x8_destroyedByEarlierItemInSameDrain();
    void x8_aliveContextRunsNormally();
    void x8_nullContextIsAContextThatIsGone();
    void x8_c6_cancelBeforeStartStillSkips();
    void x8_c12_itemHandedDownChainKeepsItsContext();
    void x8_c12_brokenChainWithContextGoneIsSilent();
    void x8_contextInAnotherThread();
    void x8_overloads_postWithQObjectIsContextPostLatestWithTwoArgsIsKey();
    void x8_overloads_submitWithObjectArgumentIsPlain();
};

void TestContext::init()
{
    // "Nothing is logged" for a skipped post: any warning a test does not expect fails it.
    QTest::failOnWarning(QRegularExpression(QStringLiteral(".*")));
}

// The global row: through a handle, or on the executor itself.
static bool viaHandleRow()
{
    QFETCH_GLOBAL(bool, viaHandle);
    return viaHandle;
}

void TestContext::initTestCase_data()
{
    addRows<bool>("viaHandle", { { "executor", false }, { "handle", true } });
}

// X8: the context is destroyed (on its own thread, the owner) after the item was accepted and
// before it starts: fn never runs and the future finishes as cancelled.
void TestContext::x8_destroyedBeforeStartSkipsSubmit()
{
    CurrentThreadExecutor ex;
    const Target target { ex, viaHandleRow() };
    auto *context = new Widget;
    std::atomic<int> calls { 0 };
    QFuture<int> skipped;
    QFuture<void> skippedVoid;
    Worker worker([&] {
        skipped = target.submit(context, [&calls] { return ++calls; });
        skippedVoid = target.submit(
            context, [&calls](int n) { calls += n; }, 10);
    });
    QVERIFY(worker.join());
    delete context;
    drain(ex);
    QCOMPARE(calls.load(), 0);
    QVERIFY(skipped.isFinished());
    QVERIFY(skipped.isCanceled());
    QCOMPARE(skipped.resultCount(), 0);
    QVERIFY(skippedVoid.isFinished());
    QVERIFY(skippedVoid.isCanceled());
}

// X8: for post and postLatest, nothing runs and nothing is logged (init() fails on any warning).
void TestContext::x8_destroyedBeforeStartSkipsPostsSilently()
{
    CurrentThreadExecutor ex;
    const Target target { ex, viaHandleRow() };
    auto *context = new Widget;
    int calls = 0;
    int key = 0;
    target.post(context, [&calls] { ++calls; }); // from the owner thread: queued (X1)
    target.postLatest(context, &key, [&calls] { ++calls; });
    Worker worker([&] {
        target.post(context, [&calls] { ++calls; });
        target.postLatest(context, &key, [&calls] { ++calls; }); // replaces the owner's
    });
    QVERIFY(worker.join());
    delete context;
    drain(ex);
    QCOMPARE(calls, 0);
}

// X8: an earlier item of the same drain destroys the context; the later items of that context
// are skipped, the items of another context still run, in order (C4).
void TestContext::x8_destroyedByEarlierItemInSameDrain()
{
    CurrentThreadExecutor ex;
    const Target target { ex, viaHandleRow() };
    QPointer<Widget> doomed = new Widget;
    Widget survivor;
    std::vector<int> order; // items only, on the owner thread
    QFuture<int> before;
    QFuture<int> after;
    QFuture<int> other;
    Worker worker([&] {
        Widget *context = doomed.data(); // alive until the first item runs
        before = target.submit(context, [&order] {
            order.push_back(1);
            return 1;
        });
        target.post([&order, context] {
            order.push_back(2);
            delete context;
        });
        after = target.submit(context, [&order] {
            order.push_back(3);
            return 3;
        });
        target.post(context, [&order] { order.push_back(4); });
        other = target.submit(&survivor, [&order] {
            order.push_back(5);
            return 5;
        });
    });
    QVERIFY(worker.join());
    drain(ex);
    QVERIFY(doomed.isNull());
    QCOMPARE(order, (std::vector<int> { 1, 2, 5 }));
    QCOMPARE(before.result(), 1);
    QVERIFY(after.isFinished());
    QVERIFY(after.isCanceled());
    QCOMPARE(other.result(), 5);
}

// X8 with a live context: the item is an ordinary item (C2..C5): runs on the owner thread with
// its arguments, delivers its result and its exception; postLatest still replaces by key (X2).
void TestContext::x8_aliveContextRunsNormally()
{
    CurrentThreadExecutor ex;
    const Target target { ex, viaHandleRow() };
    Widget context;
    QPointer<Widget> guard(&context);
    QFuture<QThread *> where;
    QFuture<int> sum;
    QFuture<void> throws;
    QFuture<std::unique_ptr<int>> moveOnly;
    QThread *postedOn = nullptr;
    std::vector<int> latest;
    int key = 0;
    Semaphore posted;
    Worker worker([&] {
        where = target.submit(&context, [] { return QThread::currentThread(); });
        sum = target.submit(
            guard, [](int a, int b) { return a + b; }, 2, 3);
        throws = target.submit(&context, [] { throw std::runtime_error("item failed"); });
        moveOnly = target.submit(
            &context, [](std::unique_ptr<int> p) { return p; }, std::make_unique<int>(7));
        target.post(&context, [&postedOn] { postedOn = QThread::currentThread(); });
        for (int i = 0; i < 100; ++i)
            target.postLatest(&context, &key, [&latest, i] { latest.push_back(i); });
        posted.release();
    });
    QVERIFY(posted.tryAcquire(1, kHandshakeMs));
    QVERIFY(worker.join());
    drain(ex);
    QCOMPARE(where.result(), ex.thread());
    QCOMPARE(sum.result(), 5);
    QVERIFY_THROWS_EXCEPTION(std::runtime_error, throws.waitForFinished());
    QCOMPARE(*moveOnly.takeResult(), 7);
    QCOMPARE(postedOn, ex.thread());
    QCOMPARE(latest, (std::vector<int> { 99 }));
}

// X8: a null context (say, a QPointer whose object is already gone) skips like a destroyed one.
void TestContext::x8_nullContextIsAContextThatIsGone()
{
    CurrentThreadExecutor ex;
    const Target target { ex, viaHandleRow() };
    QPointer<Widget> gone;
    int calls = 0;
    QFuture<int> future;
    Worker worker([&] { future = target.submit(gone, [&calls] { return ++calls; }); });
    QVERIFY(worker.join());
    target.post(gone, [&calls] { ++calls; });
    drain(ex);
    QCOMPARE(calls, 0);
    QVERIFY(future.isCanceled());
}

// C6 holds for the context form: cancelled before it starts, with its context alive, fn is
// never called.
void TestContext::x8_c6_cancelBeforeStartStillSkips()
{
    CurrentThreadExecutor ex;
    const Target target { ex, viaHandleRow() };
    Widget context;
    int calls = 0;
    QFuture<int> cancelled;
    QFuture<int> kept;
    Worker worker([&] {
        cancelled = target.submit(&context, [&calls] { return ++calls; });
        kept = target.submit(&context, [&calls] { return calls += 10; });
    });
    QVERIFY(worker.join());
    cancelled.cancel();
    drain(ex);
    QCOMPARE(calls, 10);
    QVERIFY(cancelled.isFinished());
    QVERIFY(cancelled.isCanceled());
    QCOMPARE(kept.result(), 10);
}

// X8 with C12: items queued on an executor that breaks move down the chain with their context;
// the one whose context dies before it runs there is skipped, the other runs on the old
// executor's thread.
void TestContext::x8_c12_itemHandedDownChainKeepsItsContext()
{
    std::atomic<CurrentThreadExecutor *> published { nullptr };
    Semaphore ready;
    Semaphore queued;
    Semaphore release;
    // The newer executor lives on a worker thread that never runs it, so its items are still
    // queued when it breaks.
    CurrentThreadExecutor outer;
    auto *doomed = new Widget;
    Widget alive;
    QFuture<int> skipped;
    QFuture<QThread *> ran;
    std::atomic<int> calls { 0 };
    Worker owner([&] {
        CurrentThreadExecutor inner(&outer);
        published = &inner;
        ready.release();
        if (!release.tryAcquire(1, kHandshakeMs))
            return;
        inner.shutdown(); // C12: its queue moves, in order, to outer
    });
    QVERIFY(ready.tryAcquire(1, kHandshakeMs));
    CurrentThreadExecutor &inner = *published.load();
    const Target target { inner, viaHandleRow() };
    Worker producer([&] {
        skipped = target.submit(doomed, [&calls] { return ++calls; });
        target.post(doomed, [&calls] { ++calls; });
        ran = target.submit(&alive, [] { return QThread::currentThread(); });
        queued.release();
    });
    QVERIFY(queued.tryAcquire(1, kHandshakeMs));
    QVERIFY(producer.join());
    release.release();
    QVERIFY(owner.join()); // inner is gone; its items sit in outer's queue
    delete doomed;
    drain(outer);
    QCOMPARE(calls.load(), 0);
    QVERIFY(skipped.isFinished());
    QVERIFY(skipped.isCanceled());
    QCOMPARE(ran.result(), outer.thread());
}

// X8 with C12: when no executor is left to run them, an item whose context is alive fails with
// Broken as ever (a post with a warning); one whose context is gone is skipped as it would have
// been at its turn: cancelled, and silent for a post.
void TestContext::x8_c12_brokenChainWithContextGoneIsSilent()
{
    auto ex = std::make_unique<CurrentThreadExecutor>();
    const Target target { *ex, viaHandleRow() };
    auto *doomed = new Widget;
    Widget alive;
    QFuture<int> gone;
    QFuture<int> failed;
    Worker worker([&] {
        gone = target.submit(doomed, [] { return 1; });
        target.post(doomed, [] {});
        failed = target.submit(&alive, [] { return 2; });
        target.post(&alive, [] {});
    });
    QVERIFY(worker.join());
    delete doomed;
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("will never run")));
    ex.reset(); // breaks with no chain: the queued items cannot run anywhere
    QVERIFY(gone.isFinished());
    QVERIFY(gone.isCanceled());
    QCOMPARE(errorCodeOf(failed), kBroken);
}

// X8, what holds for a context that lives in another thread than the one that runs the item:
// destroyed there before the item starts, the item is skipped (the check on the running thread
// sees it gone); alive when the item starts, the item runs. (Destroyed while fn runs is not
// prevented: the documentation says so; no test can make that safe.)
void TestContext::x8_contextInAnotherThread()
{
    CurrentThreadExecutor ex;
    const Target target { ex, viaHandleRow() };
    std::atomic<int> skippedCalls { 0 };
    QFuture<int> skipped;
    QFuture<int> ran;
    Semaphore sent;
    Semaphore itemRan;
    Semaphore done;
    Worker worker([&] {
        // Both contexts are made, used and destroyed on this thread: they live here.
        auto *early = new Widget;
        skipped = target.submit(early, [&skippedCalls] { return ++skippedCalls; });
        delete early; // before the owner drains
        auto late = std::make_unique<Widget>();
        ran = target.submit(late.get(), [&itemRan] {
            itemRan.release();
            return 2;
        });
        sent.release();
        // Kept alive until its item has run on the owner thread.
        if (!done.tryAcquire(1, kHandshakeMs))
            return;
    });
    QVERIFY(sent.tryAcquire(1, kHandshakeMs));
    drain(ex);
    QVERIFY(itemRan.tryAcquire(1, 0));
    done.release();
    QVERIFY(worker.join());
    QCOMPARE(skippedCalls.load(), 0);
    QVERIFY(skipped.isCanceled());
    QCOMPARE(ran.result(), 2);
}

// X8 against X2: post(&widget, fn) is the context form (skipped once the widget is gone);
// postLatest(&bar, fn), a QObject * and a callable, stays the key form: it replaces by key and
// runs although `bar` is destroyed before it runs, because a key is only a key.
void TestContext::x8_overloads_postWithQObjectIsContextPostLatestWithTwoArgsIsKey()
{
    CurrentThreadExecutor ex;
    const Target target { ex, viaHandleRow() };
    auto *widget = new Widget;
    auto *bar = new Widget;
    std::vector<int> ran;
    target.post(widget, [&ran] { ran.push_back(1); });
    target.postLatest(bar, [&ran] { ran.push_back(2); });
    target.postLatest(bar, [&ran] { ran.push_back(3); }); // replaces 2: same key
    target.postLatest(widget, bar,
                      [&ran] { ran.push_back(4); }); // context widget, key bar: replaces 3
    delete widget;
    delete bar;
    drain(ex);
    // 4 replaced 3 and carries the dead context widget: skipped. 1 too. Nothing else was left.
    QVERIFY(ran.empty());

    auto *bar2 = new Widget;
    target.postLatest(bar2, [&ran] { ran.push_back(5); });
    delete bar2;
    drain(ex);
    QCOMPARE(ran, (std::vector<int> { 5 })); // the key form: no context, so it runs
}

// X8: submit(fn, object) is the plain form with an argument, never a context: it runs with the
// pointer; submit(object, fn, object) is the context form with an argument.
void TestContext::x8_overloads_submitWithObjectArgumentIsPlain()
{
    CurrentThreadExecutor ex;
    Widget object;
    QFuture<QObject *> plain;
    QFuture<QObject *> withContext;
    Worker worker([&] {
        plain = ex.handle().submit([](QObject *o) { return o; }, &object);
        withContext = ex.submit(
            &object, [](QObject *o) { return o; }, &object);
    });
    QVERIFY(worker.join());
    drain(ex);
    QCOMPARE(plain.result(), &object);
    QCOMPARE(withContext.result(), &object);
}

QTEST_GUILESS_MAIN(TestContext)
#include "tst_context.moc"

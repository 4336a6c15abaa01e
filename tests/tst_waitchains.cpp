// X11, wait chains: describeWaits() names every waiting thread and follows what it waits for from
// thread to thread; a cycle is called a deadlock only when no wait on it serves the item the next
// link needs; hang reports (X10) carry the chain. Threads are ordered with semaphores; a state
// that a thread reaches on its own (a wait recorded) is awaited by asking describeWaits() again
// until it shows, with a time limit.
#include <qdispatch/currentthreadexecutor.h>

#include "messages.h"
#include "testhooks_p.h"
#include "testsupport.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

using namespace qdispatch;
using namespace qdispatchtest;
using namespace std::chrono_literals;

namespace {

// Named callables, so that the items read the same in every compiler's description.
struct LongQuery
{
    Semaphore *started;
    Semaphore *release;
    void operator()() const
    {
        started->release();
        release->tryAcquire(1, kJoinMs);
    }
};
// Takes longer than a drain's time slice (4 ms), so that the drain lets the thread's events
// through when it next reads its clock; or, given semaphores, says it started and waits.
struct SliceEater
{
    Semaphore *started = nullptr;
    Semaphore *release = nullptr;
    void operator()() const
    {
        if (started) {
            started->release();
            release->tryAcquire(1, kJoinMs);
            return;
        }
        const QDeadlineTimer slice(50);
        while (!slice.hasExpired()) { }
    }
};
// Runs, in a wait on a finished future, the items its executor accepted before it (C8).
struct DrainTheRest
{
    CurrentThreadExecutor *executor;
    void operator()() const
    {
        QPromise<void> done;
        done.start();
        done.finish();
        executor->runUntilFuture(done.future(), QDeadlineTimer(kJoinMs), RunMode::AllEvents);
    }
};
struct MarkRan
{
    bool *ran;
    void operator()() const { *ran = true; }
};
struct DatabaseLookup
{
    int operator()() const { return 7; }
};
struct WorkerTwoJob
{
    ExecutorHandle database;
    int operator()() const { return database.invoke(DatabaseLookup {}); }
};
struct CallBack
{
    ExecutorHandle back;
    int operator()() const { return back.invoke(DatabaseLookup {}); }
};

// A QThread named `name` running its event loop until it is destroyed.
struct NamedLoop
{
    explicit NamedLoop(const char *name)
    {
        thread.setObjectName(QString::fromUtf8(name));
        thread.start();
    }
    ~NamedLoop()
    {
        thread.quit();
        if (!thread.wait(QDeadlineTimer(kJoinMs)))
            threadHung("a NamedLoop");
    }
    QThread thread;
};

// Asks describeWaits() until `ok` accepts its text, for at most kHandshakeMs; returns the last.
QString describeUntil(const std::function<bool(const QString &)> &ok)
{
    const QDeadlineTimer deadline(kHandshakeMs);
    QString text;
    do {
        text = describeWaits();
        if (ok(text))
            return text;
        std::this_thread::yield();
    } while (!deadline.hasExpired());
    return text;
}

// Describes the waits until the chain comes back to where it started, then releases `letGo`
// (what holds the cycle in place); returns the description.
QString describeTheCycle(Semaphore &letGo)
{
    const QString text = describeUntil(
        [](const QString &t) { return t.contains(QLatin1String("The chain comes back to")); });
    letGo.release();
    return text;
}

// The description calls the cycle back to thread "x11 a" served by a wait on the way, and calls
// nothing a deadlock.
bool callsTheCycleServed(const QString &text)
{
    return text.contains(QLatin1String("The chain comes back to thread \"x11 a\", but a wait on "
                                       "the way serves the item it needs: not a deadlock.")) &&
        !text.contains(QLatin1String("This is a deadlock"));
}

bool containsAll(const QString &text, std::initializer_list<const char *> parts)
{
    for (const char *part : parts) {
        if (!text.contains(QString::fromUtf8(part)))
            return false;
    }
    return true;
}

// Describes the waits while a worker's invoke() on executorOf(`owner`) runs its item there:
// `*text` is a description that shows the invoke.
void describeWhileAnInvokeRunsOn(QThread *owner, QString *text)
{
    const ExecutorHandle onOwner = executorOf(owner);
    Semaphore started;
    Semaphore release;
    Worker caller([&] {
        (void)onOwner.invoke([&] {
            started.release();
            return release.tryAcquire(1, kHandshakeMs);
        });
    });
    QVERIFY(started.tryAcquire(1, kHandshakeMs));
    *text = describeUntil(
        [](const QString &t) { return t.contains(QLatin1String("waits in invoke")); });
    release.release();
    QVERIFY(caller.join());
}

// The hook of the library's test points: the thread `thread` stops once at OwnerSleeps (an
// ExecutorOnly wait about to sleep, at the wait's own level, running no item) until `go`.
struct SleepStop
{
    std::atomic<QThread *> thread { nullptr };
    std::atomic<bool> armed { false };
    Semaphore reached;
    Semaphore go;
};
SleepStop *g_stop = nullptr;
void stopHook(detail::TestPoint point)
{
    SleepStop *stop = g_stop;
    if (!stop || point != detail::TestPoint::OwnerSleeps ||
        QThread::currentThread() != stop->thread.load())
        return;
    if (stop->armed.exchange(false)) {
        stop->reached.release();
        stop->go.tryAcquire(1, kHandshakeMs);
    }
}

} // namespace

class TestWaitChains : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init() { qdispatch::setHangThreshold(0ms); }
    void cleanup() { qdispatch::setHangThreshold(0ms); }
    void x11_noWaitsSaysSo();
    void x11_threeThreadChainNamesEveryLink();
    void x11_deadlockNamedWithItsCycle_data();
    void x11_deadlockNamedWithItsCycle();
    void x11_hangReportCarriesTheChainAndSaysDeadlock();
    void x11_cycleThroughServingEventLoopWaitIsNoDeadlock_data();
    void x11_cycleThroughServingEventLoopWaitIsNoDeadlock();
    void x11_cycleThroughServingExclusiveWaitIsNoDeadlock_data();
    void x11_cycleThroughServingExclusiveWaitIsNoDeadlock();
    void x11_describeFromManyThreadsDuringAFloodOfWaits();
    void x11_describeWhileExecutorsComeAndGo();
    void x11_unnamedOwnerThreadNamedByItsId();
    void x11_executorShutDownKeepsItsThreadsName();
    void x11_threadNamesEscaped();
    void x11_threadsRenamedWhileDescribed();
    void x11_postLatestItemNamedByItsCallable();
    void x11_runningItemNamedRightAfterAnotherDrainedBetween_data();
    void x11_runningItemNamedRightAfterAnotherDrainedBetween();
};

// X11: with nobody waiting, the text says so.
void TestWaitChains::x11_noWaitsSaysSo()
{
    QCOMPARE(describeWaits(),
             QStringLiteral("QDispatch: no thread is waiting in runUntilFuture or invoke."));
}

// X11: the GUI thread waits on an item running on worker 2, which is in invoke() on the database
// thread, which runs a long item: every link is named, and it is no deadlock.
void TestWaitChains::x11_threeThreadChainNamesEveryLink()
{
    qdispatch::setHangThreshold(3'600'000ms); // so that running items carry their start time
    NamedLoop database("x11 database");
    NamedLoop worker2("x11 worker 2");
    const ExecutorHandle onDatabase = executorOf(&database.thread);
    const ExecutorHandle onWorker2 = executorOf(&worker2.thread);
    Semaphore queryStarted;
    Semaphore releaseQuery;
    const ReleaseOnExit letGo { releaseQuery };
    onDatabase.post(LongQuery { &queryStarted, &releaseQuery });
    QVERIFY(queryStarted.tryAcquire(1, kHandshakeMs));

    int answer = 0;
    bool finished = false;
    Worker gui([&] {
        QThread::currentThread()->setObjectName(QStringLiteral("x11 gui"));
        CurrentThreadExecutor own;
        const QFuture<int> job = onWorker2.submit(WorkerTwoJob { onDatabase });
        finished = own.runUntilFuture(job, QDeadlineTimer(kJoinMs), RunMode::AllEvents);
        if (finished)
            answer = job.result();
    });
    const QString text = describeUntil([](const QString &t) {
        return containsAll(t,
                           { "thread \"x11 gui\" waits in runUntilFuture (AllEvents)",
                             "thread \"x11 worker 2\" waits in invoke", "LongQuery" });
    });
    releaseQuery.release();
    QVERIFY(gui.join());
    QVERIFY(finished);
    QCOMPARE(answer, 7);

    QVERIFY2(containsAll(text,
                         { "QDispatch: 2 threads are waiting",
                           "thread \"x11 gui\" waits in runUntilFuture (AllEvents) on the "
                           "CurrentThreadExecutor",
                           "WorkerTwoJob",
                           "of executorOf(thread \"x11 worker 2\"), which is "
                           "running on thread \"x11 worker 2\" for ",
                           "thread \"x11 worker 2\" waits in invoke (running this thread's "
                           "executors meanwhile)",
                           "inside the item `", "DatabaseLookup",
                           "queued on executorOf(thread \"x11 database\")",
                           "thread \"x11 database\" is running the item `", "LongQuery",
                           " ms, outside any QDispatch wait." }),
             qPrintable(text));
    QVERIFY2(!text.contains(QLatin1String("deadlock")), qPrintable(text));
}

namespace {

// Thread "x11 a" waits in ExecutorOnly on its executor `two` for an item on thread "x11 b",
// which invokes back on A's other executor `one`: a deadlock. `whileStuck` runs while it lasts;
// then an item posted to `two`, which A's wait runs, serves `one` and so ends it.
struct Deadlock
{
    NamedLoop b { "x11 b" };
    Semaphore ready;
    Semaphore rescued;
    ExecutorHandle two;
    CurrentThreadExecutor *one = nullptr;
    bool returned = false;
    int nesting = 0; // AllEvents waits around the deadlocked one, each in an item of the last

    void run(const std::function<void()> &whileStuck)
    {
        const ExecutorHandle onB = executorOf(&b.thread);
        Worker a([&] {
            QThread::currentThread()->setObjectName(QStringLiteral("x11 a"));
            CurrentThreadExecutor first;
            CurrentThreadExecutor second;
            one = &first;
            two = second.handle();
            std::function<void(int)> wait = [&](int level) {
                if (level == nesting) {
                    const QFuture<int> f = onB.submit(CallBack { first.handle() });
                    ready.release();
                    returned =
                        second.runUntilFuture(f, QDeadlineTimer(kJoinMs), RunMode::ExecutorOnly);
                    return;
                }
                StartedPromise<void> inner;
                second.post([&] {
                    wait(level + 1);
                    inner.finish();
                });
                QVERIFY(second.runUntilFuture(inner.future(), QDeadlineTimer(kJoinMs),
                                              RunMode::AllEvents));
            };
            wait(0);
        });
        QVERIFY(ready.tryAcquire(1, kHandshakeMs));
        whileStuck();
        CurrentThreadExecutor *const first = one;
        two.post([first] { first->runPending(); }); // on A, inside its wait
        QVERIFY(a.join());
        QVERIFY(returned);
    }
};

} // namespace

void TestWaitChains::x11_deadlockNamedWithItsCycle_data()
{
    addColumns<int>({ "nesting" });
    QTest::newRow("one wait") << 0;
    // Past 8 nested waits a thread's description said "too deep to follow" and named no
    // deadlock (an outsider's report).
    QTest::newRow("under 12 nested waits") << 12;
}

// X11: the deadlock is called one, with its cycle, in the chain of each thread on it, however
// deeply the deadlocked wait is nested.
void TestWaitChains::x11_deadlockNamedWithItsCycle()
{
    QFETCH(int, nesting);
    Deadlock deadlock;
    deadlock.nesting = nesting;
    QString text;
    deadlock.run([&] {
        // Both waits of the cycle: A signals `ready` just before it enters its own, and B names
        // A (as the owner of the item it awaits) before A is in it.
        text = describeUntil([](const QString &t) {
            return containsAll(t,
                               { "thread \"x11 b\" waits in invoke",
                                 "thread \"x11 a\" waits in runUntilFuture (ExecutorOnly)" });
        });
    });
    QVERIFY2(containsAll(text,
                         { "thread \"x11 a\" waits in runUntilFuture (ExecutorOnly)",
                           "the wait of thread \"x11 a\" does not run that executor's items",
                           "This is a deadlock: thread \"x11 a\" -> thread \"x11 b\" -> thread "
                           "\"x11 a\".",
                           "This is a deadlock: thread \"x11 b\" -> thread \"x11 a\" -> thread "
                           "\"x11 b\"." }),
             qPrintable(text));
    if (nesting > 0)
        QVERIFY2(text.contains(QStringLiteral("(the innermost of its %1 waits)").arg(nesting + 1)),
                 qPrintable(text));
}

// X11, X10: a hang report from a wait of the cycle carries its chain and says "deadlock".
void TestWaitChains::x11_hangReportCarriesTheChainAndSaysDeadlock()
{
    MessageLog reports(MessageLog::category("qdispatch.hang"),
                       MessageLog::category("qdispatch.hang"));
    Semaphore reported;
    reports.releaseOn(MessageLog::category("qdispatch.hang"), &reported);
    qdispatch::setHangThreshold(50ms);
    const auto deadlockReported = [&reports] {
        const QStringList texts = reports.texts("qdispatch.hang");
        return std::any_of(texts.cbegin(), texts.cend(), [](const QString &t) {
            return containsAll(t, { "Wait chain: ", "This is a deadlock: " });
        });
    };
    Deadlock deadlock;
    // B's wait may pass the threshold before A is in its own (then its chain has no cycle yet):
    // the cycle stays until a report names it.
    deadlock.run([&] {
        while (!deadlockReported() && reported.tryAcquire(1, kHandshakeMs)) { }
    });
    qdispatch::setHangThreshold(0ms);
    QVERIFY2(deadlockReported(), qPrintable(reports.joined()));
}

void TestWaitChains::x11_cycleThroughServingEventLoopWaitIsNoDeadlock_data()
{
    addEventLoopModeRows();
}

// X11: thread A waits in an event-loop mode for an item on B, which invokes back on another
// executor of A's. While A is busy with an event of its own (nothing QDispatch runs), the item B
// needs sits queued there: the chain comes back to A, but A's wait runs that executor's items, so
// it is no deadlock.
void TestWaitChains::x11_cycleThroughServingEventLoopWaitIsNoDeadlock()
{
    QFETCH(RunMode, mode);
    NamedLoop b("x11 b");
    const ExecutorHandle onB = executorOf(&b.thread);
    Semaphore ready;
    Semaphore inEvent;
    Semaphore leaveEvent;
    Semaphore callNow;
    const ReleaseOnExit letGo { leaveEvent };
    const ReleaseOnExit call { callNow };
    QObject *context = nullptr;
    bool returned = false;
    Worker a([&] {
        QThread::currentThread()->setObjectName(QStringLiteral("x11 a"));
        CurrentThreadExecutor own;
        CurrentThreadExecutor other; // not the one A waits on: an event loop runs it too
        QObject here;
        context = &here;
        // B calls back only once A is busy with its event.
        const QFuture<int> f = onB.submit([&callNow, back = other.handle()] {
            callNow.tryAcquire(1, kHandshakeMs);
            return back.invoke(DatabaseLookup {});
        });
        ready.release();
        returned = own.runUntilFuture(f, QDeadlineTimer(kJoinMs), mode);
    });
    QVERIFY(ready.tryAcquire(1, kHandshakeMs));
    QMetaObject::invokeMethod(
        context,
        [&] {
            inEvent.release();
            leaveEvent.tryAcquire(1, kJoinMs);
        },
        Qt::QueuedConnection);
    QVERIFY(inEvent.tryAcquire(1, kHandshakeMs));
    callNow.release();
    const QString text = describeTheCycle(leaveEvent);
    QVERIFY(a.join());
    QVERIFY(returned);
    QVERIFY2(callsTheCycleServed(text), qPrintable(text));
}

void TestWaitChains::x11_cycleThroughServingExclusiveWaitIsNoDeadlock_data()
{
    QTest::addColumn<bool>("viaInvoke");
    QTest::newRow("runUntilFuture-ExecutorOnly-same-executor") << false;
    QTest::newRow("invoke-serves-whole-thread") << true;
}

// X11: A waits in ExecutorOnly on the very executor that B invokes back on, or A is itself in
// invoke() (which serves every executor of its thread): stopped right before its wait sleeps,
// with B's item queued, the chain comes back to A, and it is no deadlock.
void TestWaitChains::x11_cycleThroughServingExclusiveWaitIsNoDeadlock()
{
    QFETCH(bool, viaInvoke);
    SleepStop stop;
    g_stop = &stop;
    detail::setTestHook(&stopHook);
    struct Unhook
    {
        ~Unhook()
        {
            detail::setTestHook(nullptr);
            g_stop = nullptr;
        }
    } unhook;
    const ReleaseOnExit letGo { stop.go };

    NamedLoop b("x11 b");
    const ExecutorHandle onB = executorOf(&b.thread);
    Semaphore stopped;
    std::atomic<bool> returned { false };
    Worker a([&] {
        QThread::currentThread()->setObjectName(QStringLiteral("x11 a"));
        CurrentThreadExecutor own;
        stop.thread.store(QThread::currentThread());
        stop.armed.store(true);
        // B calls back only once A has stopped before its sleep.
        const auto callBack = [&stopped, back = own.handle()] {
            stopped.tryAcquire(1, kHandshakeMs);
            return back.invoke(DatabaseLookup {});
        };
        if (viaInvoke) {
            returned = onB.invoke(callBack) == 7;
        } else {
            const QFuture<int> f = onB.submit(callBack);
            returned = own.runUntilFuture(f, QDeadlineTimer(kJoinMs), RunMode::ExecutorOnly);
        }
    });
    QVERIFY(stop.reached.tryAcquire(1, kHandshakeMs));
    stopped.release();
    const QString text = describeTheCycle(stop.go);
    QVERIFY(a.join());
    QVERIFY(returned);
    QVERIFY2(callsTheCycleServed(text), qPrintable(text));
}

// X11: describeWaits() from four threads at once while waits begin and end by the thousand on
// three more (invoke() round trips, with and without an executor, and nested waits): every
// description is whole, and none calls anything a deadlock (there is none).
// X11: describeWaits() while other threads make and destroy executors. A description that held
// the last reference to an executor just destroyed ran its destructor under the registry's
// lock, which that destructor takes: the describing thread locked itself, and with it every
// thread that began or ended a wait (an outsider's report; 3 runs in 3 froze within 5 s).
void TestWaitChains::x11_describeWhileExecutorsComeAndGo()
{
    constexpr int kExecutors = 20000;
    NamedLoop owner("x11 owner");
    const ExecutorHandle onOwner = executorOf(&owner.thread);
    std::atomic<bool> churning { true };
    std::atomic<int> descriptions { 0 };
    std::vector<std::unique_ptr<Worker>> describers;
    for (int d = 0; d < 2; ++d) {
        describers.push_back(std::make_unique<Worker>([&] {
            do {
                (void)describeWaits();
                ++descriptions;
            } while (churning.load());
        }));
    }
    Worker churn([&] {
        for (int i = 0; i < kExecutors; ++i) {
            CurrentThreadExecutor executor;
            if (i % 10 == 0) // now and then a wait, so that there is a chain to follow
                QVERIFY(executor.runUntilFuture(onOwner.submit([] { return 1; }),
                                                QDeadlineTimer(kJoinMs), RunMode::ExecutorOnly));
        }
    });
    const bool churned = churn.join();
    churning = false;
    for (auto &t : describers)
        QVERIFY(t->join());
    QVERIFY(churned);
    QVERIFY(descriptions.load() > 0);
}

// X11 with X10's names: a thread without a name is named by its id, also as the owner of an
// executorOf() executor (it was "thread 0x0" there, the id not being known: an outsider's
// report; two such threads read alike).
void TestWaitChains::x11_unnamedOwnerThreadNamedByItsId()
{
    NamedLoop unnamed("");
    QString text;
    describeWhileAnInvokeRunsOn(&unnamed.thread, &text);
    QVERIFY2(text.contains(QLatin1String("waits in invoke")), qPrintable(text));
    QVERIFY2(text.contains(QLatin1String("executorOf(thread 0x")), qPrintable(text));
    QVERIFY2(!text.contains(QLatin1String("thread 0x0")), qPrintable(text));
}

// X11 with X10's names: an executor shut down while its thread still runs is named by that
// thread's name, as the waiting thread itself is (an outsider's report: from the break on, the
// executor's thread was named by its id, and one line named one thread in two ways).
void TestWaitChains::x11_executorShutDownKeepsItsThreadsName()
{
    StartedPromise<void> never;
    Semaphore made;
    CurrentThreadExecutor *own = nullptr;
    bool returned = false;
    Worker t([&] {
        QThread::currentThread()->setObjectName(QStringLiteral("x11 shut"));
        CurrentThreadExecutor executor;
        own = &executor;
        made.release();
        returned =
            executor.runUntilFuture(never.future(), QDeadlineTimer(kJoinMs), RunMode::ExecutorOnly);
    });
    QVERIFY(made.tryAcquire(1, kHandshakeMs));
    const auto waiting = [](const QString &text) {
        return text.contains(QLatin1String("thread \"x11 shut\" waits in runUntilFuture"));
    };
    QVERIFY(waiting(describeUntil(waiting)));
    own->shutdown();
    const QString text = describeUntil(waiting);
    never.finish();
    QVERIFY(t.join());
    QVERIFY(returned);
    QVERIFY2(text.contains(QLatin1String("of thread \"x11 shut\" for ")), qPrintable(text));
}

// X11 with X10's names: a thread's name is quoted with its quotes, backslashes and control
// characters escaped, so that a name can neither end its quotes early nor split a chain's line
// (an outsider's report: a newline in a name started a new line that read as a link).
void TestWaitChains::x11_threadNamesEscaped()
{
    // U+0085 (a C1 control) and U+2028 (a line separator) end a line for many readers too.
    NamedLoop owner("x11 \"owner\"\nthread \\ one\x01 \u0085 \u2028");
    QString text;
    describeWhileAnInvokeRunsOn(&owner.thread, &text);
    QVERIFY2(text.contains(QLatin1String(
                 "executorOf(thread \"x11 \\\"owner\\\"\\nthread \\\\ one\\x01 \\x85 \\u2028\")")),
             qPrintable(text));
    for (const char16_t raw : { u'\x01', u'\x85', u'\u2028' })
        QVERIFY2(!text.contains(QChar(raw)), qPrintable(text));
    for (const QString &line : text.split(QLatin1Char('\n')))
        QVERIFY2(!line.startsWith(QLatin1String("thread \\ one")), qPrintable(text));
}

// X11, X10's names: describeWaits() and hang reports name threads that are renamed meanwhile,
// by the thread their QThread lives in (legal Qt), without reading a name as it is replaced.
// They read QThread::objectName() on other threads, and the heap broke (an outsider's report:
// 4 runs in 5 crashed).
void TestWaitChains::x11_threadsRenamedWhileDescribed()
{
    constexpr int kDescriptions = 500;
    NamedLoop owner("x11 owner");
    const ExecutorHandle onOwner = executorOf(&owner.thread);
    Semaphore stuck;
    Semaphore release;
    onOwner.post([&] {
        stuck.release();
        (void)release.tryAcquire(1, kJoinMs);
    });
    QVERIFY(stuck.tryAcquire(1, kHandshakeMs));
    MessageLog hangs(MessageLog::category("qdispatch.hang"),
                     MessageLog::category("qdispatch.hang"));
    qdispatch::setHangThreshold(1ms); // hang reports name the threads too
    Semaphore waiting;
    std::vector<std::unique_ptr<Worker>> callers;
    for (int i = 0; i < 2; ++i) {
        callers.push_back(std::make_unique<Worker>([&] {
            waiting.release();
            (void)onOwner.invoke([] { return 0; });
        }));
    }
    QVERIFY(waiting.tryAcquire(2, kHandshakeMs));
    // The one read of a thread's objectName() that may meet a rename is QDispatch's first, when
    // it first names the thread: made here, before the renames.
    (void)describeUntil([](const QString &t) { return t.contains(QLatin1String("2 threads")); });
    std::atomic<bool> done { false };
    std::atomic<int> descriptions { 0 };
    std::vector<std::unique_ptr<Worker>> describers;
    for (int i = 0; i < 2; ++i) {
        describers.push_back(std::make_unique<Worker>([&] {
            while (!done.load()) {
                (void)describeWaits();
                descriptions.fetch_add(1);
            }
        }));
    }
    // Renamed until the describers have read the names many times over; long names widen the
    // moment in which a name being read is being replaced.
    const QString longName(2000, QLatin1Char('n'));
    const QDeadlineTimer deadline(kJoinMs);
    for (int i = 0; descriptions.load() < kDescriptions && !deadline.hasExpired(); ++i) {
        const QString name = i % 2 ? longName : QStringLiteral("x11 renamed %1").arg(i);
        callers[std::size_t(i) % 2]->thread()->setObjectName(name);
        owner.thread.setObjectName(name);
    }
    const int described = descriptions.load();
    callers[0]->thread()->setObjectName(QStringLiteral("x11 caller, last name"));
    const QString text = describeUntil([](const QString &t) {
        return t.contains(QLatin1String("thread \"x11 caller, last name\" waits in invoke"));
    });
    done.store(true);
    release.release();
    for (auto &worker : describers)
        QVERIFY(worker->join());
    for (auto &worker : callers)
        QVERIFY(worker->join());
    qdispatch::setHangThreshold(0ms);
    QVERIFY2(described >= kDescriptions, qPrintable(QString::number(described)));
    QVERIFY2(text.contains(QLatin1String("thread \"x11 caller, last name\" waits in invoke")),
             qPrintable(text));
}

void TestWaitChains::x11_describeFromManyThreadsDuringAFloodOfWaits()
{
    constexpr int kTrips = 2000;
    NamedLoop owner("x11 owner");
    const ExecutorHandle onOwner = executorOf(&owner.thread);
    std::atomic<int> running { 3 };
    std::atomic<int> deadlocks { 0 };
    std::atomic<int> descriptions { 0 };
    std::vector<std::unique_ptr<Worker>> threads;
    // Plain invoke() from a thread without an executor.
    threads.push_back(std::make_unique<Worker>([&] {
        for (int i = 0; i < kTrips; ++i)
            QCOMPARE(onOwner.invoke([i] { return i; }), i);
        --running;
    }));
    // invoke() from a thread with an executor, which the owner's items call back into.
    threads.push_back(std::make_unique<Worker>([&] {
        CurrentThreadExecutor own;
        for (int i = 0; i < kTrips; ++i) {
            const ExecutorHandle back = own.handle();
            QCOMPARE(onOwner.invoke([back, i] { return back.invoke([i] { return i; }); }), i);
        }
        --running;
    }));
    // runUntilFuture() in every mode on items of the owner.
    threads.push_back(std::make_unique<Worker>([&] {
        CurrentThreadExecutor own;
        for (int i = 0; i < kTrips; ++i) {
            const QFuture<int> f = onOwner.submit([i] { return i; });
            QVERIFY(own.runUntilFuture(f, QDeadlineTimer(kJoinMs), kModes[i % 3]));
        }
        --running;
    }));
    std::vector<std::unique_ptr<Worker>> describers;
    for (int d = 0; d < 4; ++d) {
        describers.push_back(std::make_unique<Worker>([&] {
            do {
                const QString text = describeWaits();
                if (!text.startsWith(QLatin1String("QDispatch: ")))
                    ++deadlocks; // counted as a failure below
                if (text.contains(QLatin1String("This is a deadlock")))
                    ++deadlocks;
                ++descriptions;
            } while (running.load() > 0);
        }));
    }
    for (auto &t : threads)
        QVERIFY(t->join());
    for (auto &t : describers)
        QVERIFY(t->join());
    QCOMPARE(deadlocks.load(), 0);
    QVERIFY(descriptions.load() >= 4);
}

// X11: a postLatest() slot that runs is named by the callable it runs (X2), as its reports are
// (X10): it takes the callable only as it starts, after the drain published it without a name.
void TestWaitChains::x11_postLatestItemNamedByItsCallable()
{
    NamedLoop owner("x11 latest");
    const ExecutorHandle onOwner = executorOf(&owner.thread);
    Semaphore queryStarted;
    Semaphore releaseQuery;
    const ReleaseOnExit letGo { releaseQuery };
    static int key;
    onOwner.postLatest(&key, LongQuery { &queryStarted, &releaseQuery });
    QVERIFY(queryStarted.tryAcquire(1, kHandshakeMs));
    int answer = 0;
    Worker caller([&] { answer = onOwner.invoke(DatabaseLookup {}); }); // queued behind it
    const QString text = describeUntil(
        [](const QString &t) { return t.contains(QLatin1String("is running the item")); });
    releaseQuery.release();
    QVERIFY(caller.join());
    QCOMPARE(answer, 7);
    QVERIFY2(text.contains(QLatin1String("thread \"x11 latest\" is running the item "
                                         "`(anonymous namespace)::LongQuery` of executorOf(")),
             qPrintable(text));
}

// X11: a running item is named with its own name and executor, also when another executor of
// its thread ran a drain at the same depth just before it. Here an item's wait on a finished
// future runs the items accepted before it (C8) at the next depth; that drain lets the thread's
// events through once its time slice is used up, and the other executor's wake-up runs its item
// there. The running item is the one a caller's invoke() waits for, or a post of the class the
// items before it were (whose name the drain publishes once for a run of them), which the item
// of an invoke() made meanwhile waits behind. The owner thread gets Qt's Unix event dispatcher
// (QT_NO_GLIB, read when the thread starts): it delivers posted events in a loop nested in a posted
// event's handler, as the dispatchers of Windows and macOS do; the GLib one leaves them to the
// outer loop.
void TestWaitChains::x11_runningItemNamedRightAfterAnotherDrainedBetween_data()
{
    QTest::addColumn<bool>("postRuns");
    QTest::newRow("the invoke's item runs") << false;
    QTest::newRow("a post of the class before runs") << true;
}

void TestWaitChains::x11_runningItemNamedRightAfterAnotherDrainedBetween()
{
    QFETCH(bool, postRuns);
    qputenv("QT_NO_GLIB", "1");
    struct Unset
    {
        ~Unset() { qunsetenv("QT_NO_GLIB"); }
    } unset;
    Semaphore ownerReady;
    Semaphore started;
    Semaphore release;
    const ReleaseOnExit letGo { release };
    QPromise<void> callerReturned;
    callerReturned.start();
    const FinishOnExit finishCaller { callerReturned };
    ExecutorHandle onOwner;
    QString ownLabel;
    QString otherLabel;
    bool otherRan = false;
    bool queuedAll = false;
    bool served = false;
    const quint64 queued = 4; // the drain's item, two eaters, and the invoke's item or the post
    Worker owner([&] {
        QThread::currentThread()->setObjectName(QStringLiteral("x11 owner"));
        CurrentThreadExecutor own;
        CurrentThreadExecutor other;
        const auto label = [](const CurrentThreadExecutor &e) {
            return QStringLiteral("the CurrentThreadExecutor 0x%1 of thread \"x11 owner\"")
                .arg(QString::number(quintptr(&e), 16));
        };
        ownLabel = label(own);
        otherLabel = label(other);
        onOwner = own.handle();
        own.post(DrainTheRest { &own });
        // Two: the drain may read its clock only every second item.
        own.post(SliceEater {});
        own.post(SliceEater {});
        if (postRuns)
            own.post(SliceEater { &started, &release });
        ownerReady.release();
        // The caller's invoke() queues its item behind them, or comes once the post runs.
        const QDeadlineTimer deadline(kHandshakeMs);
        while (own.pendingCount() < queued && !deadline.hasExpired())
            std::this_thread::yield();
        queuedAll = own.pendingCount() == queued;
        other.post(MarkRan { &otherRan }); // its wake-up is posted behind own's
        served = own.runUntilFuture(callerReturned.future(), QDeadlineTimer(kJoinMs),
                                    RunMode::AllEvents);
    });
    QVERIFY(ownerReady.tryAcquire(1, kHandshakeMs));
    qunsetenv("QT_NO_GLIB"); // the owner thread has its dispatcher
    const auto call = [&] {
        QThread::currentThread()->setObjectName(QStringLiteral("x11 caller"));
        if (postRuns)
            (void)onOwner.invoke(DatabaseLookup {});
        else
            onOwner.invoke(LongQuery { &started, &release });
        callerReturned.finish();
    };
    std::optional<Worker> caller;
    if (!postRuns)
        caller.emplace(call);
    QVERIFY(started.tryAcquire(1, kHandshakeMs));
    const bool otherRanFirst = otherRan; // written before the item started, on its thread
    if (postRuns)
        caller.emplace(call); // its item waits in the queue, where describeWaits() reads it
    const char *const running = postRuns ? "SliceEater" : "LongQuery";
    const QString text = describeUntil([running](const QString &t) {
        return t.contains(QLatin1String(running)) && t.contains(QLatin1String("running"));
    });
    release.release();
    QVERIFY(caller->join());
    QVERIFY(owner.join());
    QVERIFY(queuedAll);
    QVERIFY(served);
    QVERIFY(otherRanFirst); // the other executor's drain ran between the eaters and the item
    const QString named = postRuns
        ? QStringLiteral("thread \"x11 owner\" is running the item `(anonymous "
                         "namespace)::SliceEater` of %1 inside its wait.")
        : QStringLiteral("It waits for the item `(anonymous namespace)::LongQuery` of %1, which "
                         "is running on thread \"x11 owner\"");
    QVERIFY2(text.contains(named.arg(ownLabel)), qPrintable(text));
    QVERIFY2(!text.contains(otherLabel) && !text.contains(QLatin1String("MarkRan")),
             qPrintable(text));
}

QTEST_GUILESS_MAIN(TestWaitChains)
#include "tst_waitchains.moc"

// C10..C13: when an executor breaks, where the work it still holds goes, and how and where
// it may be destroyed. Threads are ordered with semaphores (never sleeps) and joined with a
// timeout; every callable is a Probe that records where it ran and where it was destroyed.
#include <qdispatch/currentthreadexecutor.h>

#include "testsupport.h"

#include <QtCore/QDeadlineTimer>
#include <QtCore/QHash>
#include <QtCore/QList>
#include <QtCore/QMutex>
#include <QtCore/QPromise>
#include <QtCore/QRegularExpression>
#include <QtCore/QStringList>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <atomic>
#include <exception>
#include <functional>
#include <memory>
#include <thread>
#include <utility>

using qdispatch::CurrentThreadExecutor;
using qdispatch::ExecutorError;
using qdispatch::RunMode;

namespace {

constexpr int kTimeoutMs = 10000;

QDeadlineTimer timeout()
{
    return QDeadlineTimer(kTimeoutMs);
}

// What the probes of one test did: which ids were called, in which order, on which thread, and
// on which thread each probe that was handed to an executor was finally destroyed.
struct Journal
{
    mutable QMutex mutex;
    QList<int> calls;
    QHash<int, QThread *> calledOn;
    QHash<int, QThread *> destroyedOn;
    QHash<int, std::thread::id> destroyedOnId;
    qdispatchtest::Semaphore called;
    qdispatchtest::Semaphore destroyed;
    std::atomic<int> alive{0};

    QList<int> callOrder() const
    {
        QMutexLocker locker(&mutex);
        return calls;
    }
    QThread *ranOn(int id) const
    {
        QMutexLocker locker(&mutex);
        return calledOn.value(id);
    }
    QThread *diedOn(int id) const
    {
        QMutexLocker locker(&mutex);
        return destroyedOn.value(id);
    }
    std::thread::id diedOnId(int id) const
    {
        QMutexLocker locker(&mutex);
        return destroyedOnId.value(id);
    }
};

// A move-only callable returning its id. Only the instance that holds the journal (the last one
// moved into) records its destruction, so temporaries on the submitting thread do not count.
class Probe
{
public:
    Probe(std::shared_ptr<Journal> journal, int id) : m_journal(std::move(journal)), m_id(id)
    {
        m_journal->alive.fetch_add(1);
    }
    Probe(Probe &&other) noexcept : m_journal(std::move(other.m_journal)), m_id(other.m_id) { }
    Probe(const Probe &) = delete;
    Probe &operator=(const Probe &) = delete;
    Probe &operator=(Probe &&) = delete;
    ~Probe()
    {
        if (!m_journal)
            return;
        {
            QMutexLocker locker(&m_journal->mutex);
            m_journal->destroyedOn.insert(m_id, QThread::currentThread());
            m_journal->destroyedOnId.insert(m_id, std::this_thread::get_id());
        }
        m_journal->alive.fetch_sub(1);
        m_journal->destroyed.release();
    }

    int operator()()
    {
        {
            QMutexLocker locker(&m_journal->mutex);
            m_journal->calls.append(m_id);
            m_journal->calledOn.insert(m_id, QThread::currentThread());
        }
        m_journal->called.release();
        return m_id;
    }

private:
    std::shared_ptr<Journal> m_journal;
    int m_id;
};

// Empty when `future` is finished with ExecutorError{Broken} stored (C12), else what is wrong.
template <typename T>
QString brokenProblem(QFuture<T> future)
{
    if (!future.isFinished())
        return QStringLiteral("the future is not finished");
    try {
        future.waitForFinished();
    } catch (const ExecutorError &error) {
        if (error.code() == ExecutorError::Code::Broken)
            return {};
        return QStringLiteral("ExecutorError with another code: %1")
                .arg(QString::fromUtf8(error.what()));
    } catch (...) {
        return QStringLiteral("an exception of another type");
    }
    return QStringLiteral("finished without an exception");
}

struct Submitted
{
    QList<QFuture<int>> futures;
    int brokenErrors = 0;
    int otherErrors = 0;
    bool joined = true;
};

// Submits Probe(id) for every id from the calling thread (which must not be the owner).
Submitted submitProbes(CurrentThreadExecutor *executor, const std::shared_ptr<Journal> &journal,
                       const QList<int> &ids)
{
    Submitted result;
    for (int id : ids) {
        try {
            result.futures.append(executor->submit(Probe(journal, id)));
        } catch (const ExecutorError &error) {
            if (error.code() == ExecutorError::Code::Broken)
                ++result.brokenErrors;
            else
                ++result.otherErrors;
        } catch (...) {
            ++result.otherErrors;
        }
    }
    return result;
}

// Runs fn on a fresh thread and joins it. A worker that hangs aborts the run with a message
// (the QThread could not be destroyed anyway): a hang shows as a failure, never as a stuck run.
bool runOnWorker(std::function<void()> fn)
{
    qdispatchtest::Semaphore returned; // see releasingOnReturn()
    std::unique_ptr<QThread> worker(
            QThread::create(qdispatchtest::releasingOnReturn(returned, std::move(fn))));
    worker->start();
    if (!returned.tryAcquire(1, kTimeoutMs) || !worker->wait(timeout()))
        qFatal("tst_lifecycle: a worker thread did not end within %d ms", kTimeoutMs);
    return true;
}

Submitted submitProbesFromWorker(CurrentThreadExecutor *executor,
                                 const std::shared_ptr<Journal> &journal, const QList<int> &ids)
{
    Submitted result;
    result.joined = runOnWorker([&] { result = submitProbes(executor, journal, ids); });
    return result;
}

// Collects every warning and critical message while it lives (and forwards them to QTest, so
// that QTest::ignoreMessage keeps working): C13 says which destructions are silent.
class MessageCatcher
{
public:
    MessageCatcher() { s_previous = qInstallMessageHandler(&MessageCatcher::handle); }
    ~MessageCatcher() { qInstallMessageHandler(s_previous); }
    MessageCatcher(const MessageCatcher &) = delete;
    MessageCatcher &operator=(const MessageCatcher &) = delete;

    static QStringList messages()
    {
        QMutexLocker locker(&s_mutex);
        return std::exchange(s_messages, {});
    }

private:
    static void handle(QtMsgType type, const QMessageLogContext &context, const QString &message)
    {
        if (type == QtWarningMsg || type == QtCriticalMsg || type == QtFatalMsg) {
            QMutexLocker locker(&s_mutex);
            s_messages.append(message);
        }
        s_previous(type, context, message);
    }

    static inline QtMessageHandler s_previous = nullptr;
    static inline QMutex s_mutex;
    static inline QStringList s_messages;
};

// A QThread (when useQThread) or a plain std::thread running body; join() waits with a timeout.
class OwnerThread
{
public:
    OwnerThread(bool useQThread, std::function<void()> body)
    {
        if (useQThread) {
            m_qthread.reset(
                    QThread::create(qdispatchtest::releasingOnReturn(m_returned, std::move(body))));
            m_qthread->start();
        } else {
            m_std = std::thread(std::move(body));
        }
    }
    ~OwnerThread() { join(); }
    OwnerThread(const OwnerThread &) = delete;
    OwnerThread &operator=(const OwnerThread &) = delete;

    // True once the thread has ended (a QThread: wait() returned; a std::thread: joined, so its
    // thread-local storage is gone too).
    // m_returned is what ThreadSanitizer sees of the end (not the hand-off inside wait()); it
    // keeps its token so that join() may be called again.
    bool join()
    {
        if (m_qthread) {
            if (!m_returned.tryAcquire(1, kTimeoutMs))
                return false;
            m_returned.release();
            if (m_watchingFinished) {
                if (!m_finished.tryAcquire(1, kTimeoutMs))
                    return false;
                m_finished.release();
            }
            return m_qthread->wait(timeout());
        }
        if (!m_std.joinable())
            return true;
        qdispatchtest::Semaphore joined;
        std::unique_ptr<QThread> joiner(QThread::create(
                qdispatchtest::releasingOnReturn(joined, [this] { m_std.join(); })));
        joiner->start();
        if (!joined.tryAcquire(1, kTimeoutMs) || !joiner->wait(timeout()))
            qFatal("tst_lifecycle: a std::thread did not end within %d ms", kTimeoutMs);
        return true;
    }
    void deleteQThreadObject() { m_qthread.reset(); }

    // A QThread owner breaks its executors in a QThread::finished handler (connected when the
    // executor was constructed), after fn returned and m_returned was released; items fail
    // there, and their ExecutorError{Broken} is made there. Call this once the thread has
    // constructed its executors: this handler, connected later, runs after theirs, so join()
    // then orders what they did before the caller, for ThreadSanitizer too (it cannot see the
    // hand-off inside QThread::wait()).
    void watchFinished()
    {
        if (!m_qthread)
            return;
        m_watchingFinished = true;
        QObject::connect(m_qthread.get(), &QThread::finished, m_qthread.get(),
                         [this] { m_finished.release(); }, Qt::DirectConnection);
    }

private:
    qdispatchtest::Semaphore m_returned;
    qdispatchtest::Semaphore m_finished;
    bool m_watchingFinished = false;
    std::unique_ptr<QThread> m_qthread;
    std::thread m_std;
};

// An owner thread that constructs an executor (chained to `old`), announces it, and then blocks,
// running no events at all, until finish(): items submitted meanwhile stay queued.
class BlockedOwner
{
public:
    explicit BlockedOwner(bool useQThread, CurrentThreadExecutor *old = nullptr)
        : m_thread(useQThread, [this, old] {
              m_executor = std::make_unique<CurrentThreadExecutor>(old);
              m_qthread = QThread::currentThread();
              m_id = std::this_thread::get_id();
              m_ready.release();
              m_released = m_go.tryAcquire(1, kTimeoutMs);
          })
    {
    }
    ~BlockedOwner()
    {
        m_go.release();
        m_thread.join();
    }

    bool waitReady()
    {
        if (!m_ready.tryAcquire(1, kTimeoutMs))
            return false;
        m_thread.watchFinished(); // the executor exists: see OwnerThread::watchFinished()
        return true;
    }
    // Lets the owner return; true when it then ended in time, having been let go (not timed out).
    bool finish()
    {
        m_go.release();
        return m_thread.join() && m_released;
    }
    CurrentThreadExecutor *executor() const { return m_executor.get(); }
    std::unique_ptr<CurrentThreadExecutor> takeExecutor() { return std::move(m_executor); }
    QThread *qthread() const { return m_qthread; }
    std::thread::id id() const { return m_id; }
    void deleteQThreadObject() { m_thread.deleteQThreadObject(); }

private:
    qdispatchtest::Semaphore m_ready;
    qdispatchtest::Semaphore m_go;
    std::unique_ptr<CurrentThreadExecutor> m_executor;
    QThread *m_qthread = nullptr;
    std::thread::id m_id;
    bool m_released = false;
    OwnerThread m_thread; // last: starts once everything above exists
};

// A QThread that constructs an executor (chained to `old`) and runs an event loop until stop();
// the executor is destroyed at the end of run() unless the test took it.
class LoopThread : public QThread
{
public:
    explicit LoopThread(CurrentThreadExecutor *old = nullptr) : m_old(old) { }
    ~LoopThread() override { stop(); }

    bool waitReady() { return m_ready.tryAcquire(1, kTimeoutMs); }
    bool stop()
    {
        // Released before quit(): what this thread did before stop() happens, for
        // ThreadSanitizer too, before run() destroys the executor (quit() is not seen).
        m_stopping.release();
        quit();
        if (!isRunning() && !isFinished())
            return true; // never started
        // m_returned: the end of run() as ThreadSanitizer sees it (it cannot see wait()'s).
        if (!m_returned.tryAcquire(1, kTimeoutMs))
            return false;
        m_returned.release();
        return wait(timeout());
    }
    CurrentThreadExecutor *executor() const { return m_executor.load(); }
    std::unique_ptr<CurrentThreadExecutor> takeExecutor()
    {
        return std::unique_ptr<CurrentThreadExecutor>(m_executor.exchange(nullptr));
    }

protected:
    void run() override
    {
        m_executor.store(new CurrentThreadExecutor(m_old));
        m_ready.release();
        exec();
        m_stopping.tryAcquire(1, kTimeoutMs);
        delete m_executor.exchange(nullptr);
        m_returned.release();
    }

private:
    CurrentThreadExecutor *const m_old;
    std::atomic<CurrentThreadExecutor *> m_executor{nullptr};
    qdispatchtest::Semaphore m_ready;
    qdispatchtest::Semaphore m_stopping;
    qdispatchtest::Semaphore m_returned;
};

const QRegularExpression &foreignDestructionMessage()
{
    static const QRegularExpression re(QStringLiteral("destroyed on another thread"));
    return re;
}

} // namespace

class tst_Lifecycle : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void c10_brokenAfterShutdown();
    void c10_brokenDuringDestruction();
    void c10_brokenAfterOwnerFinished_data();
    void c10_brokenAfterOwnerFinished();
    void c10_brokenIsFinal();
    void c10_brokenIsFinalAcrossQThreadRestart();
    void c10_waitingNeverBreaks_data();
    void c10_waitingNeverBreaks();

    void c11_chainOfThree();
    void c11_oldDestroyedFirstIsSkipped();
    void c11_noneLeftThrowsBroken();

    void c12_ownerEndsItemsFail_data();
    void c12_ownerEndsItemsFail();
    void c12_ownerEndsItemsRunOnOldExecutor_data();
    void c12_ownerEndsItemsRunOnOldExecutor();
    void c12_neverRunCallableDiesOnBreakingThread();
    void c12_waiterOfBrokenItemWakes();

    void c13_destroyOnOwnerWithItemsQueued_data();
    void c13_destroyOnOwnerWithItemsQueued();
    void c13_destroyOnOwnerFromInsideItsOwnItem_data();
    void c13_destroyOnOwnerFromInsideItsOwnItem();
    void c13_destroyAfterOwnerFinished_data();
    void c13_destroyAfterOwnerFinished();
    void c13_destroyFromAnotherThreadWhileOwnerBlocked_data();
    void c13_destroyFromAnotherThreadWhileOwnerBlocked();
    void c13_destroyFromAnotherThreadWhileOwnerInEventLoop_data();
    void c13_destroyFromAnotherThreadWhileOwnerInEventLoop();
};

// ---------------------------------------------------------------------------------------- C10

void tst_Lifecycle::c10_brokenAfterShutdown()
{
    CurrentThreadExecutor executor;
    QVERIFY(!executor.isBroken());
    executor.shutdown();
    QVERIFY(executor.isBroken());
    executor.shutdown(); // idempotent
    QVERIFY(executor.isBroken());

    // Seen from another thread too, and a submit there finds nothing alive.
    bool seenBroken = false;
    auto journal = std::make_shared<Journal>();
    Submitted submitted;
    QVERIFY(runOnWorker([&] {
        seenBroken = executor.isBroken();
        submitted = submitProbes(&executor, journal, { 0 });
    }));
    QVERIFY(seenBroken);
    QCOMPARE(submitted.brokenErrors, 1);

    // shutdown() is thread-safe: called on a thread that is not the (still running) owner.
    BlockedOwner owner(false);
    QVERIFY(owner.waitReady());
    QVERIFY(!owner.executor()->isBroken());
    owner.executor()->shutdown();
    QVERIFY(owner.executor()->isBroken());
    QVERIFY(owner.finish());
    QVERIFY(owner.executor()->isBroken());
}

void tst_Lifecycle::c10_brokenDuringDestruction()
{
    // An item that never runs is destroyed inside ~CurrentThreadExecutor (C12). Its destructor
    // holds the destruction there until another thread has looked at the executor.
    struct HoldDestruction
    {
        CurrentThreadExecutor *executor;
        qdispatchtest::Semaphore *inDestructor;
        qdispatchtest::Semaphore *observed;
        bool *ownerSawBroken;
        bool live = true;

        HoldDestruction(CurrentThreadExecutor *e, qdispatchtest::Semaphore *in,
                        qdispatchtest::Semaphore *seen, bool *saw)
            : executor(e), inDestructor(in), observed(seen), ownerSawBroken(saw)
        {
        }
        HoldDestruction(HoldDestruction &&other) noexcept
            : executor(other.executor),
              inDestructor(other.inDestructor),
              observed(other.observed),
              ownerSawBroken(other.ownerSawBroken)
        {
            other.live = false;
        }
        ~HoldDestruction()
        {
            if (!live)
                return;
            *ownerSawBroken = executor->isBroken();
            inDestructor->release();
            observed->tryAcquire(1, kTimeoutMs);
        }
        int operator()() { return 1; }
    };

    auto executor = std::make_unique<CurrentThreadExecutor>();
    CurrentThreadExecutor *raw = executor.get();
    qdispatchtest::Semaphore inDestructor, observed;
    bool ownerSawBroken = false;
    std::atomic<bool> observerSawBroken{false};
    std::atomic<int> observerSubmit{-1}; // 0: threw Broken, 1: was accepted, 2: other error

    std::unique_ptr<QThread> observer(QThread::create([&] {
        if (!inDestructor.tryAcquire(1, kTimeoutMs))
            return;
        observerSawBroken = raw->isBroken();
        try {
            raw->submit([] { return 0; });
            observerSubmit = 1;
        } catch (const ExecutorError &error) {
            observerSubmit = error.code() == ExecutorError::Code::Broken ? 0 : 2;
        } catch (...) {
            observerSubmit = 2;
        }
        observed.release();
    }));
    observer->start();

    QFuture<int> queued;
    QVERIFY(runOnWorker([&] {
        queued = raw->submit(HoldDestruction(raw, &inDestructor, &observed, &ownerSawBroken));
    }));
    QVERIFY(!raw->isBroken());

    executor.reset();
    QVERIFY(observer->wait(timeout()));
    QVERIFY(ownerSawBroken);
    QVERIFY(observerSawBroken.load());
    QCOMPARE(observerSubmit.load(), 0);
    const QString problem = brokenProblem(queued);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
}

void tst_Lifecycle::c10_brokenAfterOwnerFinished_data()
{
    QTest::addColumn<bool>("useQThread");
    QTest::newRow("std::thread") << false;
    QTest::newRow("QThread") << true;
}

void tst_Lifecycle::c10_brokenAfterOwnerFinished()
{
    QFETCH(bool, useQThread);
    BlockedOwner owner(useQThread);
    QVERIFY(owner.waitReady());
    CurrentThreadExecutor *executor = owner.executor();
    QCOMPARE(executor->thread(), owner.qthread());
    QVERIFY(!executor->isBroken()); // the owner still runs
    QVERIFY(owner.finish()); // QThread: right after wait(); std::thread: after join()
    QVERIFY(executor->isBroken());

    auto journal = std::make_shared<Journal>();
    const Submitted submitted = submitProbes(executor, journal, { 0 });
    QCOMPARE(submitted.brokenErrors, 1);
    QCOMPARE(journal->alive.load(), 0);
}

void tst_Lifecycle::c10_brokenIsFinal()
{
    CurrentThreadExecutor executor;
    executor.shutdown();

    // Waiting on it does not revive it.
    QPromise<void> done;
    done.start();
    done.finish();
    executor.runUntilFuture(done.future(), RunMode::ExecutorOnly);
    QVERIFY(executor.isBroken());

    // Nor does a newer executor of the same thread chained to it, which works normally.
    auto journal = std::make_shared<Journal>();
    {
        CurrentThreadExecutor newer(&executor);
        const Submitted submitted = submitProbesFromWorker(&newer, journal, { 0 });
        QVERIFY(submitted.joined);
        QCOMPARE(submitted.futures.size(), 1);
        newer.runUntilFuture(submitted.futures.first(), RunMode::ExecutorOnly);
        QCOMPARE(submitted.futures.first().result(), 0);
        QCOMPARE(journal->ranOn(0), QThread::currentThread());
        QVERIFY(executor.isBroken());
    }
    executor.shutdown();
    QVERIFY(executor.isBroken());
    const Submitted later = submitProbesFromWorker(&executor, journal, { 1 });
    QVERIFY(later.joined);
    QCOMPARE(later.brokenErrors, 1);
    QCOMPARE(journal->callOrder(), QList<int>{ 0 });
}

void tst_Lifecycle::c10_brokenIsFinalAcrossQThreadRestart()
{
    // A QThread object can be started again: a new run of the same QThread is not the owner
    // thread coming back, so the executor made by the first run stays broken.
    // (QThread::create's thread cannot run twice, hence a subclass.)
    class TwoRuns : public QThread
    {
    public:
        std::atomic<int> runs{0};
        std::unique_ptr<CurrentThreadExecutor> executor;
        qdispatchtest::Semaphore secondRunStarted, endSecondRun;
        qdispatchtest::Semaphore firstRunReturned; // for ThreadSanitizer, see releasingOnReturn()
        ~TwoRuns() override
        {
            endSecondRun.release();
            wait();
        }

    protected:
        void run() override
        {
            if (runs.fetch_add(1) == 0) {
                executor = std::make_unique<CurrentThreadExecutor>();
                firstRunReturned.release();
            } else {
                secondRunStarted.release();
                endSecondRun.tryAcquire(1, kTimeoutMs);
            }
        }
    };
    auto thread = std::make_unique<TwoRuns>();
    std::unique_ptr<CurrentThreadExecutor> &executor = thread->executor;
    qdispatchtest::Semaphore &secondRunStarted = thread->secondRunStarted;
    qdispatchtest::Semaphore &endSecondRun = thread->endSecondRun;
    thread->start();
    QVERIFY(thread->firstRunReturned.tryAcquire(1, kTimeoutMs));
    QVERIFY(thread->wait(timeout()));
    QVERIFY(executor);
    QVERIFY(executor->isBroken());

    thread->start();
    QVERIFY(secondRunStarted.tryAcquire(1, kTimeoutMs));
    QCOMPARE(executor->thread(), thread.get());
    QVERIFY(executor->isBroken());
    auto journal = std::make_shared<Journal>();
    const Submitted submitted = submitProbes(executor.get(), journal, { 0 });
    QCOMPARE(submitted.brokenErrors, 1);
    QCOMPARE(journal->alive.load(), 0);
    endSecondRun.release();
    QVERIFY(thread->wait(timeout()));
    QVERIFY(executor->isBroken());

    MessageCatcher catcher;
    executor.reset();
    const QStringList messages = catcher.messages();
    QVERIFY2(messages.isEmpty(), qPrintable(messages.join(QLatin1Char('\n'))));
}

void tst_Lifecycle::c10_waitingNeverBreaks_data()
{
    QTest::addColumn<RunMode>("mode");
    QTest::newRow("AllEvents") << RunMode::AllEvents;
    QTest::newRow("ExcludeUserInput") << RunMode::ExcludeUserInput;
    QTest::newRow("ExecutorOnly") << RunMode::ExecutorOnly;
}

void tst_Lifecycle::c10_waitingNeverBreaks()
{
    QFETCH(RunMode, mode);
    CurrentThreadExecutor executor;
    auto journal = std::make_shared<Journal>();

    // asgiref breaks its executor when the awaited future completes; here it stays usable.
    for (int round = 0; round < 3; ++round) {
        const Submitted submitted = submitProbesFromWorker(&executor, journal, { round });
        QVERIFY(submitted.joined);
        QCOMPARE(submitted.futures.size(), 1);
        executor.runUntilFuture(submitted.futures.first(), mode);
        QVERIFY(!executor.isBroken());
        QCOMPARE(submitted.futures.first().result(), round);
        QCOMPARE(journal->ranOn(round), executor.thread());
    }

    // An already finished future, and a deadline that passes first, do not break it either.
    QPromise<void> done;
    done.start();
    done.finish();
    executor.runUntilFuture(done.future(), mode);
    QVERIFY(!executor.isBroken());
    QPromise<void> never;
    never.start();
    QVERIFY(!executor.runUntilFuture(never.future(), QDeadlineTimer(1), mode));
    QVERIFY(!executor.isBroken());
    never.finish();

    const Submitted after = submitProbesFromWorker(&executor, journal, { 3 });
    QVERIFY(after.joined);
    QCOMPARE(after.futures.size(), 1);
    QVERIFY(executor.runUntilFuture(after.futures.first(), timeout(), mode));
    QCOMPARE(after.futures.first().result(), 3);
    QCOMPARE(journal->callOrder(), (QList<int>{ 0, 1, 2, 3 }));
}

// ---------------------------------------------------------------------------------------- C11

void tst_Lifecycle::c11_chainOfThree()
{
    // E1 on a QThread running an event loop; E2 (old = E1) and E3 (old = E2) on this thread.
    LoopThread t1;
    t1.start();
    QVERIFY(t1.waitReady());
    CurrentThreadExecutor *e1 = t1.executor();
    QCOMPARE(e1->thread(), &t1);
    auto e2 = std::make_unique<CurrentThreadExecutor>(e1);
    CurrentThreadExecutor e3(e2.get());
    QCOMPARE(e2->oldExecutor(), e1);
    QCOMPARE(e3.oldExecutor(), e2.get());

    // Queued on E2 while this thread runs no events.
    auto journal = std::make_shared<Journal>();
    const Submitted onE2 = submitProbesFromWorker(e2.get(), journal, { 0, 1, 2, 3, 4 });
    QVERIFY(onE2.joined);
    QCOMPARE(onE2.futures.size(), 5);
    QCOMPARE(journal->called.available(), 0);

    // The middle one shuts down: its queue moves, in order, to E1 and runs on E1's thread.
    e2->shutdown();
    QVERIFY(e2->isBroken());
    QVERIFY(!e1->isBroken());
    QVERIFY(!e3.isBroken());
    QVERIFY(journal->destroyed.tryAcquire(5, kTimeoutMs));
    QCOMPARE(journal->callOrder(), (QList<int>{ 0, 1, 2, 3, 4 }));
    for (int id = 0; id < 5; ++id) {
        QCOMPARE(journal->ranOn(id), e1->thread());
        QCOMPARE(journal->diedOn(id), e1->thread()); // C12: destroyed where it ran
        QCOMPARE(onE2.futures.at(id).result(), id);
    }

    // Later submits to the broken E2 go down the chain.
    const Submitted laterOnE2 = submitProbesFromWorker(e2.get(), journal, { 5, 6 });
    QVERIFY(laterOnE2.joined);
    QCOMPARE(laterOnE2.futures.size(), 2);
    QVERIFY(journal->destroyed.tryAcquire(2, kTimeoutMs));
    QCOMPARE(journal->ranOn(5), e1->thread());
    QCOMPARE(journal->ranOn(6), e1->thread());

    // E3 is alive: its items still run on its own thread.
    const Submitted onE3 = submitProbesFromWorker(&e3, journal, { 7 });
    QVERIFY(onE3.joined);
    QCOMPARE(onE3.futures.size(), 1);
    QVERIFY(e3.runUntilFuture(onE3.futures.first(), timeout()));
    QCOMPARE(journal->ranOn(7), QThread::currentThread());
    QVERIFY(journal->destroyed.tryAcquire(1, kTimeoutMs));

    // E3 shut down with items queued: they skip the broken E2 and run on E1.
    const Submitted queuedOnE3 = submitProbesFromWorker(&e3, journal, { 8, 9 });
    QVERIFY(queuedOnE3.joined);
    QCOMPARE(queuedOnE3.futures.size(), 2);
    e3.shutdown();
    QVERIFY(journal->destroyed.tryAcquire(2, kTimeoutMs));
    QCOMPARE(journal->ranOn(8), e1->thread());
    QCOMPARE(journal->ranOn(9), e1->thread());
    QCOMPARE(journal->callOrder(), (QList<int>{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }));

    // E1's thread ends (E1 is destroyed there): none is left, nothing is queued.
    QVERIFY(t1.stop());
    QCOMPARE(e2->oldExecutor(), nullptr);
    const Submitted none = submitProbesFromWorker(&e3, journal, { 10 });
    QVERIFY(none.joined);
    QCOMPARE(none.brokenErrors, 1);
    QCOMPARE(none.futures.size(), 0);
    QCOMPARE(journal->ranOn(10), nullptr);
    QCOMPARE(journal->alive.load(), 0);
    QCOMPARE(journal->called.available(), 10);
}

void tst_Lifecycle::c11_oldDestroyedFirstIsSkipped()
{
    // E1 lives on a thread that waits in RunMode::ExecutorOnly until `stop` finishes.
    QPromise<void> stop;
    stop.start();
    const QFuture<void> stopped = stop.future();
    qdispatchtest::Semaphore ready;
    CurrentThreadExecutor *e1 = nullptr;
    std::unique_ptr<QThread> t1(QThread::create([&, stopped] {
        CurrentThreadExecutor executor;
        e1 = &executor;
        ready.release();
        executor.runUntilFuture(stopped, RunMode::ExecutorOnly);
    }));
    t1->start();
    // Lets t1 end however this test ends (~QThread of QThread::create waits for it).
    struct StopOnExit
    {
        QPromise<void> &stop;
        ~StopOnExit()
        {
            if (!stop.future().isFinished())
                stop.finish();
        }
    } stopOnExit{ stop };
    QVERIFY(ready.tryAcquire(1, kTimeoutMs));

    auto e2 = std::make_unique<CurrentThreadExecutor>(e1);
    CurrentThreadExecutor e3(e2.get());
    auto journal = std::make_shared<Journal>();
    const Submitted onE2 = submitProbesFromWorker(e2.get(), journal, { 0, 1, 2 });
    const Submitted onE3 = submitProbesFromWorker(&e3, journal, { 3, 4 });
    QVERIFY(onE2.joined && onE3.joined);
    QCOMPARE(onE2.futures.size(), 3);
    QCOMPARE(onE3.futures.size(), 2);
    QCOMPARE(journal->called.available(), 0);

    // E2, older than E3, is destroyed first (on its owner: silent); its items go to E1.
    {
        MessageCatcher catcher;
        e2.reset();
        const QStringList messages = catcher.messages();
        QVERIFY2(messages.isEmpty(), qPrintable(messages.join(QLatin1Char('\n'))));
    }
    QCOMPARE(e3.oldExecutor(), nullptr);
    QVERIFY(!e3.isBroken());
    QVERIFY(journal->destroyed.tryAcquire(3, kTimeoutMs));
    QCOMPARE(journal->callOrder(), (QList<int>{ 0, 1, 2 }));
    for (int id = 0; id < 3; ++id)
        QCOMPARE(journal->ranOn(id), t1.get());

    // E3 breaks: its chain skips the destroyed E2 and reaches E1.
    e3.shutdown();
    QVERIFY(journal->destroyed.tryAcquire(2, kTimeoutMs));
    QCOMPARE(journal->callOrder(), (QList<int>{ 0, 1, 2, 3, 4 }));
    QCOMPARE(journal->ranOn(3), t1.get());
    QCOMPARE(journal->ranOn(4), t1.get());
    QCOMPARE(onE3.futures.at(1).result(), 4);
    const Submitted later = submitProbesFromWorker(&e3, journal, { 5 });
    QVERIFY(later.joined);
    QCOMPARE(later.futures.size(), 1);
    QVERIFY(journal->destroyed.tryAcquire(1, kTimeoutMs));
    QCOMPARE(journal->ranOn(5), t1.get());

    stop.finish();
    QVERIFY(t1->wait(timeout()));
    const Submitted none = submitProbesFromWorker(&e3, journal, { 6 });
    QVERIFY(none.joined);
    QCOMPARE(none.brokenErrors, 1);
    QCOMPARE(journal->ranOn(6), nullptr);
    QCOMPARE(journal->alive.load(), 0);
}

void tst_Lifecycle::c11_noneLeftThrowsBroken()
{
    auto e1 = std::make_unique<CurrentThreadExecutor>();
    CurrentThreadExecutor e2(e1.get());
    QCOMPARE(e2.oldExecutor(), e1.get());
    e1.reset();
    QCOMPARE(e2.oldExecutor(), nullptr);

    auto journal = std::make_shared<Journal>();
    const Submitted queued = submitProbesFromWorker(&e2, journal, { 0, 1 });
    QVERIFY(queued.joined);
    QCOMPARE(queued.futures.size(), 2);
    e2.shutdown(); // the chain has only the destroyed E1: the queued items fail (C12)
    for (const auto &future : queued.futures) {
        const QString problem = brokenProblem(future);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
    }

    // A submit now throws Broken and queues nothing: neither the callable nor a move-only
    // argument is called or kept.
    std::atomic<int> otherErrors{0};
    std::atomic<int> brokenErrors{0};
    QString message;
    QVERIFY(runOnWorker([&] {
        try {
            e2.submit(Probe(journal, 2));
        } catch (const ExecutorError &error) {
            (error.code() == ExecutorError::Code::Broken ? brokenErrors : otherErrors)++;
            message = QString::fromUtf8(error.what());
        }
        try {
            e2.submit([](Probe probe) { return probe(); }, Probe(journal, 3));
        } catch (const ExecutorError &error) {
            (error.code() == ExecutorError::Code::Broken ? brokenErrors : otherErrors)++;
        }
    }));
    QCOMPARE(brokenErrors.load(), 2);
    QCOMPARE(otherErrors.load(), 0);
    QVERIFY2(message.contains(QLatin1String("broken")), qPrintable(message));
    QCOMPARE(journal->called.available(), 0);
    QCOMPARE(journal->alive.load(), 0);
    QCOMPARE(journal->destroyed.available(), 4);
}

// ---------------------------------------------------------------------------------------- C12

void tst_Lifecycle::c12_ownerEndsItemsFail_data()
{
    QTest::addColumn<bool>("useQThread");
    QTest::newRow("std::thread") << false;
    QTest::newRow("QThread") << true;
}

void tst_Lifecycle::c12_ownerEndsItemsFail()
{
    QFETCH(bool, useQThread);
    BlockedOwner owner(useQThread);
    QVERIFY(owner.waitReady());
    auto journal = std::make_shared<Journal>();
    const Submitted submitted = submitProbes(owner.executor(), journal, { 0, 1, 2 });
    QCOMPARE(submitted.futures.size(), 3);

    QVERIFY(owner.finish());
    for (const auto &future : submitted.futures) {
        const QString problem = brokenProblem(future);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
    }
    QCOMPARE(journal->called.available(), 0);
    QCOMPARE(journal->alive.load(), 0);
    // Never ran, so destroyed on the thread that broke the executor: the ending owner.
    for (int id = 0; id < 3; ++id) {
        QVERIFY(journal->diedOnId(id) == owner.id());
        QCOMPARE(journal->diedOn(id), owner.qthread());
    }
}

void tst_Lifecycle::c12_ownerEndsItemsRunOnOldExecutor_data()
{
    QTest::addColumn<bool>("useQThread");
    QTest::newRow("std::thread") << false;
    QTest::newRow("QThread") << true;
}

void tst_Lifecycle::c12_ownerEndsItemsRunOnOldExecutor()
{
    QFETCH(bool, useQThread);
    CurrentThreadExecutor old; // on this thread
    BlockedOwner owner(useQThread, &old);
    QVERIFY(owner.waitReady());
    auto journal = std::make_shared<Journal>();
    const Submitted submitted = submitProbes(owner.executor(), journal, { 0, 1, 2 });
    QCOMPARE(submitted.futures.size(), 3);

    QVERIFY(owner.finish());
    QVERIFY(owner.executor()->isBroken());
    // Moved, not failed: they wait for this thread to run them.
    for (const auto &future : submitted.futures)
        QVERIFY(!future.isFinished());
    QCOMPARE(journal->destroyed.available(), 0);

    QVERIFY(old.runUntilFuture(submitted.futures.last(), timeout(), RunMode::ExecutorOnly));
    QCOMPARE(journal->callOrder(), (QList<int>{ 0, 1, 2 }));
    for (int id = 0; id < 3; ++id) {
        QCOMPARE(submitted.futures.at(id).result(), id);
        QCOMPARE(journal->ranOn(id), old.thread());
        QCOMPARE(journal->diedOn(id), old.thread());
    }
    QCOMPARE(journal->alive.load(), 0);
}

void tst_Lifecycle::c12_neverRunCallableDiesOnBreakingThread()
{
    // Submitted from this thread, owned by a blocked thread, broken by a third one: the
    // callables that never ran die on the third.
    BlockedOwner owner(false);
    QVERIFY(owner.waitReady());
    auto journal = std::make_shared<Journal>();
    const Submitted submitted = submitProbes(owner.executor(), journal, { 0, 1 });
    QCOMPARE(submitted.futures.size(), 2);

    std::thread::id breakerId;
    qdispatchtest::Semaphore returned; // see releasingOnReturn()
    std::unique_ptr<QThread> breaker(QThread::create(qdispatchtest::releasingOnReturn(returned, [&] {
        breakerId = std::this_thread::get_id();
        owner.executor()->shutdown();
    })));
    breaker->start();
    QVERIFY(returned.tryAcquire(1, kTimeoutMs));
    QVERIFY(breaker->wait(timeout()));
    for (const auto &future : submitted.futures) {
        const QString problem = brokenProblem(future);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
    }
    QCOMPARE(journal->alive.load(), 0);
    for (int id = 0; id < 2; ++id) {
        QCOMPARE(journal->diedOn(id), breaker.get());
        QVERIFY(journal->diedOnId(id) == breakerId);
    }
    QVERIFY(owner.finish());
}

void tst_Lifecycle::c12_waiterOfBrokenItemWakes()
{
    // A thread blocked on the future of a queued item is released when the owner ends.
    BlockedOwner owner(true);
    QVERIFY(owner.waitReady());
    auto journal = std::make_shared<Journal>();
    const Submitted submitted = submitProbes(owner.executor(), journal, { 0 });
    QCOMPARE(submitted.futures.size(), 1);

    // Shared with the waiter, which outlives this test if the library leaves it hanging.
    struct Shared
    {
        qdispatchtest::Semaphore waiting;
        qdispatchtest::Semaphore returned;
        std::atomic<int> outcome{-1}; // 0: waitForFinished() threw, 1: it returned
        std::exception_ptr error;
    };
    auto shared = std::make_shared<Shared>();
    std::unique_ptr<QThread> waiter(
            QThread::create([shared, future = submitted.futures.first()]() mutable {
                shared->waiting.release();
                try {
                    future.waitForFinished();
                    shared->outcome = 1;
                } catch (...) {
                    // Kept, not read here: the owner made the exception while it ended, and
                    // only this test thread is ordered after that for ThreadSanitizer
                    // (BlockedOwner::finish()); QFuture's own hand-off is invisible to it.
                    shared->error = std::current_exception();
                    shared->outcome = 0;
                }
                shared->returned.release();
            }));
    waiter->start();
    QVERIFY(shared->waiting.tryAcquire(1, kTimeoutMs));
    QVERIFY(owner.finish());
    if (!shared->returned.tryAcquire(1, kTimeoutMs) || !waiter->wait(timeout())) {
        waiter.release(); // still blocked on the future: cannot be destroyed
        QFAIL("C12: a thread waiting on the future of a queued item still hangs");
    }
    QCOMPARE(shared->outcome.load(), 0);
    bool broken = false;
    try {
        std::rethrow_exception(shared->error);
    } catch (const ExecutorError &error) {
        broken = error.code() == ExecutorError::Code::Broken;
    } catch (...) {
    }
    QVERIFY2(broken, "C12: the waiter was released without ExecutorError{Broken}");
}

// ---------------------------------------------------------------------------------------- C13

void tst_Lifecycle::c13_destroyOnOwnerWithItemsQueued_data()
{
    QTest::addColumn<bool>("withOld");
    QTest::newRow("no old executor") << false;
    QTest::newRow("old executor on a QThread") << true;
}

void tst_Lifecycle::c13_destroyOnOwnerWithItemsQueued()
{
    QFETCH(bool, withOld);
    LoopThread oldThread;
    CurrentThreadExecutor *old = nullptr;
    if (withOld) {
        oldThread.start();
        QVERIFY(oldThread.waitReady());
        old = oldThread.executor();
    }
    auto executor = std::make_unique<CurrentThreadExecutor>(old);
    auto journal = std::make_shared<Journal>();
    const Submitted submitted = submitProbesFromWorker(executor.get(), journal, { 0, 1, 2 });
    QVERIFY(submitted.joined);
    QCOMPARE(submitted.futures.size(), 3);

    MessageCatcher catcher;
    executor.reset();
    const QStringList messages = catcher.messages();
    QVERIFY2(messages.isEmpty(), qPrintable(messages.join(QLatin1Char('\n'))));

    if (withOld) {
        QVERIFY(journal->destroyed.tryAcquire(3, kTimeoutMs));
        QCOMPARE(journal->callOrder(), (QList<int>{ 0, 1, 2 }));
        for (int id = 0; id < 3; ++id) {
            QCOMPARE(journal->ranOn(id), &oldThread);
            QCOMPARE(journal->diedOn(id), &oldThread);
            QCOMPARE(submitted.futures.at(id).result(), id);
        }
    } else {
        for (const auto &future : submitted.futures) {
            const QString problem = brokenProblem(future);
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
        }
        QCOMPARE(journal->called.available(), 0);
        for (int id = 0; id < 3; ++id)
            QCOMPARE(journal->diedOn(id), QThread::currentThread());
    }
    QCOMPARE(journal->alive.load(), 0);
}

void tst_Lifecycle::c13_destroyOnOwnerFromInsideItsOwnItem_data()
{
    QTest::addColumn<RunMode>("mode");
    QTest::addColumn<bool>("withOld");
    QTest::newRow("ExecutorOnly") << RunMode::ExecutorOnly << false;
    QTest::newRow("AllEvents") << RunMode::AllEvents << false;
    QTest::newRow("AllEvents, old executor on a QThread") << RunMode::AllEvents << true;
}

void tst_Lifecycle::c13_destroyOnOwnerFromInsideItsOwnItem()
{
    // An item destroys its own executor (on the owner thread, so allowed) while the owner waits
    // in runUntilFuture() on that very executor and three more items wait behind it.
    QFETCH(RunMode, mode);
    QFETCH(bool, withOld);
    LoopThread oldThread;
    CurrentThreadExecutor *old = nullptr;
    if (withOld) {
        oldThread.start();
        QVERIFY(oldThread.waitReady());
        old = oldThread.executor();
    }
    CurrentThreadExecutor *executor = new CurrentThreadExecutor(old);
    auto journal = std::make_shared<Journal>();
    QFuture<int> destroyer;
    Submitted behind;
    QVERIFY(runOnWorker([&] {
        destroyer = executor->submit([&executor] {
            delete std::exchange(executor, nullptr);
            return 1;
        });
        behind = submitProbes(executor, journal, { 0, 1, 2 });
    }));
    QCOMPARE(behind.futures.size(), 3);

    MessageCatcher catcher;
    CurrentThreadExecutor *raw = executor;
    raw->runUntilFuture(destroyer, mode);
    QCOMPARE(executor, nullptr);
    QCOMPARE(destroyer.result(), 1);
    const QStringList messages = catcher.messages();
    QVERIFY2(messages.isEmpty(), qPrintable(messages.join(QLatin1Char('\n'))));

    if (withOld) {
        QVERIFY(journal->destroyed.tryAcquire(3, kTimeoutMs));
        QCOMPARE(journal->callOrder(), (QList<int>{ 0, 1, 2 }));
        for (int id = 0; id < 3; ++id) {
            QCOMPARE(journal->ranOn(id), &oldThread);
            QCOMPARE(journal->diedOn(id), &oldThread);
        }
    } else {
        for (const auto &future : behind.futures) {
            const QString problem = brokenProblem(future);
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
        }
        QCOMPARE(journal->called.available(), 0);
        for (int id = 0; id < 3; ++id)
            QCOMPARE(journal->diedOn(id), QThread::currentThread());
    }
    QCOMPARE(journal->alive.load(), 0);
}

void tst_Lifecycle::c13_destroyAfterOwnerFinished_data()
{
    QTest::addColumn<bool>("useQThread");
    QTest::addColumn<bool>("deleteQThreadFirst");
    QTest::newRow("std::thread joined") << false << false;
    QTest::newRow("QThread after wait()") << true << false;
    QTest::newRow("QThread object deleted first") << true << true;
}

void tst_Lifecycle::c13_destroyAfterOwnerFinished()
{
    QFETCH(bool, useQThread);
    QFETCH(bool, deleteQThreadFirst);
    BlockedOwner owner(useQThread);
    QVERIFY(owner.waitReady());
    auto journal = std::make_shared<Journal>();
    const Submitted submitted = submitProbes(owner.executor(), journal, { 0, 1 });
    QCOMPARE(submitted.futures.size(), 2);
    QVERIFY(owner.finish());
    if (deleteQThreadFirst)
        owner.deleteQThreadObject();

    std::unique_ptr<CurrentThreadExecutor> executor = owner.takeExecutor();
    MessageCatcher catcher;
    executor.reset(); // on this thread, after the owner finished: fine and silent
    const QStringList messages = catcher.messages();
    QVERIFY2(messages.isEmpty(), qPrintable(messages.join(QLatin1Char('\n'))));
    for (const auto &future : submitted.futures) {
        const QString problem = brokenProblem(future);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
    }
    QCOMPARE(journal->alive.load(), 0);
}

void tst_Lifecycle::c13_destroyFromAnotherThreadWhileOwnerBlocked_data()
{
    QTest::addColumn<bool>("useQThread");
    QTest::addColumn<bool>("withOld");
    QTest::newRow("std::thread") << false << false;
    QTest::newRow("QThread") << true << false;
    QTest::newRow("std::thread, old executor here") << false << true;
    QTest::newRow("QThread, old executor here") << true << true;
}

void tst_Lifecycle::c13_destroyFromAnotherThreadWhileOwnerBlocked()
{
    QFETCH(bool, useQThread);
    QFETCH(bool, withOld);
    CurrentThreadExecutor old; // on this thread
    BlockedOwner owner(useQThread, withOld ? &old : nullptr);
    QVERIFY(owner.waitReady());
    auto journal = std::make_shared<Journal>();
    const Submitted submitted = submitProbes(owner.executor(), journal, { 0, 1, 2 });
    QCOMPARE(submitted.futures.size(), 3);

    MessageCatcher catcher;
    QTest::ignoreMessage(QtCriticalMsg, foreignDestructionMessage());
    owner.takeExecutor().reset(); // a programming error: reported, then handled as shutdown()
    const QStringList messages = catcher.messages();
    QCOMPARE(messages.size(), 1);

    if (withOld) {
        QVERIFY(old.runUntilFuture(submitted.futures.last(), timeout(), RunMode::ExecutorOnly));
        QCOMPARE(journal->callOrder(), (QList<int>{ 0, 1, 2 }));
        for (int id = 0; id < 3; ++id) {
            QCOMPARE(submitted.futures.at(id).result(), id);
            QCOMPARE(journal->ranOn(id), QThread::currentThread());
        }
    } else {
        for (const auto &future : submitted.futures) {
            const QString problem = brokenProblem(future);
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
        }
        QCOMPARE(journal->called.available(), 0);
    }
    for (int id = 0; id < 3; ++id)
        QCOMPARE(journal->diedOn(id), QThread::currentThread());
    QCOMPARE(journal->alive.load(), 0);
    QVERIFY(owner.finish()); // the owner goes on and ends normally
}

void tst_Lifecycle::c13_destroyFromAnotherThreadWhileOwnerInEventLoop_data()
{
    QTest::addColumn<bool>("withOld");
    QTest::newRow("no old executor") << false;
    QTest::newRow("old executor here") << true;
}

void tst_Lifecycle::c13_destroyFromAnotherThreadWhileOwnerInEventLoop()
{
    QFETCH(bool, withOld);
    CurrentThreadExecutor old; // on this thread
    qdispatchtest::Semaphore blockerStarted, releaseBlocker;
    LoopThread owner(withOld ? &old : nullptr);
    struct ReleaseOnExit // however this test ends, the owner's loop can then stop
    {
        qdispatchtest::Semaphore &semaphore;
        ~ReleaseOnExit() { semaphore.release(); }
    } releaseOnExit{ releaseBlocker };
    owner.start();
    QVERIFY(owner.waitReady());
    CurrentThreadExecutor *executor = owner.executor();

    // The owner is busy in one item while three more wait behind it.
    QFuture<int> blocker = executor->submit([&] {
        blockerStarted.release();
        return releaseBlocker.tryAcquire(1, kTimeoutMs) ? 1 : 0;
    });
    QVERIFY(blockerStarted.tryAcquire(1, kTimeoutMs));
    auto journal = std::make_shared<Journal>();
    const Submitted submitted = submitProbes(executor, journal, { 0, 1, 2 });
    QCOMPARE(submitted.futures.size(), 3);

    MessageCatcher catcher;
    QTest::ignoreMessage(QtCriticalMsg, foreignDestructionMessage());
    owner.takeExecutor().reset();
    const QStringList messages = catcher.messages();
    QCOMPARE(messages.size(), 1);

    if (withOld) {
        QVERIFY(old.runUntilFuture(submitted.futures.last(), timeout(), RunMode::ExecutorOnly));
        QCOMPARE(journal->callOrder(), (QList<int>{ 0, 1, 2 }));
        for (int id = 0; id < 3; ++id)
            QCOMPARE(journal->ranOn(id), QThread::currentThread());
    } else {
        for (const auto &future : submitted.futures) {
            const QString problem = brokenProblem(future);
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
        }
        QCOMPARE(journal->called.available(), 0);
    }
    for (int id = 0; id < 3; ++id)
        QCOMPARE(journal->diedOn(id), QThread::currentThread());
    QCOMPARE(journal->alive.load(), 0);

    // The item that was running finishes normally on the owner, which goes on and ends.
    releaseBlocker.release();
    QVERIFY(owner.stop());
    QVERIFY(blocker.isFinished());
    QCOMPARE(blocker.result(), 1);
}

QTEST_GUILESS_MAIN(tst_Lifecycle)
#include "tst_lifecycle.moc"

// Helpers shared by the QDispatch tests, each written once (tests/support, built as the static
// library qdispatch_test_support that every test links): the time limits, a semaphore that
// ThreadSanitizer sees, threads that are joined with a time limit, data rows for the wait modes
// and small checks of what a call threw. Next to it: messages.h (MessageLog, the capture of
// logged messages), lifecycle.h (probes and blocked owners for C10..C13) and testcoro.h (the
// coroutine type of the C++20 tests).
#pragma once

#include <qdispatch/currentthreadexecutor.h>

#include "qtcompat.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QEventLoop>
#include <QtCore/QFuture>
#include <QtCore/QPromise>
#include <QtCore/QString>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtTest/QTest>

#include <array>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

// AddressSanitizer and ThreadSanitizer replace malloc with allocators that keep freed memory
// resident on purpose (quarantine, shadow), so RSS and mallinfo2 say nothing about leaks there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define QDISPATCH_TEST_SANITIZER_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define QDISPATCH_TEST_SANITIZER_ALLOCATOR 1
#endif
#endif

// Fails the test, saying what is wrong, unless `problem` (a QString: empty, or what is wrong)
// is empty.
#define VERIFY_NO_PROBLEM(problem)                                                                 \
    do {                                                                                           \
        const QString problem_ = (problem);                                                        \
        QVERIFY2(problem_.isEmpty(), qPrintable(problem_));                                        \
    } while (false)

namespace qdispatchtest {

// ------------------------------------------------------------------------------ time limits

// How long a semaphore hand-off between threads may take before the test fails instead of
// hanging.
constexpr int kHandshakeMs = 10000;
// How long a thread may take to finish, and a wait for work that is certain to end.
constexpr int kJoinMs = 30000;
// What "at once" allows: a call that must not block returns within this, also on a loaded
// two-core machine and in the sanitizer builds.
constexpr int kPromptMs = 5000;

// How long a thread waits for an owner that serves items to run its item, before it gives up:
// a wait that does not serve items shows as this timeout, not as a hang.
constexpr int kServeMs = 5000;
// A short deadline, and how late a wait may return after it (a loaded two-core machine, and
// the sanitizer builds) before it counts as ignoring the deadline.
constexpr int kShortMs = 300;
constexpr int kLateMs = 1500;

inline QDeadlineTimer joinDeadline()
{
    return QDeadlineTimer(kJoinMs);
}

// ------------------------------------------------------------------------------ memory

// Whether malloc's own count of the bytes in use (heapInUseKb()) means something here: glibc,
// and no sanitizer allocator.
#if defined(QDISPATCH_TEST_SANITIZER_ALLOCATOR) || !defined(__GLIBC__)
constexpr bool kHeapCounted = false;
#else
constexpr bool kHeapCounted = true;
#endif
// Bytes malloc has handed out and not had back, in kB (all arenas); -1 where unknown.
qint64 heapInUseKb();

// ------------------------------------------------------------------------- data-driven rows

constexpr qdispatch::RunMode kModes[] = { qdispatch::RunMode::AllEvents,
                                          qdispatch::RunMode::ExcludeUserInput,
                                          qdispatch::RunMode::ExecutorOnly };

// A wait mode's name, for data rows.
const char *modeName(qdispatch::RunMode mode);

// The column "mode" with one row per wait mode, named after it.
void addModeRows();
// The same for the two modes that run an event loop (AllEvents, ExcludeUserInput).
void addEventLoopModeRows();

// The column `column` of type T, with one named row per value.
template<typename T>
void addRows(const char *column, std::initializer_list<std::pair<const char *, T>> rows)
{
    QTest::addColumn<T>(column);
    for (const auto &row : rows)
        QTest::newRow(row.first) << row.second;
}

// The columns `a` and `b`, with one named row per pair of values.
template<typename A, typename B>
void addRows(const char *a, const char *b,
             std::initializer_list<std::tuple<const char *, A, B>> rows)
{
    QTest::addColumn<A>(a);
    QTest::addColumn<B>(b);
    for (const auto &row : rows)
        QTest::newRow(std::get<0>(row)) << std::get<1>(row) << std::get<2>(row);
}

// One column of type T for each name, for rows added by the caller.
template<typename... T> void addColumns(const std::array<const char *, sizeof...(T)> &names)
{
    std::size_t i = 0;
    (QTest::addColumn<T>(names[i++]), ...);
}

// The columns "mode" and `flag`: every wait mode with the flag false, then true, in rows named
// "<mode>-<falseName>" and "<mode>-<trueName>".
void addModeFlagRows(const char *flag, const char *falseName, const char *trueName);

// The column "useQThread": the same test with a QThread and with a plain std::thread.
void addThreadKindRows();

// Empty when `ran` is 0, 1, ..., n - 1, else where it is not.
QString sequenceProblem(const std::vector<int> &ran, int n);

// ------------------------------------------------------------------------------ semaphores

// A counting semaphore with QSemaphore's names, built on std::mutex and std::condition_variable.
// Tests order their threads with it rather than QSemaphore: Debian's Qt is not built with
// ThreadSanitizer, so a hand-off through QSemaphore's futex is invisible to TSan, and the data it
// orders would be reported as raced. Pthread primitives are intercepted, so this one is seen.
class Semaphore
{
public:
    explicit Semaphore(int available = 0) : m_available(available) { }
    Semaphore(const Semaphore &) = delete;
    Semaphore &operator=(const Semaphore &) = delete;

    void release(int n = 1);
    void acquire(int n = 1);
    // Takes n within timeoutMs, or takes nothing and returns false.
    bool tryAcquire(int n, int timeoutMs);
    bool tryAcquire(int n = 1) { return tryAcquire(n, 0); }
    int available() const;

private:
    mutable std::mutex m_mutex;
    std::condition_variable m_changed;
    int m_available;
};

// Releases a semaphore when it goes out of scope, however the scope ends (a failed check
// included), so that the thread waiting for it can go on and be joined.
struct ReleaseOnExit
{
    Semaphore &semaphore;
    ~ReleaseOnExit() { semaphore.release(); }
};

// A QPromise that has started: its future stays unfinished until the test finishes it.
template<typename T> class StartedPromise : public QPromise<T>
{
public:
    StartedPromise() { this->start(); }
};

// Finishes a promise when it goes out of scope unless it has finished already: a wait for its
// future ends however the test ends.
struct FinishOnExit
{
    QPromise<void> &promise;
    ~FinishOnExit()
    {
        if (!promise.future().isFinished())
            promise.finish();
    }
};

// Wraps fn so that `returned` is released when fn returns. A thread that runs the result can be
// joined with returned.tryAcquire() before QThread::wait(): everything fn wrote is then visible
// to the joiner, also to ThreadSanitizer, which cannot see the hand-off inside QThread::wait().
template<typename F> auto releasingOnReturn(Semaphore &returned, F fn)
{
    return [&returned, fn = std::move(fn)]() mutable {
        const ReleaseOnExit release { returned };
        fn();
    };
}

// --------------------------------------------------------------------------------- threads

// Stops the whole test loudly: a thread that is still running would use the test's locals
// after they are gone.
[[noreturn]] void threadHung(const char *what);

// A QThread running fn once; finished() is a future that finishes when fn has returned, so the
// owner thread can wait for it with runUntilFuture() while it keeps running items.
class Worker
{
public:
    template<typename F> explicit Worker(F fn)
    {
        m_promise.start();
        m_future = m_promise.future();
        m_thread.reset(QThread::create([this, fn = std::move(fn)]() mutable {
            fn();
            m_returned.release();
            m_promise.finish();
        }));
        m_thread->start();
    }
    ~Worker();
    Worker(const Worker &) = delete;
    Worker &operator=(const Worker &) = delete;

    QThread *thread() const { return m_thread.get(); }
    QFuture<void> finished() const { return m_future; }
    // Waits until fn has returned and the thread has ended. Everything fn wrote is then visible
    // to the caller, also to ThreadSanitizer: the hand-off goes through a Semaphore, because
    // QThread::wait() and the finished() future synchronise inside Qt, where TSan cannot see.
    [[nodiscard]] bool join();
    // The owner's side: runs `ex`'s items until fn has returned, then joins.
    [[nodiscard]] bool serveAndJoin(qdispatch::CurrentThreadExecutor &ex,
                                    qdispatch::RunMode mode = qdispatch::RunMode::AllEvents)
    {
        return ex.runUntilFuture(m_future, joinDeadline(), mode) && join();
    }

private:
    QPromise<void> m_promise;
    QFuture<void> m_future;
    Semaphore m_returned;
    std::unique_ptr<QThread> m_thread;
    bool m_timedOut = false;
};

// A thread running `body` once: a QThread, or a plain std::thread (which Qt adopts on first
// use), since executors must behave the same on both. The body releases a Semaphore as its
// last step, so that join() has a time limit and ThreadSanitizer sees the body's writes
// ordered before whatever the joining thread checks next.
class AnyThread
{
public:
    AnyThread(bool useQThread, std::function<void()> body);
    ~AnyThread();
    AnyThread(const AnyThread &) = delete;
    AnyThread &operator=(const AnyThread &) = delete;

    // True once the thread has ended, thread-local storage included.
    [[nodiscard]] bool join();
    // A QThread breaks the executors made on it in a QThread::finished handler, connected when
    // they were made, after the body returned. Called once the body has made them: this
    // handler, connected later, runs after theirs, so join() then also orders what they did
    // before the caller, for ThreadSanitizer too. Nothing for a std::thread.
    void watchFinished();
    // Destroys the QThread object of an ended thread (nothing for a std::thread).
    void deleteQThread();
    QThread *qthread() const { return m_qthread.get(); }

private:
    Semaphore m_ended;
    Semaphore m_finished;
    bool m_watchingFinished = false;
    std::unique_ptr<QThread> m_qthread;
    std::thread m_std;
    bool m_joined = false;
};

// Runs fn on a plain std::thread, joins it and returns fn's result (or rethrows its exception).
// The calling thread is blocked meanwhile: it runs no events and no items.
template<typename F> auto onWorker(F fn) -> decltype(fn())
{
    using R = decltype(fn());
    std::exception_ptr error;
    std::conditional_t<std::is_void_v<R>, bool, std::optional<R>> out {};
    {
        AnyThread worker(false, [&] {
            try {
                if constexpr (std::is_void_v<R>)
                    fn();
                else
                    out.emplace(fn());
            } catch (...) {
                error = std::current_exception();
            }
        });
        if (!worker.join())
            threadHung("onWorker()");
    }
    if (error)
        std::rethrow_exception(error);
    if constexpr (!std::is_void_v<R>)
        return std::move(*out);
}

// Passed to LoopThread: the thread makes an executor of its own, chained to `old`.
struct WithExecutor
{
    qdispatch::CurrentThreadExecutor *old = nullptr;
};

// A QThread that runs its event loop until stop(); it may be started again after that. Made
// WithExecutor, run() constructs an executor before the loop starts and destroys it after the
// loop ended, unless the test took it. stop() joins the thread in a way ThreadSanitizer sees (it
// cannot see QThread::wait()): what the test did before stop() happens before run() destroys the
// executor, and everything run() did happens before stop() returns.
class LoopThread : public QThread
{
public:
    LoopThread() = default;
    explicit LoopThread(WithExecutor with) : m_withExecutor(true), m_old(with.old) { }
    ~LoopThread() override;

    // True once run() has made its executor (if any) and is about to start its loop.
    [[nodiscard]] bool waitReady() { return m_ready.tryAcquire(1, kHandshakeMs); }
    // Starts the thread and returns its executor once it exists (nullptr: it did not come).
    qdispatch::CurrentThreadExecutor *startAndWait()
    {
        start();
        return waitReady() ? executor() : nullptr;
    }
    [[nodiscard]] bool stop();
    qdispatch::CurrentThreadExecutor *executor() const { return m_executor.load(); }
    std::unique_ptr<qdispatch::CurrentThreadExecutor> takeExecutor()
    {
        return std::unique_ptr<qdispatch::CurrentThreadExecutor>(m_executor.exchange(nullptr));
    }

protected:
    void run() override;

private:
    const bool m_withExecutor = false;
    qdispatch::CurrentThreadExecutor *const m_old = nullptr;
    std::atomic<qdispatch::CurrentThreadExecutor *> m_executor { nullptr };
    std::atomic<int> m_runs { 0 };
    int m_joinedRuns = 0; // the test's thread only
    Semaphore m_ready;
    Semaphore m_stopping;
    Semaphore m_ended;
};

// A QThread whose run() calls exec() and keeps its return code; `slot` runs in a slot inside
// that exec(), with the thread's event loop in whatever state `slot` puts it.
class ExecThread : public QThread
{
public:
    explicit ExecThread(std::function<void()> slot) : m_slot(std::move(slot)) { }
    ~ExecThread() override;
    // True once exec() has returned and the thread has ended.
    [[nodiscard]] bool joined();
    int execResult() const { return m_result; }

protected:
    void run() override;

private:
    std::function<void()> m_slot;
    Semaphore m_returned;
    int m_result = -100;
    bool m_joined = false;
};

// A QEventLoop that quits itself if nothing else has quit it within kJoinMs; timedOut() then
// says so.
class SafeEventLoop : public QEventLoop
{
public:
    SafeEventLoop();
    bool timedOut() const { return m_timedOut; }

private:
    QTimer m_safety;
    bool m_timedOut = false;
};

// For a test program with its own main(): runs the tests of `before` while no QCoreApplication
// exists, those of `during` while one lives, and those of `after` (if any) once it is gone, and
// returns their combined status. Qt 6.4's crash handler loops forever on a crash in the second or
// a later qExec() of one process (a fatal signal then hangs until the CTest timeout instead of
// failing), so every phase runs without it, and the log is written line by line, so that it
// shows how far the test got.
int execAroundApplication(int argc, char **argv, QObject &before, QObject &during,
                          QObject *after = nullptr);

// ------------------------------------------------------------------------------ executors

// Runs every item the executor accepted so far (C8 with an already finished future).
void drain(qdispatch::CurrentThreadExecutor &ex,
           qdispatch::RunMode mode = qdispatch::RunMode::AllEvents);

// Keeps a test's stack alive until a job that uses it (a QtConcurrent::run() of the test) has
// finished, also when a check fails early: the owner runs the executor's items until then.
template<typename T> class FinishGuard
{
public:
    FinishGuard(qdispatch::CurrentThreadExecutor &executor, QFuture<T> future)
        : m_executor(executor), m_future(std::move(future))
    { }
    ~FinishGuard()
    {
        if (m_future.isFinished())
            return;
        try {
            (void)m_executor.runUntilFuture(m_future, joinDeadline(),
                                            qdispatch::RunMode::ExecutorOnly);
        } catch (...) { }
    }
    FinishGuard(const FinishGuard &) = delete;
    FinishGuard &operator=(const FinishGuard &) = delete;

private:
    qdispatch::CurrentThreadExecutor &m_executor;
    QFuture<T> m_future;
};

// runUntilFuture() through the overload without a deadline when `deadline` is empty, else through
// the one that takes it: that one's result (true for the other), or nothing when the call threw.
std::optional<bool> waitFor(qdispatch::CurrentThreadExecutor &ex, const QFuture<void> &future,
                            const std::optional<QDeadlineTimer> &deadline, qdispatch::RunMode mode);

// ExecutorError codes as ints, the way errorCodeOf() reports them.
constexpr int kNothingThrown = -1;
constexpr int kOtherException = -2;
constexpr int kWrongThread = int(qdispatch::ExecutorError::Code::WrongThread);
constexpr int kOwnThread = int(qdispatch::ExecutorError::Code::OwnThread);
constexpr int kBroken = int(qdispatch::ExecutorError::Code::Broken);
constexpr int kNoApplication = int(qdispatch::ExecutorError::Code::NoApplication);

// The code of the qdispatch::ExecutorError that fn throws as an int, kNothingThrown when it
// throws nothing, kOtherException for an exception of another type.
template<typename F, typename = std::enable_if_t<std::is_invocable_v<F &>>> int errorCodeOf(F &&fn)
{
    try {
        fn();
    } catch (const qdispatch::ExecutorError &e) {
        return int(e.code());
    } catch (...) {
        return kOtherException;
    }
    return kNothingThrown;
}

// The same for what a finished future holds.
template<typename T> int errorCodeOf(const QFuture<T> &future)
{
    return errorCodeOf([f = QFuture<T>(future)]() mutable { f.waitForFinished(); });
}

// What a call threw: an ExecutorError with its code and message, something else, or nothing.
struct Thrown
{
    bool executorError = false;
    bool other = false;
    qdispatch::ExecutorError::Code code = qdispatch::ExecutorError::Code::WrongThread;
    QString message;
    bool threw() const { return executorError || other; }
};

template<typename F> Thrown thrownBy(F &&fn)
{
    Thrown t;
    try {
        fn();
    } catch (const qdispatch::ExecutorError &e) {
        t.executorError = true;
        t.code = e.code();
        t.message = QString::fromUtf8(e.what());
    } catch (...) {
        t.other = true;
    }
    return t;
}

} // namespace qdispatchtest

// Helpers shared by the QDispatch tests: a worker thread that the owner thread can wait for
// with runUntilFuture(), and the time limits every hand-off and join uses.
#pragma once

#include <qdispatch/currentthreadexecutor.h>

#include "qtcompat.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QFuture>
#include <QtCore/QPromise>
#include <QtCore/QThread>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

// AddressSanitizer and ThreadSanitizer replace malloc with allocators that keep freed memory
// resident on purpose (quarantine, shadow), so RSS and mallinfo2 say nothing about leaks there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define QDISPATCH_TEST_SANITIZER_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define QDISPATCH_TEST_SANITIZER_ALLOCATOR 1
#endif
#endif

namespace qdispatchtest {

// A wait mode's name, for data rows.
inline const char *modeName(qdispatch::RunMode mode)
{
    switch (mode) {
    case qdispatch::RunMode::AllEvents:
        return "AllEvents";
    case qdispatch::RunMode::ExcludeUserInput:
        return "ExcludeUserInput";
    case qdispatch::RunMode::ExecutorOnly:
        return "ExecutorOnly";
    }
    return "?";
}

// How long a semaphore hand-off may take, and how long a thread may take to finish, before the
// test fails instead of hanging.
constexpr int kHandshakeMs = 10000;
constexpr int kJoinMs = 30000;

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

    void release(int n = 1)
    {
        // Notified under the lock: a waiter that takes the last token may destroy the semaphore
        // at once, and must not do so while this thread is still inside notify_all().
        std::lock_guard<std::mutex> lock(m_mutex);
        m_available += n;
        m_changed.notify_all();
    }
    void acquire(int n = 1)
    {
        std::unique_lock<std::mutex> lock(m_mutex);
        m_changed.wait(lock, [&] { return m_available >= n; });
        m_available -= n;
    }
    // Takes n within timeoutMs, or takes nothing and returns false.
    bool tryAcquire(int n, int timeoutMs)
    {
        std::unique_lock<std::mutex> lock(m_mutex);
        if (!m_changed.wait_for(lock, std::chrono::milliseconds(timeoutMs),
                                [&] { return m_available >= n; }))
            return false;
        m_available -= n;
        return true;
    }
    bool tryAcquire(int n = 1) { return tryAcquire(n, 0); }
    int available() const
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        return m_available;
    }

private:
    mutable std::mutex m_mutex;
    std::condition_variable m_changed;
    int m_available;
};

// Wraps fn so that `returned` is released when fn returns. A thread that runs the result can be
// joined with returned.tryAcquire() before QThread::wait(): everything fn wrote is then visible
// to the joiner, also to ThreadSanitizer, which cannot see the hand-off inside QThread::wait().
template <typename F>
auto releasingOnReturn(Semaphore &returned, F fn)
{
    return [&returned, fn = std::move(fn)]() mutable {
        struct Release
        {
            Semaphore &semaphore;
            ~Release() { semaphore.release(); }
        } release{ returned };
        fn();
    };
}

// A QThread running fn once; finished() is a future that finishes when fn has returned, so the
// owner thread can wait for it with runUntilFuture() while it keeps running items.
class Worker
{
public:
    template <typename F>
    explicit Worker(F fn)
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
    ~Worker()
    {
        // A worker that is still running would use the test's locals after they are gone:
        // stop the whole test loudly instead (at once if a join() already timed out).
        if (m_timedOut || !join())
            qFatal("%s: a worker thread did not finish within %d ms",
                   qPrintable(QCoreApplication::applicationName()), kJoinMs);
    }
    Worker(const Worker &) = delete;
    Worker &operator=(const Worker &) = delete;

    QThread *thread() const { return m_thread.get(); }
    QFuture<void> finished() const { return m_future; }
    // Waits until fn has returned and the thread has ended. Everything fn wrote is then visible
    // to the caller, also to ThreadSanitizer: the hand-off goes through m_returned, because
    // QThread::wait() and the finished() future synchronise inside Qt, where TSan cannot see.
    bool join()
    {
        if (!m_returned.tryAcquire(1, kJoinMs)) {
            m_timedOut = true;
            return false;
        }
        m_returned.release(); // leave the token: join() may be called again
        m_timedOut = !m_thread->wait(QDeadlineTimer(kJoinMs));
        return !m_timedOut;
    }

private:
    QPromise<void> m_promise;
    QFuture<void> m_future;
    Semaphore m_returned;
    std::unique_ptr<QThread> m_thread;
    bool m_timedOut = false;
};


// Runs every item the executor accepted so far (C8 with an already finished future).
inline void drain(qdispatch::CurrentThreadExecutor &ex)
{
    ex.runUntilFuture(qdispatch_compat::readyFuture());
}

// A thread running `body` once: a QThread, or a plain std::thread (which Qt adopts on first
// use), since executors must behave the same on both. The body releases a Semaphore as its
// last step, so that join() has a time limit and ThreadSanitizer sees the body's writes
// ordered before whatever the joining thread checks next.
class AnyThread
{
public:
    AnyThread(bool useQThread, std::function<void()> body)
    {
        auto run = [this, body = std::move(body)] {
            body();
            m_ended.release();
        };
        if (useQThread) {
            m_qthread.reset(QThread::create(std::move(run)));
            m_qthread->start();
        } else {
            m_std = std::thread(std::move(run));
        }
    }
    ~AnyThread()
    {
        if (!join())
            qFatal("%s: a thread did not end within %d ms",
                   qPrintable(QCoreApplication::applicationName()), kJoinMs);
    }
    AnyThread(const AnyThread &) = delete;
    AnyThread &operator=(const AnyThread &) = delete;

    // True once the thread has ended, thread-local storage included.
    bool join()
    {
        if (m_joined)
            return true;
        if (!m_ended.tryAcquire(1, kJoinMs))
            return false;
        if (m_qthread && !m_qthread->wait(QDeadlineTimer(kJoinMs)))
            return false;
        if (m_std.joinable())
            m_std.join();
        m_joined = true;
        return true;
    }

private:
    Semaphore m_ended;
    std::unique_ptr<QThread> m_qthread;
    std::thread m_std;
    bool m_joined = false;
};

// A QThread that runs its event loop, and releases `ended` after exec() returns, so that stop()
// joins it in a way ThreadSanitizer sees (it cannot see QThread::wait()). Restartable.
class LoopThread : public QThread
{
public:
    ~LoopThread() override
    {
        if (isRunning()) { // a failed test: do not leave a running QThread behind
            quit();
            wait(QDeadlineTimer(kJoinMs));
        }
    }
    bool stop()
    {
        quit();
        return ended.tryAcquire(1, kJoinMs) && wait(QDeadlineTimer(kJoinMs));
    }

protected:
    void run() override
    {
        exec();
        ended.release();
    }

private:
    Semaphore ended;
};

// The code of the qdispatch::ExecutorError that fn throws as an int, -1 when it throws nothing,
// -2 for an exception of another type.
template <typename F>
int errorCodeOf(F &&fn)
{
    try {
        fn();
    } catch (const qdispatch::ExecutorError &e) {
        return int(e.code());
    } catch (...) {
        return -2;
    }
    return -1;
}

} // namespace qdispatchtest

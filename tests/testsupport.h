// Helpers shared by the QDispatch tests: a worker thread that the owner thread can wait for
// with runUntilFuture(), and the time limits every hand-off and join uses.
#pragma once

#include <qdispatch/currentthreadexecutor.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QFuture>
#include <QtCore/QPromise>
#include <QtCore/QThread>

#include <memory>
#include <utility>

namespace qdispatchtest {

// How long a semaphore hand-off may take, and how long a thread may take to finish, before the
// test fails instead of hanging.
constexpr int kHandshakeMs = 10000;
constexpr int kJoinMs = 30000;

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
    bool join()
    {
        m_timedOut = !m_thread->wait(QDeadlineTimer(kJoinMs));
        return !m_timedOut;
    }

private:
    QPromise<void> m_promise;
    QFuture<void> m_future;
    std::unique_ptr<QThread> m_thread;
    bool m_timedOut = false;
};


// Runs every item the executor accepted so far (C8 with an already finished future).
inline void drain(qdispatch::CurrentThreadExecutor &ex)
{
    ex.runUntilFuture(QtFuture::makeReadyFuture());
}

} // namespace qdispatchtest

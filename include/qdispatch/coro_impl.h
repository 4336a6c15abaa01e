// The machinery behind <qdispatch/coro.h>: the awaiters of resumeOn() and resultOf() and the
// items that resume a coroutine. This file is not part of the QDispatch API; it is included by
// <qdispatch/coro.h>, which is the header to read and include. Its contents may change from
// version to version without notice.
#pragma once

#include <qdispatch/coro.h>

#include <atomic>
#include <coroutine>
#include <exception>
#include <memory>
#include <thread>
#include <type_traits>
#include <utility>

namespace qdispatch {

namespace detail {

// A queued resumption. run() resumes the coroutine on the thread that runs the item; fail()
// stores the error and resumes it on the thread that broke the chain, so that the co_await
// throws instead of hanging. An exception escaping the coroutine is reported like one
// escaping a posted item (PostItemBase).
class ResumeItem final : public PostItemBase
{
public:
    ResumeItem(std::coroutine_handle<> coroutine, std::exception_ptr *error) noexcept
        : m_coroutine(coroutine), m_error(error)
    { }

    void fail(const std::exception_ptr &error) noexcept override
    {
        *m_error = error;
        run();
    }

protected:
    void call() override { m_coroutine.resume(); }

private:
    std::coroutine_handle<> m_coroutine;
    std::exception_ptr *m_error;
};

class ResumeOnAwaiter
{
public:
    explicit ResumeOnAwaiter(ExecutorHandle target) : m_target(std::move(target)) { }

    // Already on the live target's own thread: nothing to do.
    bool await_ready() const noexcept
    {
        const ExecutorState *state = HandleAccess::state(m_target);
        return isOwnerThread(state) && !isBroken(state);
    }

    bool await_suspend(std::coroutine_handle<> coroutine) noexcept
    {
        try {
            routeItem(HandleAccess::state(m_target),
                      std::make_unique<ResumeItem>(coroutine, &m_error), OnOwnThread::Queue);
            // The item may already have resumed the coroutine on another thread, and the
            // coroutine may have destroyed this awaiter: touch nothing from here on.
            return true;
        } catch (...) {
            m_error = std::current_exception(); // ExecutorError{Broken}: throw at the co_await
            return false;
        }
    }

    void await_resume() const
    {
        if (m_error)
            std::rethrow_exception(m_error);
    }

private:
    ExecutorHandle m_target;
    std::exception_ptr m_error;
};

// The meeting point of a suspended `co_await resultOf(future)` and the future's completion.
//
// When the awaiting thread has an executor, completion is noticed by a QFutureWatcher in a
// thread of QDispatch's own (watchFuture()), which takes nothing from the future: a then(),
// QtFuture::whenAll() or whenAny() of the caller's on the same future keeps working. Without an
// executor, or without a QCoreApplication, there is no thread to resume on but the one that
// finishes the future, so a QFuture::then() continuation is used, plus onCanceled() on the
// continuation's own future. QFuture keeps one continuation per future: when a later then() on
// the same future replaces ours, the continuation's future is cancelled while the awaited one is
// still running. That case is recognised here and the wait goes on in a thread of its own, so the
// coroutine still resumes with the result.
class FutureWatch : public std::enable_shared_from_this<FutureWatch>
{
public:
    FutureWatch(QFuture<void> future, std::coroutine_handle<> coroutine,
                CurrentThreadExecutor *home)
        : m_future(std::move(future)), m_coroutine(coroutine), m_hasHome(home != nullptr)
    {
        if (home)
            m_home = home->handle();
    }

    void attach()
    {
        auto self = shared_from_this();
        if (m_hasHome && watchFuture(m_future, [self] { self->deliver(Via::Watcher); }))
            return;
        m_future.then(QtFuture::Launch::Sync, [self](const QFuture<void> &) { self->signal(); })
            .onCanceled([self] { self->signal(); });
    }

    // Called once by await_suspend() after attach(). False when the future finished
    // meanwhile: the coroutine then does not suspend at all.
    bool markSuspended() noexcept
    {
        int expected = Suspending;
        return m_phase.compare_exchange_strong(expected, Suspended);
    }

    const std::exception_ptr &error() const noexcept { return m_error; }

private:
    enum Phase { Suspending, Suspended, Resumed };
    // Who noticed the completion: the thread that finished the future (through then()), or
    // QDispatch's watch thread, which must not run the coroutine itself.
    enum class Via { FinishingThread, Watcher };

    void signal() noexcept
    {
        if (!m_future.isFinished()) {
            // Our continuation was replaced by a later then() on the same future.
            if (!m_waiting.exchange(true))
                std::thread([self = shared_from_this()] { self->waitAndDeliver(); }).detach();
            return;
        }
        deliver(Via::FinishingThread);
    }

    void waitAndDeliver() noexcept
    {
        try {
            m_future.waitForFinished();
        } catch (...) {
            // The awaiting coroutine rethrows it from its own future in await_resume().
        }
        deliver(Via::FinishingThread);
    }

    void deliver(Via via) noexcept
    {
        if (m_delivered.exchange(true))
            return;
        int expected = Suspending;
        if (m_phase.compare_exchange_strong(expected, Resumed))
            return; // still inside await_suspend(): it returns false and the coroutine goes on
        if (m_hasHome) {
            // X6: back on the awaiting thread, through its executor (C11 along its chain).
            try {
                routeItem(HandleAccess::state(m_home),
                          std::make_unique<ResumeItem>(m_coroutine, &m_error), OnOwnThread::Queue);
                return;
            } catch (...) {
                m_error = std::current_exception(); // the chain is broken: resume with it here
            }
        }
        if (via == Via::Watcher) {
            // The watch thread serves every awaiting coroutine: resume this one elsewhere.
            std::thread([coroutine = m_coroutine, error = &m_error] {
                ResumeItem(coroutine, error).run();
            }).detach();
            return;
        }
        ResumeItem(m_coroutine, &m_error).run(); // on the thread that finished the future
    }

    QFuture<void> m_future;
    std::coroutine_handle<> m_coroutine;
    ExecutorHandle m_home;
    const bool m_hasHome;
    std::exception_ptr m_error;
    std::atomic<int> m_phase { Suspending };
    std::atomic<bool> m_delivered { false };
    std::atomic<bool> m_waiting { false };
};

template<typename T> class ResultOfAwaiter
{
public:
    explicit ResultOfAwaiter(QFuture<T> future) : m_future(std::move(future)) { }

    bool await_ready() const noexcept { return m_future.isFinished(); }

    bool await_suspend(std::coroutine_handle<> coroutine)
    {
        m_watch = std::make_shared<FutureWatch>(QFuture<void>(m_future), coroutine,
                                                CurrentThreadExecutor::current());
        m_watch->attach();
        return m_watch->markSuspended();
    }

    T await_resume()
    {
        if (m_watch && m_watch->error())
            std::rethrow_exception(m_watch->error()); // ExecutorError{Broken}
        m_future.waitForFinished(); // finished already; rethrows the future's exception
        if constexpr (std::is_void_v<T>) {
            if (m_future.isCanceled())
                throw FutureCanceled();
        } else {
            if (m_future.resultCount() == 0)
                throw FutureCanceled();
            // Copy when possible, so that other copies of the future still see the result.
            if constexpr (std::is_copy_constructible_v<T>)
                return m_future.result();
            else
                return m_future.takeResult();
        }
    }

private:
    QFuture<T> m_future;
    std::shared_ptr<FutureWatch> m_watch;
};

} // namespace detail

inline detail::ResumeOnAwaiter resumeOn(const CurrentThreadExecutor &executor)
{
    return detail::ResumeOnAwaiter(executor.handle());
}

inline detail::ResumeOnAwaiter resumeOn(const ExecutorHandle &handle)
{
    return detail::ResumeOnAwaiter(handle);
}

template<typename T> detail::ResultOfAwaiter<T> resultOf(QFuture<T> future)
{
    return detail::ResultOfAwaiter<T>(std::move(future));
}

} // namespace qdispatch

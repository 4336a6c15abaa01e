// QDispatch: run code on one particular Qt thread and wait for futures there without
// freezing or deadlocking. See README.md for the guided tour and SPEC rule ids (C1..C13).
#pragma once

#include <qdispatch/qdispatch_export.h>

#include <QtCore/QDeadlineTimer>
#include <QtCore/QFuture>
#include <QtCore/QFutureInterface>

#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>

QT_BEGIN_NAMESPACE
class QThread;
QT_END_NAMESPACE

namespace qdispatch {

// How the owner thread waits in runUntilFuture() (C9).
enum class RunMode {
    AllEvents, // a local QEventLoop: timers, paint, input and other executors keep running
    ExcludeUserInput, // the same, but user input is deferred until the wait ends
    ExecutorOnly // nothing but this executor's items; needs no QCoreApplication
};

// The one exception type QDispatch throws. Derived from std::runtime_error so that what()
// carries a sentence that says what went wrong and what to do instead.
class QDISPATCH_EXPORT ExecutorError : public std::runtime_error
{
public:
    enum class Code {
        WrongThread, // runUntilFuture() called on a thread that does not own the executor
        OwnThread, // submit() from the thread that would have to run the item
        Broken, // the executor and every executor down its chain are broken
        NoApplication // an event-loop wait mode, or the main-thread executor, without a QCoreApplication
    };

    ExecutorError(Code code, const std::string &message);
    Code code() const noexcept { return m_code; }

private:
    Code m_code;
};

class CurrentThreadExecutor;

namespace detail {

class ExecutorState;

// One queued piece of work. The public templates below build exactly one of these per call
// (callable, arguments and promise in a single allocation) and hand it to non-template code.
class QDISPATCH_EXPORT WorkItem
{
public:
    WorkItem() = default;
    WorkItem(const WorkItem &) = delete;
    WorkItem &operator=(const WorkItem &) = delete;
    virtual ~WorkItem();

    // Runs the work on the executor's thread. Never throws: a failure goes into the future.
    virtual void run() noexcept = 0;
    // The work will never run (every executor of the chain is broken): finish with `error`.
    virtual void fail(const std::exception_ptr &error) noexcept = 0;

private:
    friend class ExecutorState;
    WorkItem *m_next = nullptr; // intrusive FIFO link, guarded by the owning queue's mutex
};

// Wakes the threads that wait in RunMode::ExecutorOnly so that they look at their future
// again. Called after every future that QDispatch finishes; costs one atomic load when
// nobody waits that way.
QDISPATCH_EXPORT void notifyFutureFinished() noexcept;

template <typename R, typename Fn, typename... Args>
class TaskItem final : public WorkItem
{
public:
    template <typename F, typename... A>
    explicit TaskItem(F &&fn, A &&...args)
        : m_fn(std::forward<F>(fn)), m_args(std::forward<A>(args)...)
    {
        m_promise.reportStarted();
    }

    QFuture<R> future() { return m_promise.future(); }

    void run() noexcept override
    {
        // C6: a future cancelled before the item starts means the callable is never called.
        if (!m_promise.isCanceled()) {
            try {
                if constexpr (std::is_void_v<R>) {
                    std::apply(std::move(m_fn), std::move(m_args));
                } else {
                    m_promise.reportAndMoveResult(std::apply(std::move(m_fn), std::move(m_args)));
                }
            } catch (...) {
                m_promise.reportException(std::current_exception()); // C5: any type
            }
        }
        finish();
    }

    void fail(const std::exception_ptr &error) noexcept override
    {
        m_promise.reportException(error);
        finish();
    }

private:
    void finish() noexcept
    {
        m_promise.reportFinished();
        notifyFutureFinished();
    }

    QFutureInterface<R> m_promise;
    Fn m_fn;
    std::tuple<Args...> m_args;
};

// Fire-and-forget work (X1, X2): no future, so a failure is reported through qCritical.
class QDISPATCH_EXPORT PostItemBase : public WorkItem
{
public:
    void run() noexcept override;
    void fail(const std::exception_ptr &error) noexcept override;

protected:
    virtual void call() = 0;
};

template <typename Fn>
class PostItem final : public PostItemBase
{
public:
    template <typename F>
    explicit PostItem(F &&fn) : m_fn(std::forward<F>(fn))
    {
    }

protected:
    void call() override { std::invoke(std::move(m_fn)); }

private:
    Fn m_fn;
};

template <typename F, typename... Args>
using InvokeResult = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;

// The non-template core behind the templates: route an item along the chain that starts at
// `state` (C11). Throws ExecutorError{OwnThread} (when rejectOwnThread) or {Broken}.
QDISPATCH_EXPORT void routeItem(ExecutorState *state, std::unique_ptr<WorkItem> item,
                                bool rejectOwnThread);
QDISPATCH_EXPORT void routeLatest(ExecutorState *state, const void *key,
                                  std::unique_ptr<WorkItem> item);
QDISPATCH_EXPORT bool isOwnerThread(const ExecutorState *state) noexcept;
QDISPATCH_EXPORT bool isBroken(const ExecutorState *state) noexcept;

template <typename F, typename... Args>
auto submitTo(ExecutorState *state, F &&fn, Args &&...args)
        -> QFuture<InvokeResult<F, Args...>>
{
    using R = InvokeResult<F, Args...>;
    static_assert(!std::is_reference_v<R>,
                  "QDispatch: the callable returns a reference; a QFuture cannot hold one. "
                  "Return the value (or a pointer) instead.");
    using Item = TaskItem<R, std::decay_t<F>, std::decay_t<Args>...>;
    auto item = std::make_unique<Item>(std::forward<F>(fn), std::forward<Args>(args)...);
    QFuture<R> future = item->future();
    routeItem(state, std::move(item), true);
    return future;
}

template <typename F>
std::unique_ptr<WorkItem> makePostItem(F &&fn)
{
    static_assert(std::is_invocable_v<std::decay_t<F>>,
                  "QDispatch: post() and postLatest() take a callable with no arguments.");
    return std::make_unique<PostItem<std::decay_t<F>>>(std::forward<F>(fn));
}

// Blocks until `future` is finished and runs the calling thread's current executor (X4)
// meanwhile (RunMode::ExecutorOnly), so work sent back to this thread still runs (X3). Only for
// a thread with a current executor; invokeOn() checks that first.
QDISPATCH_EXPORT void waitForInvoke(const QFuture<void> &future);

template <typename R>
R takeInvokeResult(QFuture<R> future)
{
    waitForInvoke(QFuture<void>(future));
    if constexpr (std::is_void_v<R>)
        future.waitForFinished(); // rethrows the item's exception
    else
        return future.takeResult(); // rethrows, or moves the (possibly move-only) result out
}

// True when the calling thread has a current executor (X4).
QDISPATCH_EXPORT bool hasCurrentExecutor() noexcept;

// What invoke() hands back to a thread that has no executor to run while it waits: the result
// or the exception, and a one-shot signal. It lives on the waiting thread's stack, so invoke()
// from such a thread needs no QFutureInterface at all; the signal is standard mutex and
// condition variable, the cheapest blocking hand-off there is.
template <typename R>
class InvokeOutcome
{
public:
    template <typename Fn, typename Tuple>
    void run(Fn &fn, Tuple &args) noexcept
    {
        try {
            if constexpr (std::is_void_v<R>) {
                std::apply(std::move(fn), std::move(args));
                m_value.emplace();
            } else {
                m_value.emplace(std::apply(std::move(fn), std::move(args)));
            }
        } catch (...) {
            m_error = std::current_exception(); // C5: any type
        }
        signal();
    }
    void fail(const std::exception_ptr &error) noexcept
    {
        m_error = error;
        signal();
    }
    R wait()
    {
        {
            std::unique_lock<std::mutex> lock(m_mutex);
            m_ready.wait(lock, [this] { return m_done; });
        }
        // The signalling thread may still be inside notify_one(); this object (on our stack)
        // must outlive that. It is a matter of nanoseconds unless that thread was preempted.
        while (!m_released.load(std::memory_order_acquire))
            std::this_thread::yield();
        if (m_error)
            std::rethrow_exception(m_error);
        if constexpr (!std::is_void_v<R>)
            return std::move(*m_value);
    }

private:
    void signal() noexcept
    {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_done = true;
        }
        // Notified after unlocking, so that the woken thread does not run straight into the
        // mutex this one still holds (one context switch per hand-off instead of two; P3).
        m_ready.notify_one();
        m_released.store(true, std::memory_order_release); // the last touch of this object
    }

    struct Nothing
    {
    };
    std::mutex m_mutex;
    std::condition_variable m_ready;
    bool m_done = false;
    std::atomic<bool> m_released{false};
    std::optional<std::conditional_t<std::is_void_v<R>, Nothing, R>> m_value;
    std::exception_ptr m_error;
};

template <typename R, typename Fn, typename... Args>
class InvokeItem final : public WorkItem
{
public:
    template <typename F, typename... A>
    explicit InvokeItem(InvokeOutcome<R> &outcome, F &&fn, A &&...args)
        : m_outcome(outcome), m_fn(std::forward<F>(fn)), m_args(std::forward<A>(args)...)
    {
    }
    void run() noexcept override { m_outcome.run(m_fn, m_args); }
    void fail(const std::exception_ptr &error) noexcept override { m_outcome.fail(error); }

private:
    InvokeOutcome<R> &m_outcome;
    Fn m_fn;
    std::tuple<Args...> m_args;
};

// X3 on any executor state: inline on its owner thread; from a thread with an executor of its
// own, submit and run that executor while waiting; from any other thread, queue and block.
template <typename F, typename... Args>
auto invokeOn(ExecutorState *state, F &&fn, Args &&...args) -> InvokeResult<F, Args...>
{
    using R = InvokeResult<F, Args...>;
    static_assert(!std::is_reference_v<R>,
                  "QDispatch: the callable returns a reference; invoke() returns by value. "
                  "Return the value (or a pointer) instead.");
    if (isOwnerThread(state) && !isBroken(state))
        return std::invoke(std::forward<F>(fn), std::forward<Args>(args)...);
    if (hasCurrentExecutor())
        return takeInvokeResult(submitTo(state, std::forward<F>(fn), std::forward<Args>(args)...));
    InvokeOutcome<R> outcome;
    using Item = InvokeItem<R, std::decay_t<F>, std::decay_t<Args>...>;
    routeItem(state, std::make_unique<Item>(outcome, std::forward<F>(fn), std::forward<Args>(args)...),
              true);
    return outcome.wait();
}

// Library-internal access to an executor's state.
struct StateOf;

} // namespace detail

class ExecutorHandle;

namespace detail {
// Lets the header-only add-ons (<qdispatch/coro.h>) route work items of their own through a handle.
struct HandleAccess;
}

// An executor that runs submitted callables on the thread that constructed it (C1).
//
// Thread rules, in short: submit() from any thread but the owner; runUntilFuture() only on
// the owner; shutdown(), isBroken(), thread() and oldExecutor() from any thread. Every
// callable runs on the owner thread (or, after this executor broke, on the nearest live
// executor of its chain), one at a time, in the order the items were accepted.
class QDISPATCH_EXPORT CurrentThreadExecutor
{
public:
    // Binds the executor to QThread::currentThread(). `oldExecutor` (may live on another
    // thread, may be destroyed first) is where work goes once this executor is broken (C11).
    explicit CurrentThreadExecutor(CurrentThreadExecutor *oldExecutor = nullptr);
    // Call on the owner thread, or on any thread once the owner thread has finished (C13).
    // Queued items move down the chain or fail with ExecutorError{Broken} (C12).
    ~CurrentThreadExecutor();

    CurrentThreadExecutor(const CurrentThreadExecutor &) = delete;
    CurrentThreadExecutor &operator=(const CurrentThreadExecutor &) = delete;
    CurrentThreadExecutor(CurrentThreadExecutor &&) = delete;
    CurrentThreadExecutor &operator=(CurrentThreadExecutor &&) = delete;

    // Queues fn(args...) to run on the owner thread and returns at once (C2, C3). Any thread
    // but the owner may call it; from the owner it throws ExecutorError{OwnThread} (C7). On a
    // broken executor the item goes down the chain, or ExecutorError{Broken} is thrown when no
    // executor of the chain is alive (C11). Callable and arguments are decay-copied or moved;
    // the callable is invoked with rvalues of them. Exceptions of any type land in the future.
    template <typename F, typename... Args>
    auto submit(F &&fn, Args &&...args) -> QFuture<detail::InvokeResult<F, Args...>>
    {
        return detail::submitTo(d.get(), std::forward<F>(fn), std::forward<Args>(args)...);
    }

    // X1: queues fn() with no future. Any thread, the owner too (it is queued, never run
    // inline). Same chain as submit(); throws ExecutorError{Broken} when no executor is alive.
    // An exception escaping fn is reported with qCritical and the executor goes on.
    template <typename F>
    void post(F &&fn)
    {
        detail::routeItem(d.get(), detail::makePostItem(std::forward<F>(fn)), false);
    }

    // X2: like post(), but while an item posted with the same key is still queued here, fn
    // replaces that item's callable in its place (the replaced one is destroyed on the calling
    // thread, never run). For progress and status updates that must not flood the thread.
    template <typename F>
    void postLatest(const void *key, F &&fn)
    {
        detail::routeLatest(d.get(), key, detail::makePostItem(std::forward<F>(fn)));
    }

    // X3: a blocking call that cannot deadlock on its own thread. On the owner thread fn runs
    // inline; elsewhere it is submitted and waited for, and while waiting the calling thread
    // runs the items of its own current() executor, if it has one. Returns fn's result or
    // rethrows its exception.
    template <typename F, typename... Args>
    auto invoke(F &&fn, Args &&...args) -> detail::InvokeResult<F, Args...>
    {
        return detail::invokeOn(d.get(), std::forward<F>(fn), std::forward<Args>(args)...);
    }

    // X4: the newest live executor constructed on the calling thread, or nullptr.
    static CurrentThreadExecutor *current();

    // X7: a copyable reference to this executor that stays safe after it is destroyed.
    ExecutorHandle handle() const;

    // Runs this executor's items on the owner thread until `future` is finished (result,
    // exception or cancelled) and every item accepted before it finished has run (C8). Owner
    // thread only, else ExecutorError{WrongThread}. May be nested. Does not rethrow the
    // future's exception: read the future for that.
    template <typename T>
    void runUntilFuture(const QFuture<T> &future, RunMode mode = RunMode::AllEvents)
    {
        runUntil(QFuture<void>(future), QDeadlineTimer(QDeadlineTimer::Forever), mode);
    }
    // As above, but gives up at `deadline`: returns false when the deadline passed first.
    template <typename T>
    bool runUntilFuture(const QFuture<T> &future, QDeadlineTimer deadline,
                        RunMode mode = RunMode::AllEvents)
    {
        return runUntil(QFuture<void>(future), deadline, mode);
    }

    // Breaks the executor for good (C10): queued items move down the chain or fail with
    // ExecutorError{Broken}; later submits follow the chain. Any thread; idempotent.
    void shutdown();
    // True once shutdown() was called, destruction began or the owner thread finished. Any thread.
    bool isBroken() const;
    // The owner thread (C1). Any thread; valid while the owner thread runs.
    QThread *thread() const;
    // The executor given at construction, or nullptr (also once it was destroyed).
    CurrentThreadExecutor *oldExecutor() const;

private:
    friend struct detail::StateOf;
    bool runUntil(const QFuture<void> &future, QDeadlineTimer deadline, RunMode mode);

    std::shared_ptr<detail::ExecutorState> d;
};

// X7: refers to an executor without owning it. Copy it, keep it, use it from any thread.
// While the executor lives, submit() and post() behave exactly as the executor's own; once it
// is broken or destroyed, work follows the chain the executor had (C11), and submit() throws
// ExecutorError{Broken} when no executor of it is alive. A default-constructed handle refers
// to no executor: it is broken.
class QDISPATCH_EXPORT ExecutorHandle
{
public:
    ExecutorHandle() = default;

    template <typename F, typename... Args>
    auto submit(F &&fn, Args &&...args) const -> QFuture<detail::InvokeResult<F, Args...>>
    {
        return detail::submitTo(d.get(), std::forward<F>(fn), std::forward<Args>(args)...);
    }
    template <typename F>
    void post(F &&fn) const
    {
        detail::routeItem(d.get(), detail::makePostItem(std::forward<F>(fn)), false);
    }
    bool isBroken() const noexcept { return detail::isBroken(d.get()); }

private:
    friend class CurrentThreadExecutor;
    friend struct detail::HandleAccess;
    explicit ExecutorHandle(std::shared_ptr<detail::ExecutorState> state) : d(std::move(state)) { }

    std::shared_ptr<detail::ExecutorState> d;
};

namespace detail {
struct HandleAccess
{
    static ExecutorState *state(const ExecutorHandle &handle) noexcept { return handle.d.get(); }
};
} // namespace detail

// X5: the executor of the QCoreApplication's thread, alive from the application's
// construction to its destruction; nullptr outside that. Any thread may call it.
QDISPATCH_EXPORT CurrentThreadExecutor *mainThreadExecutor();

namespace detail {
// A shared reference to the main-thread executor's state: still safe to use if the application
// is destroyed meanwhile (work then meets a broken executor and ExecutorError{Broken}).
QDISPATCH_EXPORT std::shared_ptr<ExecutorState> requireMainThreadState();
}

// X5: submit() to the main-thread executor. Throws ExecutorError{NoApplication} without a
// QCoreApplication, ExecutorError{OwnThread} on the main thread itself, ExecutorError{Broken}
// when the application is being destroyed.
template <typename F, typename... Args>
auto runOnMainThread(F &&fn, Args &&...args) -> QFuture<detail::InvokeResult<F, Args...>>
{
    const auto state = detail::requireMainThreadState();
    return detail::submitTo(state.get(), std::forward<F>(fn), std::forward<Args>(args)...);
}

// X5: invoke() on the main-thread executor: inline on the main thread, else submit and wait.
// Throws ExecutorError{NoApplication} without a QCoreApplication.
template <typename F, typename... Args>
auto invokeOnMainThread(F &&fn, Args &&...args) -> detail::InvokeResult<F, Args...>
{
    const auto state = detail::requireMainThreadState();
    return detail::invokeOn(state.get(), std::forward<F>(fn), std::forward<Args>(args)...);
}

} // namespace qdispatch

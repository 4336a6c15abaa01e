/// \file
/// QDispatch: run code on one particular Qt thread and get the result back as a QFuture; wait for
/// a QFuture on that thread without freezing it and without deadlocking, because the wait keeps
/// running the work other threads send it.
///
/// This header is the whole API (coroutines are in `<qdispatch/coro.h>`), in the order a user meets
/// it: RunMode and ExecutorError; the calls an executor and its handles share (ExecutorCalls);
/// CurrentThreadExecutor; ExecutorHandle; then the main-thread functions and executorOf(). The
/// diagnostics' value type is in `<qdispatch/executorstats.h>` and the timeline's two functions
/// (X12) in `<qdispatch/trace.h>`, both included here. Each function says
/// which thread may call it, where its callable runs and what happens at shutdown. Rule ids
/// (C1..C13, X1..X12) are defined in docs/contract.md.
/// The template machinery behind submit(), post() and invoke() lives in
/// `<qdispatch/currentthreadexecutor_impl.h>`; nothing in it is meant to be used directly.
#pragma once

#include <qdispatch/currentthreadexecutor_impl.h>
#include <qdispatch/executorstats.h>
#include <qdispatch/qdispatch_export.h>
#include <qdispatch/trace.h>

#include <QtCore/QDeadlineTimer>
#include <QtCore/QFuture>
#include <QtCore/QString>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

QT_BEGIN_NAMESPACE
class QThread;
QT_END_NAMESPACE

/// Everything QDispatch offers: executors that run code on a chosen thread (CurrentThreadExecutor,
/// ExecutorHandle, executorOf(), the main-thread executor) and the coroutine awaitables of
/// `<qdispatch/coro.h>`.
namespace qdispatch {

/// How the owner thread waits in runUntilFuture() (C9).
enum class RunMode {
    AllEvents, ///< a local QEventLoop: timers, paint, input and other executors keep running
    ExcludeUserInput, ///< the same, but user input is deferred until the wait ends
    ExecutorOnly ///< nothing but this executor's items; needs no QCoreApplication
};

/// The one exception type QDispatch throws. Derived from std::runtime_error so that what()
/// carries a sentence that says what went wrong and what to do instead.
class QDISPATCH_EXPORT ExecutorError : public std::runtime_error
{
public:
    /// What went wrong; code() returns it.
    enum class Code {
        WrongThread, ///< runUntilFuture() called on a thread that does not own the executor
        OwnThread, ///< submit() from the thread that would have to run the item
        Broken, ///< the executor and every executor down its chain are broken
        NoApplication ///< an event-loop wait mode, or the main-thread executor, without a
                      ///< QCoreApplication
    };

    /// An error of kind `code`; `message` is what what() returns.
    ExecutorError(Code code, const std::string &message);
    /// What went wrong, to tell the errors apart without parsing what().
    Code code() const noexcept { return m_code; }

private:
    Code m_code;
};

/// The calls that an executor and every handle to it share (X7: a handle behaves exactly as the
/// executor's own): submit(), post(), postLatest(), their context forms (X8) and invoke().
/// Written once; CurrentThreadExecutor and ExecutorHandle below inherit them.
template<typename Target> class ExecutorCalls
{
public:
    /// Queues fn(args...) to run on the owner thread and returns at once (C2, C3). Any thread
    /// but the owner may call it; from the owner it throws ExecutorError{OwnThread} (C7). On a
    /// broken executor the item goes down the chain, or ExecutorError{Broken} is thrown when no
    /// executor of the chain is alive (C11). Callable and arguments are decay-copied or moved;
    /// the callable is invoked with rvalues of them. Exceptions of any type land in the future.
    template<typename F, typename... Args>
    auto submit(F &&fn, Args &&...args) const -> QFuture<detail::InvokeResult<F, Args...>>
    {
        return detail::submitTo(state(), detail::OnOwnThread::Reject, std::forward<F>(fn),
                                std::forward<Args>(args)...);
    }

    /// X1: queues fn() with no future. Any thread, the owner too (it is queued, never run
    /// inline). Same chain as submit(); throws ExecutorError{Broken} when no executor is alive.
    /// An exception escaping fn is reported with qCritical and the executor goes on.
    template<typename F> void post(F &&fn) const
    {
        detail::routeItem(state(), detail::makePostItem(std::forward<F>(fn)),
                          detail::OnOwnThread::Queue);
    }

    /// X2: like post(), but while an item posted with the same key is still queued here, fn
    /// replaces that item's callable in its place (the replaced one is destroyed on the calling
    /// thread, never run). For progress and status updates that must not flood the thread.
    template<typename F> void postLatest(const void *key, F &&fn) const
    {
        detail::routeLatest(state(), key, detail::makePostItem(std::forward<F>(fn)));
    }

    /// X8: the same three for work that belongs to `context` (a widget, a model), as Qt's
    /// QTimer::singleShot(0, context, fn) and QFuture::then(context, fn) take one. When
    /// `context` has been destroyed (or is null) by the time the item would start, the item is
    /// skipped: fn is never called, submit()'s future finishes as cancelled, and a post does
    /// nothing and logs nothing. Threads, order, chain and errors are those of the forms
    /// without a context. The check is made on the thread that runs the item, right before the
    /// call, so it is exact when `context` lives in that thread (the usual case: a widget and
    /// the GUI executor). A context that lives in another thread may still be destroyed there
    /// while fn runs; QPointer cannot prevent that. `context` must be alive when you call; it
    /// is only watched, never owned. A QObject * passed to postLatest(key, fn) stays a key.
    template<typename C, typename F, typename... Args,
             detail::EnableIfContextCall<C, F, Args...> = 0>
    auto submit(C &&context, F &&fn, Args &&...args) const
        -> QFuture<detail::InvokeResult<F, Args...>>
    {
        return detail::submitWithContext(state(), std::forward<C>(context), std::forward<F>(fn),
                                         std::forward<Args>(args)...);
    }
    /// X8: post() for work that belongs to `context`, as submit() above.
    template<typename F> void post(const QObject *context, F &&fn) const
    {
        detail::routeItem(state(),
                          detail::withContext(context, detail::makePostItem(std::forward<F>(fn))),
                          detail::OnOwnThread::Queue);
    }
    /// X8: postLatest() for work that belongs to `context`, as submit() above.
    template<typename F> void postLatest(const QObject *context, const void *key, F &&fn) const
    {
        detail::routeLatest(
            state(), key, detail::withContext(context, detail::makePostItem(std::forward<F>(fn))));
    }

    /// X3: a blocking call that cannot deadlock on its own thread. Where the item would run on the
    /// calling thread (it owns this executor, or this one is broken and its chain leads to a live
    /// executor of the calling thread) fn runs inline; elsewhere it is submitted and waited for.
    /// While waiting, the calling thread runs the items of every executor it has (current(), or
    /// executorOf()'s), also of one made for it during the wait; a thread with none blocks until
    /// executorOf() makes one for it. Returns fn's result or rethrows its exception.
    template<typename F, typename... Args>
    auto invoke(F &&fn, Args &&...args) const -> detail::InvokeResult<F, Args...>
    {
        return detail::invokeOn(state(), std::forward<F>(fn), std::forward<Args>(args)...);
    }

private:
    detail::ExecutorState *state() const noexcept
    {
        return static_cast<const Target *>(this)->d.get();
    }
};

/// An executor that runs submitted callables on the thread that constructed it (C1).
///
/// Thread rules, in short: submit() from any thread but the owner; runUntilFuture() only on
/// the owner; shutdown(), isBroken(), thread() and oldExecutor() from any thread. Every
/// callable runs on the owner thread (or, after this executor broke, on the nearest live
/// executor of its chain), one at a time, in the order the items were accepted.
class QDISPATCH_EXPORT CurrentThreadExecutor : public ExecutorCalls<CurrentThreadExecutor>
{
public:
    /// Binds the executor to QThread::currentThread(). `oldExecutor` (may live on another
    /// thread, may be destroyed first) is where work goes once this executor is broken (C11).
    explicit CurrentThreadExecutor(CurrentThreadExecutor *oldExecutor = nullptr);
    /// Call on the owner thread, or on any thread once the owner thread has finished (C13).
    /// Queued items move down the chain or fail with ExecutorError{Broken} (C12).
    ~CurrentThreadExecutor();

    ///@{
    /// Neither copyable nor movable: items and handles refer to this executor.
    CurrentThreadExecutor(const CurrentThreadExecutor &) = delete;
    CurrentThreadExecutor &operator=(const CurrentThreadExecutor &) = delete;
    CurrentThreadExecutor(CurrentThreadExecutor &&) = delete;
    CurrentThreadExecutor &operator=(CurrentThreadExecutor &&) = delete;
    ///@}

    /// X4: the newest live executor constructed on the calling thread, or nullptr.
    static CurrentThreadExecutor *current();

    /// X7: a copyable reference to this executor that stays safe after it is destroyed.
    ExecutorHandle handle() const;

    /// Runs this executor's items on the owner thread until `future` is finished (result,
    /// exception or cancelled) and every item accepted before it finished has run (C8). Owner
    /// thread only, else ExecutorError{WrongThread}. May be nested. Does not rethrow the
    /// future's exception: read the future for that.
    template<typename T>
    void runUntilFuture(const QFuture<T> &future, RunMode mode = RunMode::AllEvents)
    {
        runUntil(QFuture<void>(future), QDeadlineTimer(QDeadlineTimer::Forever), mode);
    }
    /// As above, but gives up at `deadline`: starts no item after it (C9) and returns false when
    /// it passed first, also when the future had finished but items accepted before that were
    /// still queued (they stay queued).
    template<typename T>
    bool runUntilFuture(const QFuture<T> &future, QDeadlineTimer deadline,
                        RunMode mode = RunMode::AllEvents)
    {
        return runUntil(QFuture<void>(future), deadline, mode);
    }

    /// Breaks the executor for good (C10): queued items move down the chain or fail with
    /// ExecutorError{Broken}; later submits follow the chain. Any thread; idempotent.
    void shutdown();
    /// True once shutdown() was called, destruction began or the owner thread finished. Any thread.
    bool isBroken() const;
    /// The owner thread (C1). Any thread; valid while the owner thread runs.
    QThread *thread() const;
    /// The executor given at construction, or nullptr (also once it was destroyed).
    CurrentThreadExecutor *oldExecutor() const;

    // X10: seeing inside (docs/diagnostics.md).

    /// The items queued here now, not counting one that is running. Any thread.
    quint64 pendingCount() const;
    /// Runs the items queued at the time of the call, then returns: runUntilFuture() on a finished
    /// future, without processing any other event and without needing a QCoreApplication. From
    /// inside an item it runs the items queued before the call and none queued after it. Owner
    /// thread only, else ExecutorError{WrongThread}.
    void runPending();
    /// What this executor has done so far. Any thread.
    ExecutorStats stats() const;
    /// Slow-item reports in the logging category "qdispatch.slow": one warning for an item that
    /// runs longer than `run`, or starts later than `delivery` after it was accepted, naming the
    /// item, the thread that submitted it and both times. Zero switches that one off. Off by
    /// default, or what the environment variable QDISPATCH_SLOW_ITEM_MS=run[,delivery] said when
    /// this executor was constructed. Any thread; applies to items that start (for delivery:
    /// that are accepted) from then on.
    void setSlowItemThresholds(std::chrono::milliseconds run, std::chrono::milliseconds delivery);
    std::chrono::milliseconds slowRunThreshold() const; ///< any thread; zero when off
    std::chrono::milliseconds slowDeliveryThreshold() const; ///< any thread; zero when off
    /// How finely run and delivery times (reports, and stats()' longestRun and longestDelivery)
    /// are measured with the thresholds set now: where every threshold set is at least 25 steps
    /// of the system's coarse monotonic clock (on Linux a tick, 1-4 ms), they are read from it,
    /// which costs a few nanoseconds per item instead of tens; they are then whole steps, each
    /// off by up to about two steps when ticks come late. Else from the precise clock (1 ns).
    /// Any thread.
    std::chrono::nanoseconds slowItemTimeResolution() const;

private:
    friend class ExecutorCalls<CurrentThreadExecutor>;
    friend struct detail::StateOf;
    bool runUntil(const QFuture<void> &future, QDeadlineTimer deadline, RunMode mode);

    std::shared_ptr<detail::ExecutorState> d;
};

QDISPATCH_EXPORT ExecutorHandle executorOf(QThread *thread); // X9, below

/// X7: refers to an executor without owning it. Copy it, keep it, use it from any thread.
/// While the executor lives, submit(), post(), postLatest() and invoke() (and X8's context
/// forms) behave exactly as the executor's own: same threads, same errors; once it is broken or
/// destroyed, work follows the chain the executor had (C11), and submit() throws
/// ExecutorError{Broken} when no executor of it is alive. A default-constructed handle refers
/// to no executor: it is broken. It is also how executorOf() (X9) hands out the executor of a
/// QThread. Two handles compare equal when they refer to the same executor.
class QDISPATCH_EXPORT ExecutorHandle : public ExecutorCalls<ExecutorHandle>
{
public:
    /// A handle that refers to no executor: it is broken.
    ExecutorHandle() = default;

    // submit(), post(), postLatest(), invoke() and their context forms: ExecutorCalls, above.

    /// True once the executor is broken or destroyed, and for a default-constructed handle. Any
    /// thread.
    bool isBroken() const noexcept { return detail::isBroken(d.get()); }
    ///@{
    /// X10 through the handle: the executor's pendingCount() and stats(), from any thread. Of a
    /// broken or destroyed executor, its books as it left them (nothing is pending: its queue
    /// moved down the chain); of a default-constructed handle, 0 and an all-zero ExecutorStats.
    quint64 pendingCount() const;
    ExecutorStats stats() const;
    ///@}

    ///@{
    /// Equal when both refer to the same executor (or both to none).
    friend bool operator==(const ExecutorHandle &a, const ExecutorHandle &b) noexcept
    {
        return a.d == b.d;
    }
    friend bool operator!=(const ExecutorHandle &a, const ExecutorHandle &b) noexcept
    {
        return a.d != b.d;
    }
    ///@}

private:
    friend class ExecutorCalls<ExecutorHandle>;
    friend class CurrentThreadExecutor;
    friend struct detail::HandleAccess;
    friend ExecutorHandle executorOf(QThread *thread);
    explicit ExecutorHandle(std::shared_ptr<detail::ExecutorState> state) : d(std::move(state)) { }

    std::shared_ptr<detail::ExecutorState> d;
};

/// X10: hang reports in the logging category "qdispatch.hang". A wait (runUntilFuture(), invoke())
/// that has lasted longer than `threshold` logs once which thread waits, on what, for how long
/// and how many items are pending on the executor it waits for. Process-wide; zero switches it
/// off. Off by default, or what the environment variable QDISPATCH_HANG_MS said when it was first
/// needed. Any thread; applies to waits that begin afterwards.
QDISPATCH_EXPORT void setHangThreshold(std::chrono::milliseconds threshold);
QDISPATCH_EXPORT std::chrono::milliseconds hangThreshold(); ///< any thread; zero when off

/// X11: a description of every thread now waiting in runUntilFuture() or invoke(), one paragraph
/// each: the thread (named as hang reports name it), the kind of wait and its mode, for how long,
/// and what it waits for. Where that is a QDispatch item (submit(), invoke(), the context forms,
/// a handle's), the chain is followed link by link: the executor and thread where the item is
/// queued or running, what that thread does now (runs which item, for how long; waits itself,
/// and on what; or something QDispatch cannot see), and so on. A chain that comes back to a
/// thread already in it is called a deadlock, with its cycle, when none of its waits will serve
/// the item the next one needs. "QDispatch: no thread is waiting ..." when none is. Any thread;
/// it briefly holds every waiting thread at the start or end of a wait, never in the middle of
/// one. Items that an owner thread has taken off its queue and not yet started cannot be looked
/// into safely: a wait for one of them is said to be unresolved, never a deadlock.
/// docs/diagnostics.md shows the output.
QDISPATCH_EXPORT QString describeWaits();

/// X5: the executor of the QCoreApplication's thread, alive from the application's
/// construction to its destruction; nullptr outside that. Any thread may call it.
QDISPATCH_EXPORT CurrentThreadExecutor *mainThreadExecutor();

/// X5: submit() to the main-thread executor. Throws ExecutorError{NoApplication} without a
/// QCoreApplication, ExecutorError{OwnThread} on the main thread itself, ExecutorError{Broken}
/// when the application is being destroyed.
template<typename F, typename... Args>
auto runOnMainThread(F &&fn, Args &&...args) -> QFuture<detail::InvokeResult<F, Args...>>
{
    const auto state = detail::requireMainThreadState();
    return detail::submitTo(state.get(), detail::OnOwnThread::Reject, std::forward<F>(fn),
                            std::forward<Args>(args)...);
}

/// X5: invoke() on the main-thread executor: inline on the main thread, else submit and wait.
/// Throws ExecutorError{NoApplication} without a QCoreApplication.
template<typename F, typename... Args>
auto invokeOnMainThread(F &&fn, Args &&...args) -> detail::InvokeResult<F, Args...>
{
    const auto state = detail::requireMainThreadState();
    return detail::invokeOn(state.get(), std::forward<F>(fn), std::forward<Args>(args)...);
}

/// X9: the executor of `thread`, made on first use without running any code of yours there;
/// later calls, from any thread, return a handle to the same one for as long as the thread lives
/// (handles compare equal). Its items run on `thread` whenever that thread runs its event loop:
/// QThread::exec(), the default QThread::run(), a QEventLoop, processEvents(). A thread that has
/// not started yet keeps them queued until it does. A thread whose run() never processes events
/// cannot serve items: they stay queued until the thread finishes, then fail.
/// It breaks when the thread finishes (C10): its queued items fail with ExecutorError{Broken},
/// posts with a warning, and no future is left unfinished (C12); the executor has no chain, so
/// later work through its handles throws ExecutorError{Broken}. A restarted QThread gets a new
/// executor. executorOf(qApp->thread()) is the main-thread executor (X5).
/// Any thread may call it. Throws ExecutorError{Broken} for nullptr or a thread that has
/// finished (or is finishing), and ExecutorError{NoApplication} without a QCoreApplication (Qt
/// delivers no events to an event loop without one).
QDISPATCH_EXPORT ExecutorHandle executorOf(QThread *thread);

// Not API: how <qdispatch/coro.h> reaches a handle's executor.
namespace detail {
struct HandleAccess
{
    static ExecutorState *state(const ExecutorHandle &handle) noexcept { return handle.d.get(); }
};
} // namespace detail

} // namespace qdispatch

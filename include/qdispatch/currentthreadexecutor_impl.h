// QDispatch's template machinery: the work items that submit(), post() and invoke() build, and
// the few exported functions they hand them to. This file is not part of the QDispatch API; it is
// included by <qdispatch/currentthreadexecutor.h>, which is the header to read and include. Its
// contents may change from version to version without notice.
#pragma once

#include <qdispatch/qdispatch_export.h>

#include <QtCore/QFuture>
#include <QtCore/QFutureInterface>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

// X10's counting and timing. The library is built with it unless CMake's QDISPATCH_DIAGNOSTICS
// is OFF, which defines QDISPATCH_DIAGNOSTICS=0 for the library and its users alike (the work
// items below are smaller without it).
#ifndef QDISPATCH_DIAGNOSTICS
#define QDISPATCH_DIAGNOSTICS 1
#endif

QT_BEGIN_NAMESPACE
class QObject;
QT_END_NAMESPACE

namespace qdispatch {

class CurrentThreadExecutor;
class ExecutorHandle;

namespace detail {

class ExecutorState;

// X10: what names an item in a slow-item report, captured for nothing: two pointers to constants
// of the callable's type, turned into text only when a report is written. `type` is its
// std::type_info (GCC's demangled name numbers the lambdas of a function), `signature` the
// compiler's description of nameOf<Fn>() (Clang's gives a lambda's file and line).
struct CallableName
{
    const std::type_info *type = nullptr;
    const char *signature = nullptr;
};

// X11: what describeWaits() shows of an item: its callable's name, and what identifies the wait
// the item ends: the address of its future's mutex (the same for every QFuture copy of it), or of
// an invoke()'s signal; nullptr for an item nobody can wait for (a post).
struct ItemIdentity
{
    CallableName name;
    const void *awaitKey = nullptr;
    // The same for every item of its class (a post of one callable type): the owner thread then
    // publishes it once for a run of such items, not item by item (P7).
    bool sameForItsClass = false;
};

template<typename Fn> CallableName nameOf() noexcept
{
#if defined(__cpp_rtti) || defined(__GXX_RTTI) || defined(_CPPRTTI)
    return { &typeid(Fn), Q_FUNC_INFO };
#else
    return { nullptr, Q_FUNC_INFO };
#endif
}

// The owner thread's side of an executor's claim on an item: open from the moment the owner takes
// an item off the queue until the item either calls its callable or skips it. Other threads wait
// for it to close: stats() so that an item is never seen half-way between pending and started
// (X10), and a thread that breaks the executor so that no item it hands down the chain can start
// before the one the owner has taken (C4). `version` is odd while a claim is open; `skipped`
// counts the items that were skipped instead of called (C6, X8). Written by the owner thread only.
struct ClaimWindow
{
    std::atomic<std::uint64_t> version { 0 };
    std::atomic<std::uint64_t> skipped { 0 };

    bool isOpen() const noexcept { return version.load(std::memory_order_acquire) & 1; }
    void open() noexcept
    {
        version.store(version.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    // Release: a thread that sees the version even again also sees the count.
    void close(bool skip) noexcept
    {
        if (skip)
            skipped.store(skipped.load(std::memory_order_relaxed) + 1, std::memory_order_release);
        version.store(version.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    }
};

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
    // Calls begin() exactly once, right before the callable is called or instead of calling it.
    virtual void run() noexcept = 0;
    // The work will never run (every executor of the chain is broken): finish with `error`.
    virtual void fail(const std::exception_ptr &error) noexcept = 0;
    // X10: the callable's name for reports; asked only when one is written.
    virtual CallableName callableName() const noexcept { return {}; }
    // X11: its name and the wait it ends, for describeWaits(). One call for both: the owner thread
    // asks it of every item it runs (P7).
    virtual ItemIdentity identity() const noexcept { return { callableName(), nullptr }; }

protected:
    // The item starts (`skip` false: its callable is called next) or is skipped (C6, X8): this
    // closes the owner's claim on it, when it was taken off a queue.
    void begin(bool skip) noexcept
    {
        if (ClaimWindow *window = std::exchange(m_window, nullptr))
            window->close(skip);
    }
    // A wrapper that runs `inner` in its place hands its claim on.
    void passClaimTo(WorkItem &inner) noexcept
    {
        inner.m_window = std::exchange(m_window, nullptr);
    }

private:
    friend class ItemQueue;
    friend class ExecutorBooks;
    friend class ItemBooks;
    // One pointer, two uses in turn. Whoever runs or fails an item that the owner thread did
    // not take off a queue clears it first: begin() closes whatever it holds.
    union {
        WorkItem *m_next = nullptr; // while queued: the inbox's link (src/itemqueue.cpp)
        ClaimWindow *m_window; // once the owner thread took it: its open claim, until begin()
    };
#if QDISPATCH_DIAGNOSTICS
    // X10, written only while the executor that accepts the item has a slow-item threshold set;
    // 16 bytes in all, since every item carries them (P6, P7).
    std::int64_t m_acceptedAt = 0; // monotonic clock, ns; 0: not stamped
    std::uint64_t m_submitter = 0; // the thread that queued it (its serial in the library); 0: none
#elif defined(QDISPATCH_KEEP_ITEM_SIZE)
    // Only in the benchmark's P7 baseline (bench/CMakeLists.txt): the items keep the size they
    // have with diagnostics, so that P7 measures the diagnostics' work and not how the allocator
    // treats a smaller item.
    unsigned char m_sameSizeAsDiagnostics[16];
#endif
};

// Wakes the threads that wait in RunMode::ExecutorOnly so that they look at their future
// again. Called after every future that QDispatch finishes; costs one atomic load when
// nobody waits that way.
QDISPATCH_EXPORT void notifyFutureFinished() noexcept;

template<typename R, typename Fn, typename... Args> class TaskItem final : public WorkItem
{
public:
    template<typename F, typename... A>
    explicit TaskItem(F &&fn, A &&...args)
        : m_fn(std::forward<F>(fn)), m_args(std::forward<A>(args)...)
    {
        m_promise.reportStarted();
    }

    QFuture<R> future() { return m_promise.future(); }

    void run() noexcept override
    {
        // C6: a future cancelled before the item starts means the callable is never called.
        const bool skip = m_promise.isCanceled();
        begin(skip);
        if (!skip) {
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

    CallableName callableName() const noexcept override { return nameOf<Fn>(); }
    ItemIdentity identity() const noexcept override { return { nameOf<Fn>(), &m_promise.mutex() }; }

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

template<typename Fn> class PostItem final : public PostItemBase
{
public:
    template<typename F> explicit PostItem(F &&fn) : m_fn(std::forward<F>(fn)) { }

    CallableName callableName() const noexcept override { return nameOf<Fn>(); }
    ItemIdentity identity() const noexcept override { return { nameOf<Fn>(), nullptr, true }; }

protected:
    void call() override { std::invoke(std::move(m_fn)); }

private:
    Fn m_fn;
};

template<typename F, typename... Args>
using InvokeResult = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;

// What routing does when the nearest live executor of the chain belongs to the calling thread.
enum class OnOwnThread {
    Reject, // throw ExecutorError{OwnThread}: submit(), whose caller might wait (C7)
    Queue, // queue it there all the same: post(), which nobody waits for (X1)
    RunInline // run it right here: invoke(), which would otherwise wait for itself (X3)
};

// The non-template core behind the templates: route an item along the chain that starts at
// `state` (C11). Throws ExecutorError{OwnThread} (OnOwnThread::Reject) or {Broken}.
QDISPATCH_EXPORT void routeItem(ExecutorState *state, std::unique_ptr<WorkItem> item,
                                OnOwnThread onOwnThread);
QDISPATCH_EXPORT void routeLatest(ExecutorState *state, const void *key,
                                  std::unique_ptr<WorkItem> item);
QDISPATCH_EXPORT bool isOwnerThread(const ExecutorState *state) noexcept;
QDISPATCH_EXPORT bool isBroken(const ExecutorState *state) noexcept;

// The one work item for fn(args...) and the future it will finish (C2).
template<typename F, typename... Args>
std::pair<std::unique_ptr<WorkItem>, QFuture<InvokeResult<F, Args...>>> makeTask(F &&fn,
                                                                                 Args &&...args)
{
    using R = InvokeResult<F, Args...>;
    static_assert(!std::is_reference_v<R>,
                  "QDispatch: the callable returns a reference; a QFuture cannot hold one. "
                  "Return the value (or a pointer) instead.");
    using Item = TaskItem<R, std::decay_t<F>, std::decay_t<Args>...>;
    auto item = std::make_unique<Item>(std::forward<F>(fn), std::forward<Args>(args)...);
    QFuture<R> future = item->future();
    return { std::move(item), std::move(future) };
}

template<typename F, typename... Args>
auto submitTo(ExecutorState *state, OnOwnThread onOwnThread, F &&fn, Args &&...args)
    -> QFuture<InvokeResult<F, Args...>>
{
    auto task = makeTask(std::forward<F>(fn), std::forward<Args>(args)...);
    routeItem(state, std::move(task.first), onOwnThread);
    return task.second;
}

template<typename F> std::unique_ptr<WorkItem> makePostItem(F &&fn)
{
    static_assert(std::is_invocable_v<std::decay_t<F>>,
                  "QDispatch: post() and postLatest() take a callable with no arguments.");
    return std::make_unique<PostItem<std::decay_t<F>>>(std::forward<F>(fn));
}

// X8: wraps `item` so that it is skipped when `context` is gone (or null) by the time it would
// start: checked on the thread that runs it, right before the call. The first form is for
// posts (a skipped post does nothing, silently); the second for items with a future, which is
// cancelled and finished without calling the callable, exactly as C6 does. The context must be
// alive when this is called (the caller's promise, as with Qt's own context arguments).
QDISPATCH_EXPORT std::unique_ptr<WorkItem> withContext(const QObject *context,
                                                       std::unique_ptr<WorkItem> item);
QDISPATCH_EXPORT std::unique_ptr<WorkItem> withContext(const QObject *context,
                                                       std::unique_ptr<WorkItem> item,
                                                       const QFuture<void> &future);

// X8: which submit() a call means. submit(context, fn, args...) when the first argument
// converts to const QObject * and the rest is a call; a pointer is never callable, so the plain
// submit(fn, args...) (whose result type is that of a call) never matches such a call too.
template<typename C, typename F, typename... Args>
inline constexpr bool IsContextCall =
    std::is_convertible_v<C, const QObject *>
        &&std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...> &&
    !std::is_invocable_v<std::decay_t<C>, std::decay_t<F>, std::decay_t<Args>...>;
template<typename C, typename F, typename... Args>
using EnableIfContextCall = std::enable_if_t<IsContextCall<C, F, Args...>, int>;

template<typename F, typename... Args>
auto submitWithContext(ExecutorState *state, const QObject *context, F &&fn, Args &&...args)
    -> QFuture<InvokeResult<F, Args...>>
{
    auto task = makeTask(std::forward<F>(fn), std::forward<Args>(args)...);
    routeItem(state, withContext(context, std::move(task.first), QFuture<void>(task.second)),
              OnOwnThread::Reject);
    return task.second;
}

// Blocks until `future` is finished and runs the calling thread's current executor (X4)
// meanwhile (RunMode::ExecutorOnly), so work sent back to this thread still runs (X3). Only for
// a thread with a current executor; invokeOn() checks that first. `target` is the executor the
// item was sent to, for a hang report (X10), kept alive by the caller; nullptr: no report.
QDISPATCH_EXPORT void waitForInvoke(const QFuture<void> &future, const ExecutorState *target);

// X10: a strong reference to `state` for the hang report of an invoke(), so that the report can
// name it even if its executor is destroyed meanwhile (and X12's trace of the wait); none when no
// hang threshold is set and no trace is recorded.
QDISPATCH_EXPORT std::shared_ptr<ExecutorState> hangReportTarget(ExecutorState *state);

template<typename R> R takeInvokeResult(const ExecutorState *target, QFuture<R> future)
{
    waitForInvoke(QFuture<void>(future), target);
    if constexpr (std::is_void_v<R>)
        future.waitForFinished(); // rethrows the item's exception
    else
        return future.takeResult(); // rethrows, or moves the (possibly move-only) result out
}

// True when the calling thread has a current executor (X4).
QDISPATCH_EXPORT bool hasCurrentExecutor() noexcept;

// The one-shot signal of an invoke() from a thread that has no executor to run while it waits:
// the item's thread signals, the invoking thread waits. The wait is the library's: it blocks,
// and should executorOf() make an executor for the waiting thread meanwhile, it serves that
// executor until the signal comes (X3). Lives on the waiting thread's stack.
class QDISPATCH_EXPORT InvokeSignal
{
public:
    InvokeSignal() noexcept;
    ~InvokeSignal();
    InvokeSignal(const InvokeSignal &) = delete;
    InvokeSignal &operator=(const InvokeSignal &) = delete;

    // Any thread, once: the item has run or failed.
    void signal() noexcept;
    // The invoking thread: returns once signal() was called and has finished with this object.
    // `target`: the executor the item was sent to, for a hang report (X10; nullptr: none).
    void wait(const ExecutorState *target) noexcept;

private:
    // A mutex, a condition variable and a few flags, built in place (the .cpp checks the size).
    alignas(std::max_align_t) unsigned char m_storage[160];
};

// What invoke() hands back to a thread that has no executor to run while it waits: the result
// or the exception, and the signal. It lives on the waiting thread's stack, so invoke() from
// such a thread needs no QFutureInterface at all.
template<typename R> class InvokeOutcome
{
public:
    template<typename Fn, typename Tuple> void run(Fn &fn, Tuple &args) noexcept
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
        m_signal.signal();
    }
    void fail(const std::exception_ptr &error) noexcept
    {
        m_error = error;
        m_signal.signal();
    }
    // X11: what describeWaits() matches this invoke()'s wait and its item by.
    const void *signalKey() const noexcept { return &m_signal; }
    R wait(const ExecutorState *target)
    {
        m_signal.wait(target);
        if (m_error)
            std::rethrow_exception(m_error);
        if constexpr (!std::is_void_v<R>)
            return std::move(*m_value);
    }

private:
    struct Nothing
    { };
    InvokeSignal m_signal;
    std::optional<std::conditional_t<std::is_void_v<R>, Nothing, R>> m_value;
    std::exception_ptr m_error;
};

template<typename R, typename Fn, typename... Args> class InvokeItem final : public WorkItem
{
public:
    template<typename F, typename... A>
    explicit InvokeItem(InvokeOutcome<R> &outcome, F &&fn, A &&...args)
        : m_outcome(outcome), m_fn(std::forward<F>(fn)), m_args(std::forward<A>(args)...)
    { }
    void run() noexcept override
    {
        begin(false);
        m_outcome.run(m_fn, m_args);
    }
    void fail(const std::exception_ptr &error) noexcept override { m_outcome.fail(error); }
    CallableName callableName() const noexcept override { return nameOf<Fn>(); }
    ItemIdentity identity() const noexcept override
    {
        return { nameOf<Fn>(), m_outcome.signalKey() };
    }

private:
    InvokeOutcome<R> &m_outcome;
    Fn m_fn;
    std::tuple<Args...> m_args;
};

// X3 on any executor state: inline on its owner thread; from a thread with an executor of its
// own, submit and run that executor while waiting; from any other thread, queue and block.
template<typename F, typename... Args>
auto invokeOn(ExecutorState *state, F &&fn, Args &&...args) -> InvokeResult<F, Args...>
{
    using R = InvokeResult<F, Args...>;
    static_assert(!std::is_reference_v<R>,
                  "QDispatch: the callable returns a reference; invoke() returns by value. "
                  "Return the value (or a pointer) instead.");
    if (isOwnerThread(state) && !isBroken(state))
        return std::invoke(std::forward<F>(fn), std::forward<Args>(args)...);
    const std::shared_ptr<ExecutorState> watched = hangReportTarget(state); // X10; null when off
    if (hasCurrentExecutor())
        return takeInvokeResult(watched.get(),
                                submitTo(state, OnOwnThread::RunInline, std::forward<F>(fn),
                                         std::forward<Args>(args)...));
    InvokeOutcome<R> outcome;
    using Item = InvokeItem<R, std::decay_t<F>, std::decay_t<Args>...>;
    routeItem(state,
              std::make_unique<Item>(outcome, std::forward<F>(fn), std::forward<Args>(args)...),
              OnOwnThread::RunInline);
    return outcome.wait(watched.get());
}

// A shared reference to the main-thread executor's state: still safe to use if the application
// is destroyed meanwhile (work then meets a broken executor and ExecutorError{Broken}). Throws
// ExecutorError{NoApplication} when there is no application.
QDISPATCH_EXPORT std::shared_ptr<ExecutorState> requireMainThreadState();

// Calls onFinished once `future` is finished, on a thread of QDispatch's own, without taking
// the future's continuation slot (used by <qdispatch/coro.h>). Returns false, and will never call
// it, when it cannot: there is no QCoreApplication.
QDISPATCH_EXPORT bool watchFuture(const QFuture<void> &future, std::function<void()> onFinished);

// Library-internal access to an executor's state.
struct StateOf;
// Lets the header-only add-ons (<qdispatch/coro.h>) route work items of their own through a
// handle; defined after ExecutorHandle in <qdispatch/currentthreadexecutor.h>.
struct HandleAccess;

} // namespace detail
} // namespace qdispatch

// How the owner thread waits (C8, C9): runUntilFuture() in a local QEventLoop (AllEvents,
// ExcludeUserInput) or running nothing but the executor's items (ExecutorOnly), and the wait of
// invoke() on a thread with an executor of its own (X3). Built on the queue (queue.cpp).
#include "errors_p.h"
#include "executorstate_p.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QEventLoop>
#include <QtCore/QFutureWatcher>
#include <QtCore/QThread>
#include <QtCore/QTimer>

#include <algorithm>
#include <chrono>
#include <vector>

namespace qdispatch {
namespace detail {

namespace {

// An ExecutorOnly wait on a future that QDispatch did not make cannot be woken when that future
// finishes (Qt 6.4 offers no public, non-destructive completion hook that works without an event
// loop: QFuture::then() replaces an existing continuation). It looks again after these delays.
constexpr auto kFirstRecheck = std::chrono::microseconds(50);
constexpr auto kLongestRecheck = std::chrono::milliseconds(2);

// The events a wait mode lets the thread process; none for ExecutorOnly.
std::optional<QEventLoop::ProcessEventsFlags> eventFlags(RunMode mode)
{
    switch (mode) {
    case RunMode::AllEvents:
        return QEventLoop::AllEvents;
    case RunMode::ExcludeUserInput:
        return QEventLoop::ExcludeUserInputEvents;
    case RunMode::ExecutorOnly:
        break;
    }
    return std::nullopt;
}

// The threads that sleep in an ExecutorOnly wait. notifyFutureFinished() pokes all of them:
// there are rarely more than a few, and each one re-checks its own future.
struct ExclusiveWaiters
{
    std::atomic<int> count{0};
    std::mutex mutex;
    std::vector<ExecutorState *> states;
};

ExclusiveWaiters &exclusiveWaiters()
{
    static ExclusiveWaiters waiters;
    return waiters;
}

class ExclusiveWaitScope
{
public:
    explicit ExclusiveWaitScope(ExecutorState *state) : m_state(state)
    {
        auto &w = exclusiveWaiters();
        {
            std::lock_guard locker(w.mutex);
            w.states.push_back(state);
        }
        // A read-modify-write on both sides of this store-buffering pattern (here, and the
        // fetch_add(0) in notifyFutureFinished()): either that thread sees our count, or we see
        // its finished future. Not fences, which ThreadSanitizer cannot follow. Were a poke ever
        // missed, the wait's re-check back-off would still notice the future within 2 ms.
        w.count.fetch_add(1, std::memory_order_seq_cst);
    }
    ~ExclusiveWaitScope()
    {
        auto &w = exclusiveWaiters();
        w.count.fetch_sub(1, std::memory_order_seq_cst);
        std::lock_guard locker(w.mutex);
        w.states.erase(std::find(w.states.begin(), w.states.end(), m_state));
    }
    ExclusiveWaitScope(const ExclusiveWaitScope &) = delete;
    ExclusiveWaitScope &operator=(const ExclusiveWaitScope &) = delete;

private:
    ExecutorState *m_state;
};

// Runs nothing but this executor's items until `future` is finished or `deadline` passed.
bool waitExclusive(ExecutorState &state, const QFuture<void> &future, QDeadlineTimer deadline)
{
    ExclusiveWaitScope scope(&state);
    state.enterExclusiveWait();
    struct Leave
    {
        ExecutorState &state;
        ~Leave() { state.leaveExclusiveWait(); }
    } leave{state};

    auto recheck = std::chrono::duration_cast<std::chrono::nanoseconds>(kFirstRecheck);
    for (;;) {
        ++state.drainDepth;
        while (!future.isFinished()) {
            WorkItem *item = state.takeNext();
            if (!item)
                break;
            ExecutorState::runItem(item);
        }
        --state.drainDepth;
        if (future.isFinished())
            return true;
        if (deadline.hasExpired())
            return false;

        auto nap = recheck;
        if (!deadline.isForever())
            nap = std::min(nap, std::chrono::nanoseconds(deadline.remainingTimeNSecs()));
        const bool woken = state.sleepUntilWork(nap);
        recheck = woken ? std::chrono::duration_cast<std::chrono::nanoseconds>(kFirstRecheck)
                        : std::min<std::chrono::nanoseconds>(recheck * 2, kLongestRecheck);
    }
}

bool waitInEventLoop(ExecutorState &state, const QFuture<void> &future, QDeadlineTimer deadline,
                     RunMode mode)
{
    QEventLoop loop;
    QFutureWatcher<void> watcher;
    QObject::connect(&watcher, &QFutureWatcherBase::finished, &loop, &QEventLoop::quit);
    QTimer timer;
    timer.setSingleShot(true);
    timer.setTimerType(Qt::PreciseTimer);
    QObject::connect(&timer, &QTimer::timeout, &loop, &QEventLoop::quit);
    watcher.setFuture(future);

    // When this wait is nested in one of our own items, the outer drain is paused; make sure
    // the items it had not reached yet get a wake-up that this loop will deliver.
    state.kick();

    const QEventLoop::ProcessEventsFlags flags = *eventFlags(mode);
    while (!future.isFinished()) {
        if (deadline.hasExpired())
            return false;
        if (!deadline.isForever())
            timer.start(std::max<qint64>(0, deadline.remainingTime()));
        loop.exec(flags);
    }
    return true;
}

} // namespace

void waitForInvoke(const QFuture<void> &future)
{
    CurrentThreadExecutor *const executor = CurrentThreadExecutor::current();
    Q_ASSERT(executor);
    executor->runUntilFuture(future, RunMode::ExecutorOnly);
}

void notifyFutureFinished() noexcept
{
    auto &w = exclusiveWaiters();
    if (w.count.fetch_add(0, std::memory_order_seq_cst) == 0)
        return;
    std::lock_guard locker(w.mutex);
    for (ExecutorState *state : w.states)
        state->poke();
}

} // namespace detail

using detail::ExecutorState;

bool CurrentThreadExecutor::runUntil(const QFuture<void> &future, QDeadlineTimer deadline,
                                     RunMode mode)
{
    if (QThread::currentThreadId() != d->threadId || d->ownerFinished())
        detail::throwError(ExecutorError::Code::WrongThread);
    if (mode != RunMode::ExecutorOnly && !QCoreApplication::instance())
        detail::throwError(ExecutorError::Code::NoApplication);

    // Keep the state alive even if an item destroys this executor while we wait.
    const std::shared_ptr<ExecutorState> state = d;
    if (!future.isFinished()) {
        const bool finished = mode == RunMode::ExecutorOnly
                ? detail::waitExclusive(*state, future, deadline)
                : detail::waitInEventLoop(*state, future, deadline, mode);
        if (!finished)
            return false;
    }
    state->drainAcceptedSoFar(detail::eventFlags(mode));
    return true;
}

} // namespace qdispatch

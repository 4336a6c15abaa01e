#include "currentthreadexecutor_p.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QEvent>
#include <QtCore/QEventLoop>
#include <QtCore/QFutureWatcher>
#include <QtCore/QLoggingCategory>
#include <QtCore/QThread>
#include <QtCore/QTimer>

#include <algorithm>
#include <chrono>
#include <vector>

namespace qdispatch {

Q_LOGGING_CATEGORY(lcExecutor, "qdispatch.executor")

ExecutorError::ExecutorError(Code code, const std::string &message)
    : std::runtime_error(message), m_code(code)
{
}

namespace detail {

namespace {

using Clock = std::chrono::steady_clock;

// How long one wake-up event may run items before it yields to the event loop, so that a
// flood of submissions cannot starve paint events and timers (see docs/ for the numbers).
constexpr auto kTimeSlice = std::chrono::milliseconds(4);

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

QEvent::Type wakeEventType()
{
    static const auto type = static_cast<QEvent::Type>(QEvent::registerEventType());
    return type;
}

[[noreturn]] void throwError(ExecutorError::Code code)
{
    switch (code) {
    case ExecutorError::Code::OwnThread:
        throw ExecutorError(code,
                            "QDispatch: submit() was called on the thread that would have to run "
                            "the item; waiting for it there would deadlock. Call the function "
                            "directly instead (nothing was queued).");
    case ExecutorError::Code::Broken:
        throw ExecutorError(code,
                            "QDispatch: the executor is broken (shut down, being destroyed, or its "
                            "thread has finished) and no executor down its chain is alive; nothing "
                            "was queued.");
    case ExecutorError::Code::WrongThread:
        throw ExecutorError(code,
                            "QDispatch: runUntilFuture() must be called on the executor's own "
                            "thread (see thread()); it was called from another thread and did "
                            "nothing.");
    case ExecutorError::Code::NoApplication:
        throw ExecutorError(code,
                            "QDispatch: there is no QCoreApplication. RunMode::AllEvents and "
                            "RunMode::ExcludeUserInput run a QEventLoop, and the main-thread "
                            "executor lives as long as the application: create one first (or wait "
                            "with RunMode::ExecutorOnly).");
    }
    Q_UNREACHABLE();
}

std::exception_ptr brokenError()
{
    try {
        throwError(ExecutorError::Code::Broken);
    } catch (...) {
        return std::current_exception();
    }
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

// Every executor constructed on a thread, oldest first. When the thread ends, its executors
// break (newest first, so that items hand down the chain in one pass) and nothing waits forever.
struct ThreadRecord
{
    std::vector<std::shared_ptr<ExecutorState>> executors;
    ~ThreadRecord();
};

thread_local bool t_recordDestroyed = false; // trivially destructible: readable at thread exit
thread_local ThreadRecord t_record;

ThreadRecord::~ThreadRecord()
{
    t_recordDestroyed = true;
    for (auto it = executors.rbegin(); it != executors.rend(); ++it) {
        (*it)->markOwnerFinished();
        delete (*it)->takeParkedReceiver(); // on its own thread, which is about to end
    }
}

// nullptr once the calling thread is past its thread-local teardown (an executor destroyed
// by a static destructor after main() returned, say).
ThreadRecord *threadRecord()
{
    return t_recordDestroyed ? nullptr : &t_record;
}

} // namespace

WorkItem::~WorkItem() = default;

void PostItemBase::run() noexcept
{
    try {
        call();
    } catch (const std::exception &error) {
        qCCritical(lcExecutor, "QDispatch: an item passed to post() threw: %s", error.what());
    } catch (...) {
        qCCritical(lcExecutor,
                   "QDispatch: an item passed to post() threw an exception that is not a "
                   "std::exception");
    }
}

void PostItemBase::fail(const std::exception_ptr &error) noexcept
{
    // There is no future to carry the error, so say it: a posted item is never dropped silently.
    try {
        std::rethrow_exception(error);
    } catch (const std::exception &e) {
        qCWarning(lcExecutor, "QDispatch: a posted item will never run: %s", e.what());
    } catch (...) {
        qCWarning(lcExecutor, "QDispatch: a posted item will never run");
    }
}

void routeItem(ExecutorState *state, std::unique_ptr<WorkItem> item, bool rejectOwnThread)
{
    if (!state)
        throwError(ExecutorError::Code::Broken);
    state->route(std::move(item), rejectOwnThread);
}

void routeLatest(ExecutorState *state, const void *key, std::unique_ptr<WorkItem> item)
{
    for (; state; state = state->old.get()) {
        auto fresh = std::make_unique<LatestItem>(state->shared_from_this(), key);
        if (state->pushLatest(key, item, fresh.get())) {
            if (!item) // queued as a new item; otherwise `item` holds the replaced callable
                fresh.release();
            return;
        }
    }
    throwError(ExecutorError::Code::Broken);
}

bool isOwnerThread(const ExecutorState *state) noexcept
{
    return state && QThread::currentThreadId() == state->threadId;
}

bool isBroken(const ExecutorState *state) noexcept
{
    return !state || state->broken.load(std::memory_order_acquire);
}

bool hasCurrentExecutor() noexcept
{
    return CurrentThreadExecutor::current() != nullptr;
}

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

Receiver::Receiver(std::shared_ptr<ExecutorState> state) : m_state(std::move(state)) { }

bool Receiver::event(QEvent *event)
{
    if (event->type() != wakeEventType())
        return QObject::event(event);
    // A local reference: an item may destroy the executor while this drain runs.
    const std::shared_ptr<ExecutorState> state = m_state;
    state->drainTimeSliced();
    return true;
}

ExecutorState::ExecutorState(CurrentThreadExecutor *owner, std::shared_ptr<ExecutorState> oldState)
    : thread(QThread::currentThread()),
      threadId(QThread::currentThreadId()),
      old(std::move(oldState)),
      executor(owner)
{
}

ExecutorState::~ExecutorState()
{
    // Every path that drops the last reference has broken the executor first, so the queue is
    // empty here; this is a guard against a future change forgetting that.
    Q_ASSERT(m_head == nullptr);
}

bool ExecutorState::claimWakeLocked()
{
    return !std::exchange(m_wakePosted, true);
}

std::shared_ptr<ExecutorState> ExecutorState::keepAliveFor(Wake wake)
{
    // Once the mutex is released, the owner may run the new item at once, and that item may
    // drop the last reference to this state (it destroys the executor, or the handle the
    // caller routed through). Whoever wakes the owner after unlocking holds a reference until
    // it is done; taken only when there is a wake-up to deliver, so once per burst.
    return wake.event || wake.waiter ? shared_from_this() : nullptr;
}

void ExecutorState::wake(Wake wake)
{
    // Both outside the queue mutex: either one wakes the owner at once, and it must not then
    // block on the queue mutex that this thread still holds. The receiver mutex keeps the
    // receiver alive for postEvent() instead: the receiver is detached (and only then deleted)
    // under it.
    if (wake.waiter)
        m_wake.notify_all();
    if (wake.event) {
        std::lock_guard locker(m_receiverMutex);
        if (m_receiver)
            QCoreApplication::postEvent(m_receiver, new QEvent(wakeEventType()));
    }
}

bool ExecutorState::pushList(WorkItem *first, WorkItem *last, std::uint64_t count)
{
    Wake needed;
    std::shared_ptr<ExecutorState> keepAlive;
    {
        std::lock_guard locker(m_mutex);
        if (broken.load(std::memory_order_relaxed))
            return false;
        needed = appendLocked(first, last, count);
        keepAlive = keepAliveFor(needed);
    }
    wake(needed);
    return true;
}

bool ExecutorState::pushLatest(const void *key, std::unique_ptr<WorkItem> &payload,
                               LatestItem *fresh)
{
    Wake needed;
    std::shared_ptr<ExecutorState> keepAlive;
    {
        std::lock_guard locker(m_mutex);
        if (broken.load(std::memory_order_relaxed))
            return false;
        if (LatestItem *queued = m_latest.value(key)) {
            std::swap(queued->payload, payload); // the caller destroys the old one, unlocked
            return true;
        }
        fresh->payload = std::move(payload);
        m_latest.insert(key, fresh);
        needed = appendLocked(fresh, fresh, 1);
        keepAlive = keepAliveFor(needed);
    }
    wake(needed);
    return true;
}

std::unique_ptr<WorkItem> ExecutorState::takeLatestPayload(LatestItem *item)
{
    std::lock_guard locker(m_mutex);
    const auto it = m_latest.constFind(item->key);
    if (it != m_latest.cend() && it.value() == item)
        m_latest.erase(it);
    return std::move(item->payload);
}

void LatestItem::run() noexcept
{
    if (auto work = home->takeLatestPayload(this))
        ExecutorState::runItem(work.release());
}

void LatestItem::fail(const std::exception_ptr &error) noexcept
{
    if (auto work = home->takeLatestPayload(this))
        work->fail(error);
}

ExecutorState::Wake ExecutorState::appendLocked(WorkItem *first, WorkItem *last,
                                                std::uint64_t count)
{
    const bool wasEmpty = m_head == nullptr;
    if (m_tail)
        m_tail->m_next = first;
    else
        m_head = first;
    m_tail = last;
    m_accepted += count;
    // One wake-up per burst: an event only when none is on its way, a condition signal only
    // when the owner may be asleep in an ExecutorOnly wait (it sleeps only on an empty queue).
    return { claimWakeLocked(), wasEmpty && m_exclusiveWaiters > 0 };
}

void ExecutorState::route(std::unique_ptr<WorkItem> item, bool rejectOwnThread)
{
    const Qt::HANDLE self = QThread::currentThreadId();
    // C7 and C11 in one pass: the executor that would accept the item must not be the caller's.
    // A broken executor is not skipped unlocked: its pushList() fails only once a hand-off in
    // progress there is complete (see breakAndHandOff()).
    for (ExecutorState *state = this; state; state = state->old.get()) {
        if (rejectOwnThread && state->threadId == self
            && !state->broken.load(std::memory_order_acquire))
            throwError(ExecutorError::Code::OwnThread);
        WorkItem *raw = item.get();
        if (state->pushList(raw, raw, 1)) {
            item.release();
            return;
        }
    }
    throwError(ExecutorError::Code::Broken);
}

WorkItem *ExecutorState::takeNext()
{
    std::lock_guard locker(m_mutex);
    WorkItem *item = m_head;
    if (item) {
        m_head = item->m_next;
        if (!m_head)
            m_tail = nullptr;
        item->m_next = nullptr;
        ++m_removed;
    }
    return item;
}

void ExecutorState::runItem(WorkItem *item) noexcept
{
    item->run();
    delete item; // C12: the callable is destroyed on the thread that ran it
}

void ExecutorState::drainTimeSliced()
{
    {
        std::lock_guard locker(m_mutex);
        m_wakePosted = false; // from here on, new submissions post a fresh wake-up
    }
    ++drainDepth;
    const auto sliceEnd = Clock::now() + kTimeSlice;
    while (WorkItem *item = takeNext()) {
        runItem(item);
        if (Clock::now() >= sliceEnd) {
            kick(); // yield: paint and timers run before the next slice
            break;
        }
    }
    --drainDepth;
}

void ExecutorState::drainAcceptedSoFar(std::optional<QEventLoop::ProcessEventsFlags> events)
{
    std::uint64_t target;
    {
        std::lock_guard locker(m_mutex);
        target = m_accepted;
    }
    ++drainDepth;
    auto sliceEnd = Clock::now() + kTimeSlice;
    for (;;) {
        {
            // Counted under the lock: nested waits and hand-offs also take items out.
            std::lock_guard locker(m_mutex);
            if (m_removed >= target)
                break;
        }
        WorkItem *item = takeNext();
        if (!item)
            break;
        runItem(item);
        if (events && Clock::now() >= sliceEnd) {
            QCoreApplication::processEvents(*events);
            sliceEnd = Clock::now() + kTimeSlice;
        }
    }
    --drainDepth;
}

void ExecutorState::kick()
{
    Wake needed;
    {
        std::lock_guard locker(m_mutex);
        if (m_head)
            needed.event = claimWakeLocked();
    }
    wake(needed);
}

void ExecutorState::poke()
{
    std::lock_guard locker(m_mutex);
    m_poked = true;
    m_wake.notify_all();
}

bool ExecutorState::waitExclusive(const QFuture<void> &future, QDeadlineTimer deadline)
{
    ExclusiveWaitScope scope(this);
    {
        std::lock_guard locker(m_mutex);
        ++m_exclusiveWaiters;
    }
    struct Leave
    {
        ExecutorState *state;
        ~Leave()
        {
            std::lock_guard locker(state->m_mutex);
            --state->m_exclusiveWaiters;
        }
    } leave{this};

    auto recheck = std::chrono::duration_cast<std::chrono::nanoseconds>(kFirstRecheck);
    for (;;) {
        ++drainDepth;
        while (!future.isFinished()) {
            WorkItem *item = takeNext();
            if (!item)
                break;
            runItem(item);
        }
        --drainDepth;
        if (future.isFinished())
            return true;
        if (deadline.hasExpired())
            return false;

        std::unique_lock locker(m_mutex);
        if (!m_head && !m_poked) {
            auto nap = recheck;
            if (!deadline.isForever())
                nap = std::min(nap, std::chrono::nanoseconds(deadline.remainingTimeNSecs()));
            const bool signalled =
                    m_wake.wait_for(locker, nap) == std::cv_status::no_timeout;
            recheck = signalled ? std::chrono::duration_cast<std::chrono::nanoseconds>(kFirstRecheck)
                                : std::min<std::chrono::nanoseconds>(recheck * 2, kLongestRecheck);
        }
        m_poked = false;
    }
}

bool ExecutorState::waitInEventLoop(const QFuture<void> &future, QDeadlineTimer deadline,
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
    kick();

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

void ExecutorState::breakAndHandOff()
{
    WorkItem *first;
    {
        // Held until the queue has arrived down the chain. A producer that meets this executor
        // broken goes on down the chain only after taking this mutex (pushList() fails here),
        // so its later items queue behind its earlier ones that are being moved (C4, C12).
        // Locks are only ever nested down the chain, which has no cycles.
        std::lock_guard locker(m_mutex);
        if (broken.load(std::memory_order_relaxed))
            return;
        broken.store(true, std::memory_order_release);
        first = m_head;
        WorkItem *const last = m_tail;
        const std::uint64_t count = m_accepted - m_removed;
        m_head = m_tail = nullptr;
        m_removed = m_accepted;
        m_latest.clear(); // moved items are no longer replaceable
        m_wake.notify_all();
        if (!first)
            return;
        // C12: the queue moves, in order and in one piece, to the nearest live executor down
        // the chain; only when there is none does each item fail.
        for (ExecutorState *state = old.get(); state; state = state->old.get()) {
            if (state->pushList(first, last, count))
                return;
        }
    }
    // Failed outside the lock: fail() finishes futures and may resume coroutines.
    const std::exception_ptr error = brokenError();
    while (first) {
        WorkItem *next = first->m_next;
        first->fail(error);
        delete first; // C12: never ran, so destroyed on the thread that broke the executor
        first = next;
    }
}

void ExecutorState::markOwnerFinished()
{
    {
        std::lock_guard locker(m_mutex);
        m_ownerFinished = true;
    }
    breakAndHandOff();
}

bool ExecutorState::ownerFinished() const
{
    std::lock_guard locker(m_mutex);
    return m_ownerFinished;
}

void ExecutorState::attachReceiver(Receiver *receiver)
{
    std::lock_guard locker(m_receiverMutex);
    m_receiver = receiver;
}

Receiver *ExecutorState::parkReceiver(Receiver *receiver)
{
    std::lock_guard locker(m_mutex);
    if (m_ownerFinished)
        return receiver;
    m_parkedReceiver = receiver;
    return nullptr;
}

Receiver *ExecutorState::takeParkedReceiver()
{
    std::lock_guard locker(m_mutex);
    return std::exchange(m_parkedReceiver, nullptr);
}

Receiver *ExecutorState::takeReceiver()
{
    std::lock_guard locker(m_receiverMutex);
    return std::exchange(m_receiver, nullptr);
}

} // namespace detail

using detail::ExecutorState;

CurrentThreadExecutor::CurrentThreadExecutor(CurrentThreadExecutor *oldExecutor)
    : d(std::make_shared<ExecutorState>(this, oldExecutor ? oldExecutor->d : nullptr))
{
    auto *receiver = new detail::Receiver(d);
    // A QThread announces its end before its thread-local storage is torn down, and
    // QThread::wait() may return in between; break right at the announcement so that an
    // executor destroyed after wait() sees a finished owner. Plain threads are covered by
    // the thread record below.
    QObject::connect(
            d->thread, &QThread::finished, receiver,
            [weak = std::weak_ptr<ExecutorState>(d)] {
                if (auto state = weak.lock())
                    state->markOwnerFinished();
            },
            Qt::DirectConnection);
    d->attachReceiver(receiver);
    if (auto *record = detail::threadRecord())
        record->executors.push_back(d);
}

CurrentThreadExecutor::~CurrentThreadExecutor()
{
    const bool finished = d->ownerFinished();
    const bool onOwner = !finished && QThread::currentThreadId() == d->threadId;
    if (!onOwner && !finished) {
        qCCritical(lcExecutor,
                   "QDispatch: a CurrentThreadExecutor was destroyed on another thread while its "
                   "owner thread still runs. Destroy it on its own thread (or after that thread "
                   "has finished). It was shut down instead: its queued items moved down the "
                   "chain or failed with ExecutorError::Broken.");
    }
    d->executor.store(nullptr, std::memory_order_release);
    d->breakAndHandOff();

    detail::Receiver *receiver = d->takeReceiver();
    if (onOwner && d->drainDepth == 0)
        delete receiver;
    else if (onOwner)
        receiver->deleteLater(); // it is running one of our items right now
    else
        delete d->parkReceiver(receiver); // foreign thread: only once the owner has finished

    if (onOwner) {
        if (auto *record = detail::threadRecord()) {
            auto &list = record->executors;
            list.erase(std::remove(list.begin(), list.end(), d), list.end());
        }
    }
}

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
                ? state->waitExclusive(future, deadline)
                : state->waitInEventLoop(future, deadline, mode);
        if (!finished)
            return false;
    }
    state->drainAcceptedSoFar(detail::eventFlags(mode));
    return true;
}

void CurrentThreadExecutor::shutdown()
{
    d->breakAndHandOff();
}

CurrentThreadExecutor *CurrentThreadExecutor::current()
{
    detail::ThreadRecord *record = detail::threadRecord();
    if (!record)
        return nullptr;
    const auto &list = record->executors;
    for (auto it = list.rbegin(); it != list.rend(); ++it) {
        if (!(*it)->broken.load(std::memory_order_acquire))
            return (*it)->executor.load(std::memory_order_acquire);
    }
    return nullptr;
}

ExecutorHandle CurrentThreadExecutor::handle() const
{
    return ExecutorHandle(d);
}

bool CurrentThreadExecutor::isBroken() const
{
    return d->broken.load(std::memory_order_acquire);
}

QThread *CurrentThreadExecutor::thread() const
{
    return d->thread;
}

CurrentThreadExecutor *CurrentThreadExecutor::oldExecutor() const
{
    return d->old ? d->old->executor.load(std::memory_order_acquire) : nullptr;
}

struct detail::StateOf
{
    static std::shared_ptr<ExecutorState> get(const CurrentThreadExecutor &executor)
    {
        return executor.d;
    }
};

namespace {

// The main-thread executor (X5). The pointer serves mainThreadExecutor(); the free functions
// take a shared reference to the state under the mutex, so that an application destroyed
// while a worker is between the look-up and its submit cannot free what the worker uses.
std::atomic<CurrentThreadExecutor *> g_mainThreadExecutor{nullptr};
std::mutex g_mainThreadMutex;
std::shared_ptr<ExecutorState> g_mainThreadState;

void destroyMainThreadExecutor()
{
    {
        std::lock_guard locker(g_mainThreadMutex);
        g_mainThreadState.reset();
    }
    delete g_mainThreadExecutor.exchange(nullptr, std::memory_order_acq_rel);
}

// Runs on the application's thread when the QCoreApplication is constructed (or at once, if
// it already exists when the library is loaded); the post routine runs in its destructor.
void createMainThreadExecutor()
{
    auto *executor = new CurrentThreadExecutor;
    {
        std::lock_guard locker(g_mainThreadMutex);
        g_mainThreadState = detail::StateOf::get(*executor);
    }
    g_mainThreadExecutor.store(executor, std::memory_order_release);
    qAddPostRoutine(destroyMainThreadExecutor);
}

} // namespace

Q_COREAPP_STARTUP_FUNCTION(createMainThreadExecutor)

CurrentThreadExecutor *mainThreadExecutor()
{
    return g_mainThreadExecutor.load(std::memory_order_acquire);
}

std::shared_ptr<ExecutorState> detail::requireMainThreadState()
{
    std::lock_guard locker(g_mainThreadMutex);
    if (!g_mainThreadState)
        throwError(ExecutorError::Code::NoApplication);
    return g_mainThreadState;
}

} // namespace qdispatch

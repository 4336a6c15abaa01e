// The queue of one executor and the way items reach it: routing along the chain (C11), the
// one wake-up per burst, the time-sliced drains on the owner thread (C3, C4, C5) and
// postLatest's replace-in-place (X2). Breaking and the hand-off down the chain are chain.cpp's.
#include "diagnostics_p.h"
#include "errors_p.h"
#include "executorstate_p.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QEvent>
#include <QtCore/QThread>

#include <algorithm>
#include <chrono>

namespace qdispatch::detail {

namespace {

using Clock = std::chrono::steady_clock;

// How long one wake-up event may run items before it yields to the event loop, so that a
// flood of submissions cannot starve paint events and timers (see docs/ for the numbers).
constexpr auto kTimeSlice = std::chrono::milliseconds(4);

QEvent::Type wakeEventType()
{
    static const auto type = static_cast<QEvent::Type>(QEvent::registerEventType());
    return type;
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
    ExecutorState *const start = state;
    std::shared_ptr<ExecutorState> hold; // the link being followed (links may change meanwhile)
    for (int hops = 0; state; ++hops) {
        auto fresh = std::make_unique<LatestItem>(state->shared_from_this(), key);
        state->stampIfTimed(fresh.get()); // X10
        std::shared_ptr<ExecutorState> next;
        if (state->pushLatest(key, item, fresh.get(), &next)) {
            if (!item) // queued as a new item; otherwise `item` holds the replaced callable
                fresh.release();
            if (hops > 1)
                start->skipDeadLinks();
            return;
        }
        hold = std::move(next);
        state = hold.get();
    }
    throwError(ExecutorError::Code::Broken);
}

bool isOwnerThread(const ExecutorState *state) noexcept
{
    return state && state->isOwnedBy(QThread::currentThreadId());
}

bool isBroken(const ExecutorState *state) noexcept
{
    return !state || state->broken.load(std::memory_order_acquire);
}

Receiver::Receiver(std::shared_ptr<ExecutorState> state) : m_state(std::move(state))
{
    m_constructed.store(true, std::memory_order_release);
}

bool Receiver::event(QEvent *event)
{
    if (event->type() != wakeEventType())
        return QObject::event(event);
    (void)m_constructed.load(std::memory_order_acquire);
    // A local reference: an item may destroy the executor while this drain runs.
    const std::shared_ptr<ExecutorState> state = m_state;
    state->drainTimeSliced();
    return true;
}

ExecutorState::ExecutorState(CurrentThreadExecutor *owner, std::shared_ptr<ExecutorState> oldState)
    : thread(QThread::currentThread()),
      threadId(QThread::currentThreadId()),
      executor(owner),
      m_old(std::move(oldState)),
      m_givenOld(m_old)
{
    applySlowItemEnvironment(*this); // X10
}

ExecutorState::~ExecutorState()
{
    // Every path that drops the last reference has broken the executor first, so the queue is
    // empty here; this is a guard against a future change forgetting that.
    Q_ASSERT(m_head == nullptr);
    releaseLink(std::move(m_old));
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
    if (wake.relay)
        wake.relay->poke();
    if (wake.event) {
        std::lock_guard locker(m_receiverMutex);
        if (m_receiver)
            QCoreApplication::postEvent(m_receiver, new QEvent(wakeEventType()));
    }
}

bool ExecutorState::pushList(WorkItem *first, WorkItem *last, std::uint64_t count,
                             std::shared_ptr<ExecutorState> *next)
{
    Wake needed;
    std::shared_ptr<ExecutorState> keepAlive;
    {
        std::lock_guard locker(m_mutex);
        if (broken.load(std::memory_order_relaxed)) {
            if (next)
                *next = m_old;
            return false;
        }
        needed = appendLocked(first, last, count);
        keepAlive = keepAliveFor(needed);
    }
    wake(needed);
    return true;
}

bool ExecutorState::pushLatest(const void *key, std::unique_ptr<WorkItem> &payload,
                               LatestItem *fresh, std::shared_ptr<ExecutorState> *next)
{
    Wake needed;
    std::shared_ptr<ExecutorState> keepAlive;
    {
        std::lock_guard locker(m_mutex);
        if (broken.load(std::memory_order_relaxed)) {
            *next = m_old;
            return false;
        }
        if (LatestItem *queued = m_latest.value(key)) {
            std::swap(queued->payload, payload); // the caller destroys the old one, unlocked
            return true;
        }
        fresh->payload = std::move(payload);
        fresh->position = m_accepted;
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
    if (auto work = home->takeLatestPayload(this)) {
        ranName = work->callableName(); // X10: a report about this item names the payload
        ExecutorState::runItem(work.release());
    }
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
#if QDISPATCH_DIAGNOSTICS
    m_peakPending = std::max(m_peakPending, m_accepted - m_removed); // X10
#endif
    // One wake-up per burst: an event only when none is on its way, a condition signal only
    // when the owner may be asleep in an ExecutorOnly wait (it sleeps only on an empty queue).
    const bool waiter = wasEmpty && m_exclusiveWaiters > 0;
    return { claimWakeLocked(), waiter, waiter ? m_relay : nullptr };
}

void ExecutorState::route(std::unique_ptr<WorkItem> item, bool rejectOwnThread)
{
    const Qt::HANDLE self = QThread::currentThreadId();
    // C7 and C11 in one pass: the executor that would accept the item must not be the caller's.
    // A broken executor is not skipped unlocked: its pushList() fails only once a hand-off in
    // progress there is complete (see breakAndHandOff()); links skip only executors already
    // seen dead that way (skipDeadLinks()).
    ExecutorState *state = this;
    std::shared_ptr<ExecutorState> hold; // the link being followed (links may change meanwhile)
    for (int hops = 0; state; ++hops) {
        if (rejectOwnThread && state->isOwnedBy(self)
            && !state->broken.load(std::memory_order_acquire))
            throwError(ExecutorError::Code::OwnThread);
        WorkItem *raw = item.get();
        state->stampIfTimed(raw); // X10
        std::shared_ptr<ExecutorState> next;
        if (state->pushList(raw, raw, 1, &next)) {
            item.release();
            if (hops > 1) // dead links on the way: the next route from here skips them
                skipDeadLinks();
            return;
        }
        hold = std::move(next);
        state = hold.get();
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
    ItemBooks books(*this); // X10; its clock readings serve the time slice too
    const auto sliceEnd = books.now() + kTimeSlice;
    while (WorkItem *item = takeNext()) {
        books.run(item);
        if (books.now() >= sliceEnd) {
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
    ItemBooks books(*this); // X10
    auto sliceEnd = books.now() + kTimeSlice;
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
        books.run(item);
        if (events && books.now() >= sliceEnd) {
            QCoreApplication::processEvents(*events);
            books.restart();
            sliceEnd = books.now() + kTimeSlice;
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

std::shared_ptr<ExecutorState> ExecutorState::enterExclusiveWait(
        std::shared_ptr<ExecutorState> relay, bool relayed)
{
    std::lock_guard locker(m_mutex);
    ++m_exclusiveWaiters;
    if (relayed)
        std::swap(m_relay, relay);
    return relay; // the replaced relay (or nullptr when not relayed)
}

void ExecutorState::leaveExclusiveWait(std::shared_ptr<ExecutorState> previousRelay, bool relayed)
{
    {
        std::lock_guard locker(m_mutex);
        --m_exclusiveWaiters;
        if (relayed)
            std::swap(m_relay, previousRelay);
    }
    // previousRelay now holds the relay this wait had set: released unlocked.
}

void ExecutorState::sleepUntilWork(QDeadlineTimer deadline)
{
    // A deadline years away would overflow wait_for()'s arithmetic on the clock: sleep at most a
    // day at a time (the caller looks again and sleeps on).
    constexpr qint64 kLongestSleepNs = 24 * 3600 * qint64(1000000000);
    std::unique_lock locker(m_mutex);
    if (!m_head && !m_poked) {
        if (deadline.isForever()) {
            m_wake.wait(locker);
        } else {
            const qint64 ns = std::clamp<qint64>(deadline.remainingTimeNSecs(), 0, kLongestSleepNs);
            m_wake.wait_for(locker, std::chrono::nanoseconds(ns));
        }
    }
    m_poked = false;
}

} // namespace qdispatch::detail

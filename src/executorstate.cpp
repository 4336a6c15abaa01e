// An executor's state as a whole: construction, whose thread owns it (C1, X9), routing along the
// chain (C7, C11, X3), the wake-up of the owner after a push, the owner's drains (C3, C8, C9), the
// break and the in-order hand-off down the chain (C4, C10, C12), X10's looks at it, and the
// exported functions the public templates call. The parts do the work (executorstate_p.h).
#include "executorstate_p.h"

#include "diagnostics_p.h"
#include "errors_p.h"
#include "timeslice_p.h"
#include "trace_p.h"
#include "waitchains_p.h"
#include "waitdeadlinescope_p.h"
#include "wokenwait_p.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QThread>

#include <limits>

namespace qdispatch::detail {

// --- Construction and the owner ---------------------------------------------------------------

ExecutorState::ExecutorState(CurrentThreadExecutor *owner, std::shared_ptr<ExecutorState> oldState)
    : thread(QThread::currentThread()), threadId(QThread::currentThreadId()), executor(owner),
      m_chain(std::move(oldState))
{
    applySlowItemEnvironment(*this); // X10
    applyTraceEnvironment(); // X12
}

ExecutorState::ExecutorState(QThread *target)
    : thread(target), threadId(nullptr), executor(nullptr), m_chain(nullptr)
{
    applySlowItemEnvironment(*this); // X10: executorOf()'s executors too
    applyTraceEnvironment(); // X12
}

ExecutorState::~ExecutorState()
{
    unlistExecutor(this); // X11
}

bool ExecutorState::isOwnedByLearnt(Qt::HANDLE self) const noexcept
{
    if (const Qt::HANDLE learnt = m_learntThreadId.load(std::memory_order_relaxed))
        return learnt == self;
    // Not seen on its thread yet: compare the QThread itself, and remember the answer when it
    // is yes. Only the owner thread ever stores, so every thread reads a right answer. (Not
    // learnt by a queued call at creation: Qt hands that over inside libQt6Core, out of
    // ThreadSanitizer's sight, and it saved no more than this one call.)
    if (QThread::currentThread() != thread)
        return false;
    m_learntThreadId.store(self, std::memory_order_relaxed);
    return true;
}

void ExecutorState::markOwnerFinished()
{
    {
        StateLock lock(m_mutex);
        m_ownerFinished = true;
    }
    breakAndHandOff();
}

std::optional<ThreadName> ExecutorState::liveOwnerName(const StateLock &) const
{
    // The QThread may be deleted once its thread has finished, which breaks this executor
    // first: while neither has happened, it exists.
    if (m_ownerFinished || broken.load(std::memory_order_relaxed))
        return std::nullopt;
    return ThreadName::of(thread);
}

bool ExecutorState::ownerFinished() const
{
    StateLock lock(m_mutex);
    return m_ownerFinished;
}

Receiver *ExecutorState::parkReceiver(Receiver *receiver)
{
    StateLock lock(m_mutex);
    if (m_ownerFinished)
        return receiver;
    m_receivers.park(lock, receiver);
    return nullptr;
}

Receiver *ExecutorState::takeParkedReceiver()
{
    StateLock lock(m_mutex);
    return m_receivers.takeParked(lock);
}

// --- Producers --------------------------------------------------------------------------------

void ExecutorState::route(std::unique_ptr<WorkItem> item, OnOwnThread onOwnThread)
{
    const Qt::HANDLE self = QThread::currentThreadId();
    // C7, X3 and C11 in one pass: what happens when the executor that would accept the item is
    // the caller's own is decided where that executor is found. A broken executor is not
    // skipped unlocked: its push() fails only once a hand-off in progress there is complete
    // (see breakAndHandOff()); links skip only executors already seen dead that way
    // (skipDeadLinks()).
    ExecutorState *state = this;
    std::shared_ptr<ExecutorState> hold; // the link being followed (links may change meanwhile)
    for (int hops = 0; state; ++hops) {
        if (onOwnThread != OnOwnThread::Queue && state->isOwnedBy(self) &&
            !state->broken.load(std::memory_order_acquire)) {
            if (onOwnThread == OnOwnThread::Reject)
                throwError(ExecutorError::Code::OwnThread);
            // X3: invoke() would wait for itself; it runs here instead. A push that failed on
            // the way left its link set: cleared, as the item holds no claim (begin()).
            ItemQueue::unlink(item.get());
            if (Q_UNLIKELY(tracing()))
                runItemTraced(item.release(), state); // X12
            else
                runItem(item.release());
            return;
        }
        WorkItem *raw = item.get();
        state->stampIfTimed(raw); // X10
        std::shared_ptr<ExecutorState> next;
        if (state->push(raw, &next)) {
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

bool ExecutorState::pushOntoEmptyOrClosed(WorkItem *item, std::shared_ptr<ExecutorState> *next)
{
    // Once the item is in, the owner may run it at once, and that item may drop the last
    // reference to this state (it destroys the executor, or the handle the caller routed
    // through). A push that will have to wake the owner afterwards holds a reference until it is
    // done; taken only when the inbox looks empty, so once per burst.
    std::shared_ptr<ExecutorState> keepAlive;
    for (;;) {
        switch (m_queue.pushOntoItems(item)) {
        case ItemQueue::Found::Items:
            return true;
        case ItemQueue::Found::Closed: {
            // Broken. The breaking thread holds the state lock until the queue has arrived down
            // the chain: going on only after taking it queues this producer's item behind its
            // earlier ones that are being moved (C4, C12).
            StateLock lock(m_mutex);
            *next = m_chain.next(lock);
            return false;
        }
        case ItemQueue::Found::Empty:
            break;
        }
        if (!keepAlive)
            keepAlive = shared_from_this();
        if (m_queue.pushOntoEmpty(item)) {
            wake(wakeAfterEmptyPush());
            return true;
        }
    }
}

bool ExecutorState::pushLatest(const void *key, std::unique_ptr<WorkItem> &payload,
                               LatestItem *fresh, std::shared_ptr<ExecutorState> *next)
{
    Wake needed;
    std::shared_ptr<ExecutorState> keepAlive;
    {
        StateLock lock(m_mutex);
        if (broken.load(std::memory_order_relaxed)) {
            *next = m_chain.next(lock);
            return false;
        }
        if (m_latest.put(lock, key, payload, fresh) == LatestMap::Put::Replaced) {
            // X10: the replaced callable was accepted, and is cancelled.
            m_books.countReplaced(lock);
            return true;
        }
        if (m_queue.pushList(lock, fresh, fresh) == ItemQueue::Found::Empty) {
            needed = wakeAfterEmptyPush(lock);
            keepAlive = shared_from_this();
        }
    }
    wake(std::move(needed));
    return true;
}

bool ExecutorState::pushHandOff(WorkItem *first, const std::vector<LatestItem *> &latest,
                                std::shared_ptr<ExecutorState> *next,
                                std::shared_ptr<ExecutorState> *relay)
{
    Wake needed;
    std::shared_ptr<ExecutorState> keepAlive;
    {
        StateLock lock(m_mutex);
        if (broken.load(std::memory_order_relaxed)) {
            *next = m_chain.next(lock);
            return false;
        }
        if (!latest.empty())
            m_latest.adopt(lock, latest, shared_from_this()); // X2
        // The inbox holds the newest item first: the list goes in the other way round, behind
        // everything queued here so far (`first`, its oldest, ends up last).
        if (m_queue.pushList(lock, ItemQueue::reversed(first), first) == ItemQueue::Found::Empty) {
            needed = wakeAfterEmptyPush(lock);
            keepAlive = shared_from_this();
        }
    }
    // The breaking thread still holds its own state lock, and the relay may be that very
    // executor (or any other): it pokes the relay once it has let go (locks nest only down the
    // chain).
    *relay = std::move(needed.relay);
    wake(std::move(needed));
    return true;
}

// --- Waking the owner -------------------------------------------------------------------------

// One wake-up per burst. An event when none is on its way: drainTimeSliced() clears the flag
// before it takes the inbox, so a push that finds the flag set is taken by that drain. A signal
// when the owner may be asleep in an ExecutorOnly wait: it sleeps only after it saw the inbox
// empty under the state lock, after counting itself in the sleep; this push made the inbox
// non-empty before reading that count. Both sides are sequentially consistent read-modify-writes
// and loads, so one of them sees the other.
ExecutorState::Wake ExecutorState::wakeAfterEmptyPush()
{
    Wake wake;
    wake.event = m_queue.needsWakeUp();
    if (m_sleep.mayBeAsleep()) {
        wake.sleeper = true;
        // Taking the lock also waits until a sleeper that saw the inbox empty is asleep.
        StateLock lock(m_mutex);
        wake.relay = m_sleep.relay(lock);
    }
    return wake;
}

ExecutorState::Wake ExecutorState::wakeAfterEmptyPush(const StateLock &lock)
{
    Wake wake;
    wake.event = m_queue.needsWakeUp();
    if (m_sleep.mayBeAsleep()) {
        wake.sleeper = true;
        wake.relay = m_sleep.relay(lock);
    }
    return wake;
}

void ExecutorState::wake(Wake wake)
{
    // Outside the state lock: either one wakes the owner at once, and it must not then block on
    // the lock that this thread still holds.
    if (wake.sleeper)
        m_sleep.signal();
    if (wake.relay)
        wake.relay->poke();
    if (wake.event)
        m_receivers.postWakeUp();
}

void ExecutorState::kick()
{
    // Owner thread: a wake-up for what is left of the batch or waits in the inbox.
    if (m_queue.hasWorkForOwner() && m_queue.needsWakeUp()) {
        Wake event;
        event.event = true;
        wake(std::move(event));
    }
}

void ExecutorState::poke()
{
    StateLock lock(m_mutex);
    m_sleep.poke(lock);
}

// --- The owner thread -------------------------------------------------------------------------

void ExecutorState::runItem(WorkItem *item) noexcept
{
    item->run();
    delete item; // C12: the callable is destroyed on the thread that ran it
}

void ExecutorState::runItemTraced(WorkItem *item, const ExecutorState *state) noexcept
{
    // Run in place, never queued: no flow leads to it.
    const CallableName name = item->callableName();
    const std::int64_t start = traceClockNs();
    runItem(item);
    traceRun(name, state, start, traceClockNs(), 0, 0);
}

void ExecutorState::drainTimeSliced()
{
    // From here on, new submissions post a fresh wake-up; cleared before the inbox is taken
    // (wakeAfterEmptyPush()).
    m_queue.wakeUpArrived();
    if (!threadId) // executorOf()'s (X9): learn the thread's id, by which reports name it
        (void)isOwnedByLearnt(QThread::currentThreadId());
    ++drainDepth;
    ItemBooks books(*this); // X10
    TimeSlice slice;
    // C9: in the event loop of a wait with a deadline, no item starts once it has passed; the
    // rest waits for the next wake-up, after the wait has returned.
    const QDeadlineTimer *const deadline = WaitDeadlineScope::innermost();
    for (;;) {
        if (deadline && deadline->hasExpired()) {
            kick();
            break;
        }
        Walk walk;
        WorkItem *const item = takeNext(&walk);
        if (item)
            books.run(item);
        else if (walk == Walk::Done)
            break;
        // Yield once the slice is used up: paint and timers run before the next one. Unless
        // nothing is left: then the next step finds the queue empty, which also gives back a
        // flood's memory (yielding here kept it until the next item came).
        if (slice.usedUp(item ? ClockRead::ByStride : ClockRead::Now) &&
            m_queue.hasWorkForOwner()) {
            kick();
            break;
        }
    }
    --drainDepth;
    // C8, C9: the items may have run event loops of their own, nested in a wait of the event
    // loop that delivered this wake-up, and that wait may have been woken meanwhile: it must not
    // sleep once control is back with it (wokenwait_p.h).
    WokenWait::renew();
}

bool ExecutorState::drainAcceptedSoFar(std::optional<QEventLoop::ProcessEventsFlags> events,
                                       QDeadlineTimer deadline)
{
    ++drainDepth;
    ItemBooks books(*this); // X10
    TimeSlice slice;
    // Everything accepted so far goes behind the batch: the inbox taken after this call began
    // (a walk already under way holds older items only), put in order a step at a time when
    // events are to be processed meanwhile. Nested waits and a break may claim or take some of
    // it, so the end is counted in items claimed.
    const std::size_t steps =
        events ? ItemQueue::kWalkStep : std::numeric_limits<std::size_t>::max();
    std::uint64_t target;
    for (bool cut = false;;) {
        ItemQueue::Refill refill;
        {
            StateLock lock(m_mutex);
            cut = cut || !m_queue.walkInProgress();
            refill = m_queue.refill(lock, steps);
            if (refill == ItemQueue::Refill::Nothing ||
                (refill == ItemQueue::Refill::Ready && cut)) {
                target = m_queue.claimedTotal() + m_queue.unclaimed(lock);
                break;
            }
        }
        if (refill == ItemQueue::Refill::Walking && slice.usedUp(ClockRead::Now)) {
            QCoreApplication::processEvents(*events);
            WokenWait::eventsLetThrough();
            books.restart();
            slice.restart();
        }
    }
    const bool timed = !deadline.isForever();
    // The drains that the thread's event loop runs meanwhile (processEvents() below) keep to it
    // too: an event-loop mode delivers this executor's wake-ups there.
    std::optional<WaitDeadlineScope> deadlineScope;
    if (timed)
        deadlineScope.emplace(&deadline);
    bool inTime = true;
    while (m_queue.claimedTotal() < target) {
        if (timed && deadline.hasExpired()) {
            inTime = false;
            kick(); // the rest runs when the thread's event loop gets to it
            break;
        }
        Walk walk;
        WorkItem *const item = takeNext(&walk);
        if (!item) {
            if (walk != Walk::Done)
                continue; // refilled, or a nested wait left a walk behind: ours comes after it
            break;
        }
        books.run(item);
        if (events && slice.usedUp()) {
            QCoreApplication::processEvents(*events);
            WokenWait::eventsLetThrough();
            books.restart();
            slice.restart();
        }
    }
    --drainDepth;
    return inTime;
}

// --- The ExecutorOnly sleep -------------------------------------------------------------------

std::shared_ptr<ExecutorState> ExecutorState::enterExclusiveWait(
    std::shared_ptr<ExecutorState> relay, ExclusiveRole role)
{
    StateLock lock(m_mutex);
    return m_sleep.enter(lock, std::move(relay), role);
}

void ExecutorState::leaveExclusiveWait(std::shared_ptr<ExecutorState> previousRelay,
                                       ExclusiveRole role)
{
    std::shared_ptr<ExecutorState> released;
    {
        StateLock lock(m_mutex);
        released = m_sleep.leave(lock, std::move(previousRelay), role);
    }
    // The relay this wait had set is released unlocked.
}

void ExecutorState::sleepUntilWork(QDeadlineTimer deadline)
{
    QDISPATCH_TEST_POINT(TestPoint::OwnerSleeps);
    StateLock lock(m_mutex);
    if (m_queue.hasWorkForOwner())
        m_sleep.forgetPoke(lock);
    else
        m_sleep.sleep(lock, deadline);
}

// --- Breaking ---------------------------------------------------------------------------------

void ExecutorState::breakAndHandOff()
{
    WorkItem *first;
    std::uint64_t count = 0;
    std::shared_ptr<ExecutorState> hold; // the link being followed
    std::shared_ptr<ExecutorState> relay; // to poke once unlocked (X3)
    {
        // Held until the queue has arrived down the chain. A producer that meets this executor
        // broken goes on down the chain only after taking this lock (push() fails here), so its
        // later items queue behind its earlier ones that are being moved (C4, C12). Locks are
        // only ever nested down the chain, which has no cycles.
        StateLock lock(m_mutex);
        if (broken.load(std::memory_order_relaxed))
            return;
        m_ownerNameAtBreak = liveOwnerName(lock); // X10, X11: named as before the break
        broken.store(true, std::memory_order_release);
        first = m_queue.takeAll(lock, &count);
        // X2: the latest-items still queued stay replaceable where they go.
        const std::vector<LatestItem *> latest = m_latest.takeQueued(lock, first);
        m_sleep.signal();
        // C12: the queue moves, in order and in one piece, to the nearest live executor down
        // the chain; only when there is none does each item fail.
        std::shared_ptr<ExecutorState> next = first ? m_chain.next(lock) : nullptr;
        while (next) {
            hold = std::move(next);
            if (hold->pushHandOff(first, latest, &next, &relay)) {
                first = nullptr;
                m_books.countHandedOff(lock, count); // X10
                break;
            }
        }
        if (first)
            m_books.countFailed(lock, count); // X10
    }
    if (relay)
        relay->poke();
    skipDeadLinks(); // C11: this executor is dead now; whatever links to it passes through
    // No live executor was left: each item fails, outside the lock (fail() finishes futures
    // and may resume coroutines).
    if (first)
        ItemQueue::failAll(first, brokenError());
}

std::optional<std::shared_ptr<ExecutorState>> ExecutorState::nextIfDead() const
{
    StateLock lock(m_mutex);
    if (!broken.load(std::memory_order_relaxed))
        return std::nullopt;
    return m_chain.next(lock);
}

void ExecutorState::skipDeadLinks()
{
    std::shared_ptr<ExecutorState> start;
    {
        StateLock lock(m_mutex);
        start = m_chain.next(lock);
    }
    std::shared_ptr<ExecutorState> live = start;
    while (live) {
        std::optional<std::shared_ptr<ExecutorState>> older = live->nextIfDead();
        if (!older)
            break;
        live = std::move(*older);
    }
    if (live == start)
        return;
    std::shared_ptr<ExecutorState> dropped;
    {
        StateLock lock(m_mutex);
        dropped = m_chain.moveOn(lock, start, std::move(live));
    }
    start.reset();
    ChainLink::release(std::move(dropped)); // unlocked: it may free a long dead stretch
}

CurrentThreadExecutor *ExecutorState::givenOldExecutor() const
{
    const std::shared_ptr<ExecutorState> given = m_chain.given();
    return given ? given->executor.load(std::memory_order_acquire) : nullptr;
}

// --- X10: seeing inside -----------------------------------------------------------------------

quint64 ExecutorState::pendingCount() const
{
    StateLock lock(m_mutex);
    return m_queue.pending(lock);
}

ExecutorStats ExecutorState::stats() const
{
    // The records first: every item they name was claimed before the counts are read.
    const ExecutorBooks::Record::Value run = m_books.longestRun();
    const ExecutorBooks::Record::Value delivery = m_books.longestDelivery();
    ExecutorStats stats;
    {
        StateLock lock(m_mutex);
        const ItemQueue::Counts queue = m_queue.counts(lock);
        const ExecutorBooks::Counts books = m_books.counts(lock);
        stats.accepted =
            queue.pending + queue.started + books.replaced + books.handedOff + books.failed;
        stats.cancelled = queue.skipped + books.replaced;
        stats.handedOff = books.handedOff;
        stats.failed = books.failed;
        stats.run = queue.started - queue.skipped;
        stats.peakPending = queue.peakPending;
    }
    stats.longestRun = std::chrono::nanoseconds(run.ns);
    stats.longestDelivery = std::chrono::nanoseconds(delivery.ns);
    if (run.ns != 0)
        stats.longestRunItem = itemName(run.name);
    if (delivery.ns != 0)
        stats.longestDeliveryItem = itemName(delivery.name);
    return stats;
}

void ExecutorState::setSlowItemThresholds(std::chrono::nanoseconds run,
                                          std::chrono::nanoseconds delivery)
{
    StateLock lock(m_mutex);
    m_books.setSlowItemThresholds(lock, run, delivery);
}

std::chrono::nanoseconds ExecutorState::slowRunThreshold() const
{
    return std::chrono::nanoseconds(m_books.runThresholdNs());
}

std::chrono::nanoseconds ExecutorState::slowDeliveryThreshold() const
{
    return std::chrono::nanoseconds(m_books.deliveryThresholdNs());
}

std::chrono::nanoseconds ExecutorState::slowItemTimeResolution() const
{
    return std::chrono::nanoseconds(m_books.coarseClock() ? diagclock::coarseStepNs() : 1);
}

QString ExecutorState::ownerLabel() const
{
    std::optional<ThreadName> name;
    {
        // Once broken, the name kept at the break (none when its thread had finished: its id).
        StateLock lock(m_mutex);
        name = broken.load(std::memory_order_relaxed) ? m_ownerNameAtBreak : liveOwnerName(lock);
    }
    return name.value_or(ThreadName {})
        .label(threadId ? threadId : m_learntThreadId.load(std::memory_order_relaxed));
}

// --- What the public templates call -----------------------------------------------------------

void routeItem(ExecutorState *state, std::unique_ptr<WorkItem> item, OnOwnThread onOwnThread)
{
    if (!state)
        throwError(ExecutorError::Code::Broken);
    state->route(std::move(item), onOwnThread);
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

} // namespace qdispatch::detail

// The queue of one executor: the one wake-up per burst, the time-sliced drains on the owner
// thread (C3, C4, C5) and postLatest's replace-in-place (X2). Routing is executorstate.cpp's;
// breaking and the hand-off down the chain are chain.cpp's.
#include "diagnostics_p.h"
#include "errors_p.h"
#include "executorstate_p.h"
#include "testhooks_p.h"
#include "waitdeadlinescope_p.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QEvent>
#include <QtCore/QThread>

#include <algorithm>
#include <chrono>
#include <limits>

namespace qdispatch::detail {

namespace {

using Clock = std::chrono::steady_clock;

// How many items of a taken inbox one step puts in order: about 100 µs of work.
constexpr std::size_t kWalkStep = 4096;

// How long one wake-up event may run items before it yields to the event loop, so that a
// flood of submissions cannot starve paint events and timers (see docs/ for the numbers).
constexpr auto kTimeSlice = std::chrono::milliseconds(4);

QEvent::Type wakeEventType()
{
    static const auto type = static_cast<QEvent::Type>(QEvent::registerEventType());
    return type;
}

} // namespace

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

ExecutorState::Wake ExecutorState::wakeAfterEmptyPush(bool locked)
{
    // One wake-up per burst. An event when none is on its way: drainTimeSliced() clears the flag
    // before it takes the inbox, so a push that finds the flag set is taken by that drain. A
    // signal when the owner may be asleep in an ExecutorOnly wait: it sleeps only after it saw
    // the inbox empty under m_mutex, after counting itself in m_exclusiveWaiters; this push made
    // the inbox non-empty before reading that count. Both sides are sequentially consistent
    // read-modify-writes and loads, so one of them sees the other.
    Wake wake;
    wake.event = !m_wakePosted.exchange(true, std::memory_order_seq_cst);
    if (m_exclusiveWaiters.load(std::memory_order_seq_cst) > 0) {
        wake.waiter = true;
        if (locked) {
            wake.relay = m_relay;
        } else {
            // Taking the mutex also waits until a sleeper that saw the inbox empty is asleep.
            std::lock_guard locker(m_mutex);
            wake.relay = m_relay;
        }
    }
    return wake;
}

void ExecutorState::wake(Wake wake)
{
    // Outside the queue mutex: either one wakes the owner at once, and it must not then block on
    // the queue mutex that this thread still holds. The receiver mutex keeps the receiver alive
    // for postEvent() instead: the receiver is detached (and only then deleted) under it.
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

bool ExecutorState::pushOntoEmptyOrClosed(WorkItem *item, std::shared_ptr<ExecutorState> *next)
{
    // Once the item is in, the owner may run it at once, and that item may drop the last
    // reference to this state (it destroys the executor, or the handle the caller routed
    // through). A push that will have to wake the owner afterwards holds a reference until it is
    // done; taken only when the inbox looks empty, so once per burst.
    std::shared_ptr<ExecutorState> keepAlive;
    WorkItem *old = m_inbox.load(std::memory_order_relaxed);
    do {
        if (old == closedInbox()) {
            // Broken. The breaking thread holds the mutex until the queue has arrived down the
            // chain: going on only after taking it queues this producer's item behind its earlier
            // ones that are being moved (C4, C12).
            std::lock_guard locker(m_mutex);
            *next = m_old;
            return false;
        }
        if (!old && !keepAlive)
            keepAlive = shared_from_this();
        item->m_next = old;
    } while (!m_inbox.compare_exchange_weak(old, item, std::memory_order_seq_cst,
                                            std::memory_order_relaxed));
    if (!old)
        wake(wakeAfterEmptyPush(false));
    return true;
}

WorkItem *ExecutorState::pushLocked(WorkItem *newest, WorkItem *oldest)
{
    WorkItem *old = m_inbox.load(std::memory_order_relaxed);
    do {
        oldest->m_next = old;
    } while (!m_inbox.compare_exchange_weak(old, newest, std::memory_order_seq_cst,
                                            std::memory_order_relaxed));
    return old;
}

WorkItem *ExecutorState::reversed(WorkItem *first) noexcept
{
    WorkItem *last = nullptr;
    while (first)
        last = std::exchange(first, std::exchange(first->m_next, last));
    return last;
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
        std::lock_guard latestLocker(m_latestMutex);
        if (LatestItem *queued = m_latest.value(key)) {
            std::swap(queued->payload, payload); // the caller destroys the old one, unlocked
            ++m_replaced; // X10: the replaced callable was accepted, and is cancelled
            return true;
        }
        fresh->payload = std::move(payload);
        m_latest.insert(key, fresh);
        if (!pushLocked(fresh, fresh)) {
            needed = wakeAfterEmptyPush(true);
            keepAlive = shared_from_this();
        }
    }
    wake(needed);
    return true;
}

std::unique_ptr<WorkItem> ExecutorState::takeLatestPayload(LatestItem *item)
{
    // Not m_mutex: the owner thread calls this with its claim on the item open, and a thread
    // that breaks the executor holds m_mutex while it waits for that claim to close (C4).
    std::lock_guard locker(m_latestMutex);
    const auto it = m_latest.constFind(item->key);
    if (it != m_latest.cend() && it.value() == item)
        m_latest.erase(it);
    return std::move(item->payload);
}

void LatestItem::run() noexcept
{
    if (auto work = home->takeLatestPayload(this)) {
        ranName = work->callableName(); // X10: a report about this item names the payload
        passClaimTo(*work); // the payload starts or skips itself (X8 context), for the books
        ExecutorState::runItem(work.release());
    } else {
        begin(true); // not reached: a queued latest-item always holds a payload
    }
}

void LatestItem::fail(const std::exception_ptr &error) noexcept
{
    if (auto work = home->takeLatestPayload(this))
        work->fail(error);
}

ExecutorState::Refill ExecutorState::refillLocked(std::size_t steps)
{
    if (broken.load(std::memory_order_relaxed)) {
        // The breaking thread took the batch and any walk in progress (takeAllLocked()): forget
        // the walk, whose items are not ours any more.
        m_walkRest = nullptr;
        m_walked.clear();
        return Refill::Nothing;
    }
    if (!m_walkRest) {
        m_walkRest = m_inbox.exchange(nullptr, std::memory_order_acquire);
        if (!m_walkRest)
            return Refill::Nothing;
    }
    for (; m_walkRest && steps > 0; --steps) {
        m_walked.push_back(m_walkRest);
        m_walkRest = m_walkRest->m_next;
    }
    if (m_walkRest)
        return Refill::Walking;

    std::uint64_t claimed = m_claimed.load(std::memory_order_relaxed);
    if (claimed == m_batch.size()) {
        // Used up: start afresh, giving back the memory of a flood once it is over. The claims
        // of the old batch move into m_claimedBefore (under m_mutex, as stats() reads it).
        m_claimedBefore.store(m_claimedBefore.load(std::memory_order_relaxed) + claimed,
                              std::memory_order_relaxed);
        if (m_batch.capacity() > 4096)
            std::vector<WorkItem *>().swap(m_batch);
        m_batch.clear();
        claimed = 0;
    }
    m_batch.insert(m_batch.end(), m_walked.rbegin(), m_walked.rend()); // oldest first (C4)
    if (m_walked.capacity() > 4096)
        std::vector<WorkItem *>().swap(m_walked);
    m_walked.clear();
    m_claimed.store(claimed, std::memory_order_relaxed);
#if QDISPATCH_DIAGNOSTICS
    // X10: the queue is longest right before the owner takes it.
    m_peakPending = std::max<std::uint64_t>(m_peakPending, m_batch.size() - claimed);
#endif
    return Refill::Ready;
}

WorkItem *ExecutorState::takeNext(bool *walking)
{
    *walking = false;
    for (;;) {
        std::uint64_t index = m_claimed.load(std::memory_order_relaxed);
        if (index < m_batch.size()) {
            WorkItem *const item = m_batch[index];
            // The claim opens before the compare-and-swap and is closed by the item when it
            // starts or skips (WorkItem::begin()). Release: a thread that sees the claim also
            // sees it open (stats(), and the thread that breaks the executor, wait for it).
            m_claimWindow.open();
            // Uncontended unless another thread is breaking the executor right now and takes
            // the rest of the batch; then that thread hands this item down the chain instead.
            if (!m_claimed.compare_exchange_strong(index, index + 1, std::memory_order_release,
                                                   std::memory_order_relaxed)) {
                m_claimWindow.close(false);
                return nullptr;
            }
            QDISPATCH_TEST_POINT(TestPoint::ItemClaimed);
            item->m_window = &m_claimWindow;
            return item;
        }
        if (!walkInProgress() && m_inbox.load(std::memory_order_relaxed) == nullptr)
            return nullptr;
        Refill refill;
        {
            std::lock_guard locker(m_mutex);
            refill = refillLocked(kWalkStep);
        }
        if (refill != Refill::Ready) {
            *walking = refill == Refill::Walking;
            return nullptr;
        }
    }
}

std::uint64_t ExecutorState::unclaimedLocked() const
{
    const std::uint64_t claimed = m_claimed.load(std::memory_order_relaxed);
    return claimed == kStolen ? 0 : m_batch.size() - claimed;
}

std::uint64_t ExecutorState::claimedTotal() const noexcept
{
    // m_claimedBefore first: a thread breaking the executor meanwhile folds the batch's claims
    // into it after it took the batch, so this never counts a claim twice (it may miss the
    // batch's claims once, which only makes a drain look again and find the batch gone).
    const std::uint64_t before = m_claimedBefore.load(std::memory_order_acquire);
    const std::uint64_t claimed = m_claimed.load(std::memory_order_acquire);
    return claimed == kStolen ? before : before + claimed;
}

std::uint64_t ExecutorState::inboxCountLocked() const
{
    if (broken.load(std::memory_order_relaxed))
        return 0; // handed on, or failed: a walk left behind is not ours any more
    std::uint64_t count = m_walked.size();
    for (WorkItem *item = m_walkRest; item; item = item->m_next)
        ++count;
    WorkItem *item = m_inbox.load(std::memory_order_acquire);
    for (; item && item != closedInbox(); item = item->m_next)
        ++count;
    return count;
}

namespace {

// The time slice of a drain. Reading the clock after every item costs a tenth of a tiny item's
// time, so it is read after every `stride` items: the stride doubles (up to 64) while that many
// items take less than 100 µs, and halves when they take more than 400 µs. A slice therefore
// overruns by at most about 400 µs while items keep their size. With a slow-item threshold set,
// the books read the clock after every item anyway, and their readings are used.
class TimeSlice
{
public:
    explicit TimeSlice(const ItemBooks &books) : m_books(books) { restart(); }

    void restart()
    {
        m_last = m_books.now();
        m_end = m_last + kTimeSlice;
        m_countdown = m_stride;
    }
    // `force`: read the clock whatever the stride (after a step that was not an item).
    bool usedUp(bool force = false)
    {
        if (m_books.timed() && !force)
            return m_books.now() >= m_end;
        if (--m_countdown > 0 && !force)
            return false;
        const Clock::time_point now = Clock::now();
        const auto took = now - std::exchange(m_last, now);
        if (took < std::chrono::microseconds(100))
            m_stride = std::min(m_stride * 2, 64);
        else if (took > std::chrono::microseconds(400))
            m_stride = std::max(m_stride / 2, 1);
        m_countdown = m_stride;
        return now >= m_end;
    }

private:
    const ItemBooks &m_books;
    Clock::time_point m_last;
    Clock::time_point m_end;
    int m_stride = 1;
    int m_countdown = 1;
};

} // namespace

void ExecutorState::drainTimeSliced()
{
    // From here on, new submissions post a fresh wake-up; cleared before the inbox is taken
    // (wakeAfterEmptyPush()).
    m_wakePosted.store(false, std::memory_order_seq_cst);
    ++drainDepth;
    ItemBooks books(*this); // X10
    TimeSlice slice(books);
    // C9: in the event loop of a wait with a deadline, no item starts once it has passed; the
    // rest waits for the next wake-up, after the wait has returned.
    const QDeadlineTimer *const deadline = WaitDeadlineScope::innermost();
    for (;;) {
        if (deadline && deadline->hasExpired()) {
            kick();
            break;
        }
        bool walking;
        WorkItem *const item = takeNext(&walking);
        if (item)
            books.run(item);
        else if (!walking)
            break;
        if (slice.usedUp(!item)) {
            kick(); // yield: paint and timers run before the next slice
            break;
        }
    }
    --drainDepth;
}

void ExecutorState::drainAcceptedSoFar(std::optional<QEventLoop::ProcessEventsFlags> events)
{
    ++drainDepth;
    ItemBooks books(*this); // X10
    TimeSlice slice(books);
    // Everything accepted so far goes behind the batch: the inbox taken after this call began
    // (a walk already under way holds older items only), put in order a step at a time when
    // events are to be processed meanwhile. Nested waits and a break may claim or take some of
    // it, so the end is counted in items claimed.
    std::uint64_t target;
    for (bool cut = false;;) {
        Refill refill;
        {
            std::lock_guard locker(m_mutex);
            cut = cut || !walkInProgress();
            refill = refillLocked(events ? kWalkStep : std::numeric_limits<std::size_t>::max());
            if (refill == Refill::Nothing || (refill == Refill::Ready && cut)) {
                target = claimedTotal() + unclaimedLocked();
                break;
            }
        }
        if (refill == Refill::Walking && slice.usedUp(true)) {
            QCoreApplication::processEvents(*events);
            books.restart();
            slice.restart();
        }
    }
    while (claimedTotal() < target) {
        bool walking;
        WorkItem *const item = takeNext(&walking);
        if (!item) {
            if (walking)
                continue; // a nested wait left a walk behind: what is ours comes after it
            break;
        }
        books.run(item);
        if (events && slice.usedUp()) {
            QCoreApplication::processEvents(*events);
            books.restart();
            slice.restart();
        }
    }
    --drainDepth;
}

bool ExecutorState::hasWorkForOwner() const
{
    // A broken executor has nothing left here: the breaking thread took it all (a walk it left
    // behind is stale until the owner drops it).
    WorkItem *const inbox = m_inbox.load(std::memory_order_seq_cst);
    if (inbox == closedInbox())
        return false;
    return inbox || m_claimed.load(std::memory_order_relaxed) < m_batch.size() || walkInProgress();
}

void ExecutorState::kick()
{
    // Owner thread: a wake-up for what is left of the batch or waits in the inbox.
    if (hasWorkForOwner() && !m_wakePosted.exchange(true, std::memory_order_seq_cst))
        wake(Wake{ true, false, nullptr });
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
    m_exclusiveWaiters.fetch_add(1, std::memory_order_seq_cst);
    if (relayed)
        std::swap(m_relay, relay);
    return relay; // the replaced relay (or nullptr when not relayed)
}

void ExecutorState::leaveExclusiveWait(std::shared_ptr<ExecutorState> previousRelay, bool relayed)
{
    {
        std::lock_guard locker(m_mutex);
        m_exclusiveWaiters.fetch_sub(1, std::memory_order_seq_cst);
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
    QDISPATCH_TEST_POINT(TestPoint::OwnerSleeps);
    std::unique_lock locker(m_mutex);
    if (!hasWorkForOwner() && !m_poked) {
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

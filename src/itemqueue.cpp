// An executor's queue (C3, C4): the lock-free inbox, the batch the owner thread claims from, the
// walk that puts a long inbox in order a step at a time (P5), the claim window, and the break
// that takes it all for the hand-off (C12). docs/architecture.md, "The queue", draws it.
#include "itemqueue_p.h"

#include <algorithm>
#include <thread>
#include <utility>

namespace qdispatch::detail {

ItemQueue::~ItemQueue()
{
    // Every path that drops the last reference to an executor's state has broken the executor
    // first, so nothing is queued here; this is a guard against a future change forgetting that.
    Q_ASSERT(m_inbox.load(std::memory_order_relaxed) == nullptr ||
             m_inbox.load(std::memory_order_relaxed) == closedInbox());
}

bool ItemQueue::pushOntoEmpty(WorkItem *item) noexcept
{
    WorkItem *empty = nullptr;
    item->m_next = nullptr;
    return m_inbox.compare_exchange_strong(empty, item, std::memory_order_seq_cst,
                                           std::memory_order_relaxed);
}

ItemQueue::Found ItemQueue::pushList(const StateLock &, WorkItem *newest, WorkItem *oldest) noexcept
{
    WorkItem *old = m_inbox.load(std::memory_order_relaxed);
    do {
        oldest->m_next = old;
    } while (!m_inbox.compare_exchange_weak(old, newest, std::memory_order_seq_cst,
                                            std::memory_order_relaxed));
    return old ? Found::Items : Found::Empty;
}

WorkItem *ItemQueue::reversed(WorkItem *first) noexcept
{
    WorkItem *last = nullptr;
    while (first)
        last = std::exchange(first, std::exchange(first->m_next, last));
    return last;
}

// The memory of a flood's batches is kept while the flood goes on, and given back once a batch
// of `taken` items needs less than a quarter of it. Each batch of a flood is about as long as the
// one before: allocated afresh, its pages would be new to the process, each a page fault on the
// owner thread, and a slower owner lets the next batch grow longer still.
void ItemQueue::keepWhileFlooded(std::vector<WorkItem *> &items, std::size_t taken)
{
    if (items.capacity() > kKeptCapacity && taken < items.capacity() / 4)
        std::vector<WorkItem *>().swap(items);
}

void ItemQueue::giveBackFloodMemory(std::mutex &stateMutex)
{
    StateLock lock(stateMutex);
    // Under the lock the inbox is closed exactly when the executor is broken, and then the
    // breaking thread has taken the batch (m_claimed is kStolen: nobody reads m_batch again).
    // Otherwise the batch is used up, as in refill(), which the caller saw.
    if (m_inbox.load(std::memory_order_relaxed) != closedInbox()) {
        const std::uint64_t claimed = m_claimed.load(std::memory_order_relaxed);
        Q_ASSERT(claimed == m_batch.size());
        if (claimed != m_batch.size())
            return; // never drop what is left to claim
        m_claimedBefore.store(m_claimedBefore.load(std::memory_order_relaxed) + claimed,
                              std::memory_order_relaxed);
        m_claimed.store(0, std::memory_order_relaxed);
    }
    m_walkRest = nullptr;
    std::vector<WorkItem *>().swap(m_batch);
    std::vector<WorkItem *>().swap(m_walked);
}

ItemQueue::Refill ItemQueue::refill(const StateLock &, std::size_t steps)
{
    if (m_inbox.load(std::memory_order_relaxed) == closedInbox()) {
        // Broken. The breaking thread took the batch and any walk in progress (takeAll()):
        // forget the walk, whose items are not ours any more.
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

    const std::size_t taken = m_walked.size();
    std::uint64_t claimed = m_claimed.load(std::memory_order_relaxed);
    if (claimed == m_batch.size()) {
        // Used up: start afresh. The claims of the old batch move into m_claimedBefore (under
        // the state lock, as counts() reads it).
        m_claimedBefore.store(m_claimedBefore.load(std::memory_order_relaxed) + claimed,
                              std::memory_order_relaxed);
        keepWhileFlooded(m_batch, taken);
        m_batch.clear();
        claimed = 0;
    }
    m_batch.insert(m_batch.end(), m_walked.rbegin(), m_walked.rend()); // oldest first (C4)
    keepWhileFlooded(m_walked, taken);
    m_walked.clear();
    m_claimed.store(claimed, std::memory_order_relaxed);
    notePending(m_batch.size() - claimed);
    return Refill::Ready;
}

void ItemQueue::takeInbox(std::mutex &stateMutex, Walk *walk)
{
    *walk = Walk::Done;
    if (!walkInProgress() && m_inbox.load(std::memory_order_relaxed) == nullptr) {
        if (Q_UNLIKELY(m_batch.capacity() > kKeptCapacity || m_walked.capacity() > kKeptCapacity))
            giveBackFloodMemory(stateMutex); // nothing is queued: a flood is over
        return;
    }
    Refill refilled;
    {
        StateLock lock(stateMutex);
        refilled = refill(lock, kWalkStep);
    }
    if (refilled == Refill::Nothing)
        return;
    QDISPATCH_TEST_POINT(TestPoint::InboxTaken);
    *walk = refilled == Refill::Walking ? Walk::InProgress : Walk::Refilled;
}

bool ItemQueue::hasWorkForOwner() const noexcept
{
    // A broken executor has nothing left here: the breaking thread took it all (a walk it left
    // behind is stale until the owner drops it).
    WorkItem *const inbox = m_inbox.load(std::memory_order_seq_cst);
    if (inbox == closedInbox())
        return false;
    return inbox || m_claimed.load(std::memory_order_relaxed) < m_batch.size() || walkInProgress();
}

std::uint64_t ItemQueue::claimedTotal() const noexcept
{
    // m_claimedBefore first: a thread breaking the executor meanwhile folds the batch's claims
    // into it after it took the batch, so this never counts a claim twice (it may miss the
    // batch's claims once, which only makes a drain look again and find the batch gone).
    const std::uint64_t before = m_claimedBefore.load(std::memory_order_acquire);
    const std::uint64_t claimed = m_claimed.load(std::memory_order_acquire);
    return claimed == kStolen ? before : before + claimed;
}

std::uint64_t ItemQueue::unclaimed(const StateLock &) const noexcept
{
    const std::uint64_t claimed = m_claimed.load(std::memory_order_relaxed);
    return claimed == kStolen ? 0 : m_batch.size() - claimed;
}

std::uint64_t ItemQueue::inboxCount(const StateLock &) const
{
    // No item can leave the inbox meanwhile: it is taken only under the state lock.
    if (m_inbox.load(std::memory_order_relaxed) == closedInbox())
        return 0; // broken: handed on, or failed; a walk left behind is not ours any more
    std::uint64_t count = m_walked.size();
    for (WorkItem *item = m_walkRest; item; item = item->m_next)
        ++count;
    for (WorkItem *item = m_inbox.load(std::memory_order_acquire); item; item = item->m_next)
        ++count;
    return count;
}

std::uint64_t ItemQueue::pending(const StateLock &lock) const
{
    const std::uint64_t pending = inboxCount(lock) + unclaimed(lock);
    notePending(pending);
    return pending;
}

ItemQueue::Counts ItemQueue::counts(const StateLock &lock) const
{
    // Under the state lock only producers (pushing onto the inbox, which is read once, as one
    // moment) and the owner thread (claiming) change the queue. The claims and the skips are
    // read together with the owner's claim window closed, so that an item taken and not yet
    // started or skipped is never seen, and nothing is counted twice or not at all.
    std::uint64_t claimed;
    std::uint64_t skipped;
    for (;;) {
        const std::uint64_t version = m_claimWindow.version.load(std::memory_order_acquire);
        if (version & 1) {
            std::this_thread::yield(); // a few instructions, unless the owner was preempted
            continue;
        }
        claimed = m_claimed.load(std::memory_order_acquire);
        skipped = m_claimWindow.skipped.load(std::memory_order_acquire);
        if (m_claimWindow.version.load(std::memory_order_relaxed) == version)
            break;
    }
    const std::uint64_t before = m_claimedBefore.load(std::memory_order_relaxed);
    const bool stolen = claimed == kStolen;
    Counts counts;
    counts.started = stolen ? before : before + claimed;
    counts.pending = inboxCount(lock) + (stolen ? 0 : m_batch.size() - claimed);
    counts.skipped = skipped;
    // Producers keep no count: the owner notes the length when it takes the inbox, and every
    // look from here or pending() counts too.
    notePending(counts.pending);
    counts.peakPending = m_peakPending;
    return counts;
}

void ItemQueue::notePending([[maybe_unused]] std::uint64_t pending) const noexcept
{
#if QDISPATCH_DIAGNOSTICS
    m_peakPending = std::max(m_peakPending, pending);
#endif
}

WorkItem *ItemQueue::takeAll(const StateLock &, std::uint64_t *count)
{
    // The rest of the batch first: the owner claims nothing more once m_claimed is kStolen, and
    // the item it claimed before is the one running (C3: never twice).
    WorkItem *first = nullptr;
    WorkItem **link = &first;
    *count = 0;
    const auto append = [&](WorkItem *item) {
        *link = item;
        link = &item->m_next;
        ++*count;
    };
    const auto appendReversed = [&](WorkItem *newest) {
        for (WorkItem *item = reversed(newest); item;)
            append(std::exchange(item, item->m_next));
    };
    // Acquire: an item the owner claimed before this is seen with its claim window open.
    const std::uint64_t claimed = m_claimed.exchange(kStolen, std::memory_order_acq_rel);
    if (claimed != kStolen) {
        m_claimedBefore.store(m_claimedBefore.load(std::memory_order_relaxed) + claimed,
                              std::memory_order_release);
        for (std::uint64_t i = claimed; i < m_batch.size(); ++i)
            append(m_batch[i]);
    }
    // Then an inbox the owner was putting in order: the older part it had not seen yet, then
    // what it had (newest first, so from the back). Only read here: the owner reads these two
    // without the lock, and drops them itself once it sees the inbox closed.
    appendReversed(m_walkRest);
    std::for_each(m_walked.rbegin(), m_walked.rend(), append);
    // Then the inbox, newest first: reversed onto the end.
    appendReversed(m_inbox.exchange(closedInbox(), std::memory_order_acquire));
    *link = nullptr;
    notePending(*count); // X10: a backlog taken at a break counts
    // C4: the item the owner thread took last may not have started yet (the owner may have been
    // preempted right after taking it). What is handed down must not start before it, so wait
    // until it starts or skips: a few instructions away, none of which takes the state lock.
    if (m_claimWindow.isOpen()) {
        QDISPATCH_TEST_POINT(TestPoint::HandOffWaitsForClaim);
        while (m_claimWindow.isOpen())
            std::this_thread::yield();
    }
    return first;
}

void ItemQueue::failAll(WorkItem *first, const std::exception_ptr &error) noexcept
{
    while (first) {
        WorkItem *next = std::exchange(first->m_next, nullptr); // no claim to close (begin())
        first->fail(error);
        delete first; // C12: never ran, so destroyed on the thread that broke the executor
        first = next;
    }
}

} // namespace qdispatch::detail

// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// An executor's queue: the lock-free inbox producers push onto, the batch the owner thread claims
// its items from, and what a break takes from both (docs/architecture.md, "The queue").
#pragma once

#include "statelock_p.h"
#include "testhooks_p.h"

#include <qdispatch/currentthreadexecutor.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <vector>

namespace qdispatch::detail {

// The queue is two lists:
// - the inbox, where producers push with one compare-and-swap, newest first: nullptr when empty,
//   closedInbox() once the executor is broken;
// - the batch, the items the owner thread took from the inbox at once, oldest first, which it
//   claims one by one without a lock. m_claimed is the index of the next one to claim; the
//   thread that breaks the executor takes what is left by exchanging it for kStolen.
// - between the two, a taken inbox being put in order: m_walked holds the items seen so far
//   (newest first), m_walkRest the older rest of the list, not yet seen.
// m_batch, m_walked and m_walkRest change only on the owner thread and under the state lock; the
// owner reads them without it, other threads only under it (the breaking thread too: the owner
// drops what it took once it sees the inbox closed). The inbox is taken and closed only under
// the state lock, so under it the inbox is closed exactly when the executor is broken.
//
// Between taking an item and starting it, the owner holds a claim on it (ClaimWindow), which
// the item closes when it starts or skips (WorkItem::begin()).
class ItemQueue
{
public:
    // How many items of a taken inbox one step puts in order: about 100 µs of work.
    static constexpr std::size_t kWalkStep = 4096;

    // What takeNext() leaves to do when it returns no item.
    enum class Walk {
        Done, // nothing: the queue is empty, or the executor broke
        InProgress, // a taken inbox is being put in order: call again
        // The inbox was just put behind the batch: call again, after looking at the deadline.
        // Taking it may have waited for the state lock (a pendingCount() walks the inbox under
        // it), and no item may start once a wait's deadline has passed meanwhile (C9).
        Refilled
    };
    // What a refill did.
    enum class Refill {
        Nothing, // the inbox was empty, or the executor broke
        Ready, // the inbox is behind the batch, in order
        Walking // part of the inbox is in order: refill again
    };
    // What a push found in the inbox.
    enum class Found { Items, Empty, Closed };

    ItemQueue() = default;
    ~ItemQueue();
    ItemQueue(const ItemQueue &) = delete;
    ItemQueue &operator=(const ItemQueue &) = delete;

    // --- Producers (any thread) ---

    // The steady state of a burst, small enough to inline where items are routed: links `item`
    // in front of the items the inbox holds, with one compare-and-swap. Returns Found::Items
    // when it did; pushes nothing onto an inbox that is empty or closed, and says which.
    Found pushOntoItems(WorkItem *item) noexcept
    {
        WorkItem *old = m_inbox.load(std::memory_order_relaxed);
        while (old && old != closedInbox()) {
            item->m_next = old;
            if (m_inbox.compare_exchange_weak(old, item, std::memory_order_seq_cst,
                                              std::memory_order_relaxed))
                return Found::Items;
        }
        return old ? Found::Closed : Found::Empty;
    }
    // Pushes `item` onto an empty inbox; false, pushing nothing, when it is not empty any more.
    bool pushOntoEmpty(WorkItem *item) noexcept;
    // Puts the list newest..oldest (linked newest first) into the inbox, which cannot close
    // meanwhile. Returns Found::Empty when the inbox was empty before, else Found::Items.
    Found pushList(const StateLock &, WorkItem *newest, WorkItem *oldest) noexcept;
    // After a push onto an empty inbox: whether it must post a wake-up event (none is on its way
    // since the last drain began), one per burst.
    bool needsWakeUp() noexcept { return !m_wakePosted.exchange(true, std::memory_order_seq_cst); }

    // --- The owner thread ---

    // Claims the oldest item, or returns nullptr when none is queued (or the executor broke).
    // One uncontended compare-and-swap per item; the inbox is taken, whole, when the batch is
    // used up. The claim stays open until the item starts or skips (ClaimWindow): run it.
    // Putting a long inbox in order takes a while (about 30 ns an item), so it is done a step at
    // a time: nullptr with Walk::InProgress means "more to come, call again", which lets a drain
    // keep its time slice meanwhile (C3, P5). `stateMutex` is taken once per batch, and the
    // call that takes it claims nothing (Walk::Refilled).
    WorkItem *takeNext(std::mutex &stateMutex, Walk *walk)
    {
        const std::uint64_t index = m_claimed.load(std::memory_order_relaxed);
        if (index < m_batch.size()) {
            *walk = Walk::Done;
            return claim(index);
        }
        takeInbox(stateMutex, walk);
        return nullptr;
    }
    // A drain begins: from here on a push onto an empty inbox posts a fresh wake-up. Cleared
    // before the drain takes the inbox, so a push that finds it set is taken by that drain.
    void wakeUpArrived() noexcept { m_wakePosted.store(false, std::memory_order_seq_cst); }
    // Puts the inbox, in order, behind the batch, seeing at most `steps` items of it this time.
    Refill refill(const StateLock &, std::size_t steps);
    // Owner thread, or under the state lock.
    bool walkInProgress() const noexcept { return m_walkRest || !m_walked.empty(); }
    // Whether anything is queued for the owner (inbox, batch or a walk), for a wake-up and the
    // ExecutorOnly sleep. Owner thread.
    bool hasWorkForOwner() const noexcept;
    // Items the owner thread has claimed, ever: exact under the state lock with the claim
    // window closed (counts()); on the owner thread, exact unless the executor breaks meanwhile.
    std::uint64_t claimedTotal() const noexcept;
    std::uint64_t unclaimed(const StateLock &) const noexcept;
    // After an item ran. Every item closes its claim when it starts or skips
    // (WorkItem::begin()); one that did not must not leave counts() and a breaking thread
    // waiting for ever.
    void closeClaimLeftOpen() noexcept
    {
        if (Q_UNLIKELY(m_claimWindow.isOpen()))
            m_claimWindow.close(false); // not counted as skipped
    }

    // --- Any thread, under the state lock ---

    // What is queued now: inbox, walk and the unclaimed rest of the batch.
    std::uint64_t pending(const StateLock &) const;
    struct Counts
    {
        std::uint64_t pending = 0;
        std::uint64_t started = 0; // claimed, ever
        std::uint64_t skipped = 0; // of those, skipped instead of called (C6, X8)
        std::uint64_t peakPending = 0; // X10
    };
    // One moment's counts: never an item half-way between pending and started (X10).
    Counts counts(const StateLock &) const;

    // X11: calls found(item) for each queued item that a reader may look at under the state
    // lock: the inbox and a walk in progress, which change only under it. Not the batch, which
    // the owner claims from without the lock and whose items may be gone any moment; returns
    // how many items wait there.
    template<typename F> std::uint64_t forEachReadable(const StateLock &lock, F &&found) const
    {
        if (m_inbox.load(std::memory_order_relaxed) == closedInbox())
            return 0;
        for (WorkItem *item = m_walkRest; item; item = item->m_next)
            found(static_cast<const WorkItem *>(item));
        for (WorkItem *item : m_walked)
            found(static_cast<const WorkItem *>(item));
        for (WorkItem *item = m_inbox.load(std::memory_order_acquire); item; item = item->m_next)
            found(static_cast<const WorkItem *>(item));
        return unclaimed(lock);
    }

    // --- Breaking (any thread, under the state lock) ---

    // Closes the inbox and takes everything still queued, oldest first (linked), and its count.
    // Returns once the item the owner took last has started (C4).
    WorkItem *takeAll(const StateLock &, std::uint64_t *count);
    // Items no live executor took: each one fails with `error` and is destroyed here (C12).
    static void failAll(WorkItem *first, const std::exception_ptr &error) noexcept;

    // --- The link of a queued item ---

    static WorkItem *next(const WorkItem *item) noexcept { return item->m_next; }
    // An item run without being queued (X3) may have been linked by a push that failed.
    static void unlink(WorkItem *item) noexcept { item->m_next = nullptr; }
    // Turns a list round; returns its new first item.
    static WorkItem *reversed(WorkItem *first) noexcept;

private:
    static WorkItem *closedInbox() noexcept
    {
        return reinterpret_cast<WorkItem *>(alignof(WorkItem));
    }
    static constexpr std::uint64_t kStolen = ~std::uint64_t(0);

    WorkItem *claim(std::uint64_t index)
    {
        WorkItem *const item = m_batch[index];
        // The claim opens before the compare-and-swap and is closed by the item when it starts
        // or skips (WorkItem::begin()). Release: a thread that sees the claim also sees it open
        // (counts(), and the thread that breaks the executor, wait for it).
        m_claimWindow.open();
        // Uncontended unless another thread is breaking the executor right now and takes the
        // rest of the batch; then that thread hands this item down the chain instead.
        if (!m_claimed.compare_exchange_strong(index, index + 1, std::memory_order_release,
                                               std::memory_order_relaxed)) {
            m_claimWindow.close(false); // not counted as skipped: it was never taken
            return nullptr;
        }
        QDISPATCH_TEST_POINT(TestPoint::ItemClaimed);
        item->m_window = &m_claimWindow;
        return item;
    }
    // takeNext() once the batch is used up: puts (part of) the inbox behind it, claiming nothing.
    void takeInbox(std::mutex &stateMutex, Walk *walk);
    std::uint64_t inboxCount(const StateLock &) const;
    // X10: the queue is longest right before the owner takes it; a look at it counts too.
    void notePending(std::uint64_t pending) const noexcept;
    // What a batch's vectors keep when empty, at most, once a flood is over.
    static constexpr std::size_t kKeptCapacity = 4096;
    static void keepWhileFlooded(std::vector<WorkItem *> &items, std::size_t taken);
    // Owner thread, with nothing queued and the batch used up: gives back what a flood kept.
    void giveBackFloodMemory(std::mutex &stateMutex);

    // The producers' cache line: the inbox, and the flag a push onto an empty inbox changes.
    alignas(64) std::atomic<WorkItem *> m_inbox { nullptr };
    std::atomic<bool> m_wakePosted { false }; // a wake-up event is queued and not yet handled
    // The owner's cache line: what it writes per item.
    alignas(64) std::atomic<std::uint64_t> m_claimed { 0 };
    ClaimWindow m_claimWindow;
    std::vector<WorkItem *> m_batch;
    std::vector<WorkItem *> m_walked;
    WorkItem *m_walkRest = nullptr;
    // The claims of earlier batches (and of the batch a break took): changed under the state
    // lock only.
    std::atomic<std::uint64_t> m_claimedBefore { 0 };
    // X10, under the state lock: the most items seen queued at once (sampled: see counts()).
    mutable std::uint64_t m_peakPending = 0;
};

} // namespace qdispatch::detail

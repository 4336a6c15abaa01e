// The chain of executors and breaking (C10, C11, C12): the links to older executors and how dead
// ones are skipped, the in-order hand-off of a broken executor's queue down the chain, and the
// owner's end. Built on the queue (queue.cpp).
#include "diagnostics_p.h"
#include "errors_p.h"
#include "executorstate_p.h"
#include "testhooks_p.h"

#include <QtCore/QSet>
#include <QtCore/QThread>

#include <algorithm>
#include <thread>

namespace qdispatch::detail {

void ExecutorState::releaseLink(std::shared_ptr<ExecutorState> link)
{
    // Dropping the last reference to a state drops its own link, and so on down the chain: a
    // recursion as deep as the chain, which overflowed the stack (20,000 executors were enough
    // on a 1 MiB stack). The outermost call on a thread releases them one by one;
    // the calls nested in it only hand their link over.
    thread_local std::vector<std::shared_ptr<ExecutorState>> *t_pending = nullptr;
    if (!link)
        return;
    if (t_pending) {
        t_pending->push_back(std::move(link));
        return;
    }
    std::vector<std::shared_ptr<ExecutorState>> pending;
    t_pending = &pending;
    pending.push_back(std::move(link));
    while (!pending.empty()) {
        std::shared_ptr<ExecutorState> last = std::move(pending.back());
        pending.pop_back();
        last.reset(); // may destroy it, which pushes its own link
    }
    t_pending = nullptr;
}

void ExecutorState::skipDeadLinks()
{
    std::shared_ptr<ExecutorState> start;
    {
        std::lock_guard locker(m_mutex);
        start = m_old;
    }
    std::shared_ptr<ExecutorState> live = start;
    while (live) {
        std::shared_ptr<ExecutorState> older;
        {
            std::lock_guard locker(live->m_mutex);
            if (!live->broken.load(std::memory_order_relaxed))
                break;
            older = live->m_old;
        }
        live = std::move(older);
    }
    if (live == start)
        return;
    std::shared_ptr<ExecutorState> dropped;
    {
        std::lock_guard locker(m_mutex);
        if (m_old == start) // else someone else moved it meanwhile, as far or further
            dropped = std::exchange(m_old, std::move(live));
    }
    start.reset();
    releaseLink(std::move(dropped)); // unlocked: it may free a long dead stretch
}

CurrentThreadExecutor *ExecutorState::givenOldExecutor() const
{
    const std::shared_ptr<ExecutorState> given = m_givenOld.lock();
    return given ? given->executor.load(std::memory_order_acquire) : nullptr;
}

bool ExecutorState::pushHandOff(WorkItem *first, const std::vector<LatestItem *> &latest,
                                std::shared_ptr<ExecutorState> *next,
                                std::shared_ptr<ExecutorState> *relay)
{
    Wake needed;
    std::shared_ptr<ExecutorState> keepAlive;
    {
        std::lock_guard locker(m_mutex);
        if (broken.load(std::memory_order_relaxed)) {
            *next = m_old;
            return false;
        }
        // X2: each key now names its item here. The moved item sits behind anything queued
        // here already, so it is the one a later postLatest() replaces: the newest value still
        // runs last (C4), and an older item here with the same key simply runs.
        if (!latest.empty()) {
            std::lock_guard latestLocker(m_latestMutex);
            for (LatestItem *item : latest) {
                item->home = shared_from_this();
                m_latest.insert(item->key, item);
            }
        }
        // The inbox holds the newest item first: the list goes in the other way round, behind
        // everything queued here so far (`first`, its oldest, ends up last).
        if (!pushLocked(reversed(first), first)) {
            needed = wakeAfterEmptyPush(true);
            keepAlive = shared_from_this();
        }
    }
    // The breaking thread still holds its own mutex, and the relay may be that very executor
    // (or any other): it pokes the relay once it has let go (locks nest only down the chain).
    *relay = std::move(needed.relay);
    wake(needed);
    return true;
}

WorkItem *ExecutorState::takeAllLocked(std::uint64_t *count)
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
    // without the lock, and drops them itself once it sees the executor broken.
    appendReversed(m_walkRest);
    std::for_each(m_walked.rbegin(), m_walked.rend(), append);
    // Then the inbox, newest first: reversed onto the end.
    appendReversed(m_inbox.exchange(closedInbox(), std::memory_order_acquire));
    *link = nullptr;
#if QDISPATCH_DIAGNOSTICS
    m_peakPending = std::max(m_peakPending, *count); // X10: a backlog taken at a break counts
#endif
    // C4: the item the owner thread took last may not have started yet (the owner may have been
    // preempted right after taking it). What is handed down must not start before it, so wait
    // until it starts or skips: a few instructions away, none of which takes m_mutex.
    if (m_claimWindow.isOpen()) {
        QDISPATCH_TEST_POINT(TestPoint::HandOffWaitsForClaim);
        while (m_claimWindow.isOpen())
            std::this_thread::yield();
    }
    return first;
}

void ExecutorState::breakAndHandOff()
{
    WorkItem *first;
    std::uint64_t count = 0;
    std::shared_ptr<ExecutorState> hold; // the link being followed
    std::shared_ptr<ExecutorState> relay; // to poke once unlocked (X3)
    {
        // Held until the queue has arrived down the chain. A producer that meets this executor
        // broken goes on down the chain only after taking this mutex (push() fails here), so
        // its later items queue behind its earlier ones that are being moved (C4, C12).
        // Locks are only ever nested down the chain, which has no cycles.
        std::lock_guard locker(m_mutex);
        if (broken.load(std::memory_order_relaxed))
            return;
        broken.store(true, std::memory_order_release);
        first = takeAllLocked(&count);
        // X2: the latest-items still queued (an item claimed to run may still be listed until
        // it takes its payload) stay replaceable where they go.
        std::vector<LatestItem *> latest;
        std::unique_lock latestLocker(m_latestMutex);
        if (!m_latest.isEmpty() && first) {
            QSet<const WorkItem *> listed;
            for (LatestItem *item : std::as_const(m_latest))
                listed.insert(item);
            for (WorkItem *item = first; item && latest.size() < size_t(listed.size());
                 item = item->m_next) {
                if (listed.contains(item))
                    latest.push_back(static_cast<LatestItem *>(item));
            }
        }
        m_latest.clear();
        latestLocker.unlock();
        m_wake.notify_all();
        if (first) {
            // C12: the queue moves, in order and in one piece, to the nearest live executor
            // down the chain; only when there is none does each item fail.
            std::shared_ptr<ExecutorState> next = m_old;
            while (next) {
                hold = std::move(next);
                if (hold->pushHandOff(first, latest, &next, &relay)) {
                    first = nullptr;
                    m_handedOff += count; // X10
                    break;
                }
            }
            if (first)
                m_failed += count; // X10
        }
    }
    if (relay)
        relay->poke();
    skipDeadLinks(); // C11: this executor is dead now; whatever links to it passes through
    if (!first)
        return;
    // No live executor was left: each item fails, outside the lock (fail() finishes futures
    // and may resume coroutines).
    const std::exception_ptr error = brokenError();
    while (first) {
        WorkItem *next = std::exchange(first->m_next, nullptr); // no claim to close (begin())
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


} // namespace qdispatch::detail

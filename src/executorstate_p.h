// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// An executor's state, made of its parts: the queue (ItemQueue), the link down the chain
// (ChainLink), the owner's ExecutorOnly sleep (OwnerSleep), the receiver of its wake-ups
// (ReceiverSlot), postLatest's map (LatestMap) and X10's books (ExecutorBooks), with the mutex
// that guards them. The waits and the thread registry build on it (docs/architecture.md draws
// the whole life of an item, and says which file holds what).
#pragma once

#include "chainlink_p.h"
#include "executorbooks_p.h"
#include "itemqueue_p.h"
#include "latestmap_p.h"
#include "ownersleep_p.h"
#include "receiver_p.h"
#include "statelock_p.h"
#include "threadname_p.h"

#include <qdispatch/currentthreadexecutor.h>

#include <QtCore/QDeadlineTimer>
#include <QtCore/QEventLoop>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace qdispatch::detail {

// Everything an executor is made of. Shared: the executor owns it, newer executors hold it as
// their chain link, the owner thread's record holds it until the thread ends, and a drain in
// progress holds it, so that destroying the executor in the middle of anything is safe.
//
// Locking: m_mutex, the state lock, guards the parts as each of them says (their functions that
// need it take a StateLock), m_ownerFinished and the changes of `broken`. A thread holds at most
// one state lock at a time, except during a hand-off, which nests them down the chain only (this
// executor's, then its old executor's), and the chain has no cycles. The receiver slot and
// postLatest's map have mutexes of their own (docs/architecture.md, "Locks").
class ExecutorState : public std::enable_shared_from_this<ExecutorState>
{
public:
    using Walk = ItemQueue::Walk;

    ExecutorState(CurrentThreadExecutor *executor, std::shared_ptr<ExecutorState> old);
    // X9: an executor bound from outside to `target`, which may not have started yet, so its
    // thread id is not known here: it is learnt on that thread (isOwnedBy()).
    explicit ExecutorState(QThread *target);
    ~ExecutorState();

    // --- Producers (any thread) ---

    // Queues `item` on the nearest live executor of the chain starting here (C11). When that
    // executor belongs to the calling thread, `onOwnThread` says what happens instead (C7, X1,
    // X3). Throws ExecutorError{Broken} when none is alive.
    void route(std::unique_ptr<WorkItem> item, OnOwnThread onOwnThread);
    // Appends `item` unless this executor is broken: one compare-and-swap on the inbox, plus the
    // wake-up when the inbox was empty. Returns false, keeping nothing, when it is broken; then
    // `next` receives the next link of the chain, read once the hand-off there is complete.
    bool push(WorkItem *item, std::shared_ptr<ExecutorState> *next)
    {
        // The steady state of a burst, inlined into route(): the inbox already holds items, so
        // this push wakes nobody and needs no reference to this state.
        if (m_queue.pushOntoItems(item) == ItemQueue::Found::Items)
            return true;
        return pushOntoEmptyOrClosed(item, next);
    }
    // As push(), for a broken executor's queue `first` (linked oldest first, relinked here): the
    // latest-items among it that were still replaceable stay replaceable here, by their keys
    // (X2). The caller holds its own state lock: `relay` receives the executor to poke() once it
    // has let go.
    bool pushHandOff(WorkItem *first, const std::vector<LatestItem *> &latest,
                     std::shared_ptr<ExecutorState> *next, std::shared_ptr<ExecutorState> *relay);
    // X2: replaces the payload of the queued item with this key (handing the old payload back
    // in `payload`), or queues `fresh` carrying it. Returns false when broken.
    bool pushLatest(const void *key, std::unique_ptr<WorkItem> &payload, LatestItem *fresh,
                    std::shared_ptr<ExecutorState> *next);
    // X2: the payload of a latest-item about to run or fail; it stops being replaceable.
    std::unique_ptr<WorkItem> takeLatestPayload(LatestItem *item) { return m_latest.take(item); }
    // Producers, before push() or pushLatest() (X10).
    void stampIfTimed(WorkItem *item) const noexcept { m_books.stampIfTimed(item); }

    // --- The owner thread ---

    // Claims the oldest item, or returns nullptr (ItemQueue::takeNext()). Run it.
    WorkItem *takeNext(Walk *walk) { return m_queue.takeNext(m_mutex, walk); }
    // Runs one item and destroys it, on the calling thread (C5, C12).
    static void runItem(WorkItem *item) noexcept;
    // X12: as runItem(), recording the run on `state`'s timeline.
    static void runItemTraced(WorkItem *item, const ExecutorState *state) noexcept;
    // Runs items until the queue is empty, or the time slice is used up, in which case one more
    // wake-up is posted so that paint and timers run in between (C3).
    void drainTimeSliced();
    // Runs every item accepted so far (and, nested, whatever they wait for) (C8). With `events`,
    // it lets the thread process its pending events after every time slice, so that finishing a
    // long backlog does not freeze paint and timers. Starts no item once `deadline` has passed
    // (C9): then it returns false, with the rest still queued and a wake-up posted for it.
    bool drainAcceptedSoFar(std::optional<QEventLoop::ProcessEventsFlags> events,
                            QDeadlineTimer deadline = QDeadlineTimer(QDeadlineTimer::Forever));
    // Posts a wake-up when items are queued and none is on its way.
    void kick();

    // The owner thread's sleep in an ExecutorOnly wait (waits.cpp). While it is entered,
    // producers that fill an empty queue signal it, and, for ExclusiveRole::Relay, poke `relay`
    // too: the executor whose sleep a wait serving several executors sleeps in (X3). enter
    // returns the relay it replaced; leave puts that one back.
    std::shared_ptr<ExecutorState> enterExclusiveWait(std::shared_ptr<ExecutorState> relay,
                                                      ExclusiveRole role);
    void leaveExclusiveWait(std::shared_ptr<ExecutorState> previousRelay, ExclusiveRole role);
    // Owner thread, without the lock: whether the queue holds anything for it (the spin before
    // the sleep polls this; only the sleep's own check under the lock is final).
    bool hasWorkForOwner() const noexcept { return m_queue.hasWorkForOwner(); }
    // Sleeps while the queue is empty and nobody poked, at most until `deadline`. It may also
    // wake for no reason: the caller looks at its future and the queues again.
    void sleepUntilWork(QDeadlineTimer deadline);
    // Any thread: wakes an ExecutorOnly wait so that it looks at its future again.
    void poke();

    // --- Breaking (any thread) ---

    // Marks the executor broken and hands its queue down the chain (C10, C12). Idempotent.
    void breakAndHandOff();
    void markOwnerFinished();
    bool ownerFinished() const;
    void attachReceiver(Receiver *receiver) { m_receivers.attach(receiver); }
    // Detaches the receiver, so that no producer posts to it any more.
    Receiver *takeReceiver() { return m_receivers.take(); }
    // For an executor destroyed on a foreign thread: parks its receiver until the owner thread
    // ends (the receiver may be handling an event there right now), or hands it back for
    // deletion at once when that thread has already finished.
    Receiver *parkReceiver(Receiver *receiver);
    Receiver *takeParkedReceiver();

    // C11: points the chain link past every dead executor behind it. Dead means broken and,
    // since that was seen under the executor's own state lock, done handing off: it can never
    // accept work again, so skipping it without its lock cannot overtake a hand-off (C4).
    // Called when this executor is constructed and breaks, and by routes that met dead links.
    void skipDeadLinks();
    // The executor given at construction, while it exists (oldExecutor()).
    CurrentThreadExecutor *givenOldExecutor() const;

    // --- X10: seeing inside (any thread) ---

    quint64 pendingCount() const;
    ExecutorStats stats() const;
    // Zero switches one off.
    void setSlowItemThresholds(std::chrono::nanoseconds run, std::chrono::nanoseconds delivery);
    std::chrono::nanoseconds slowRunThreshold() const;
    std::chrono::nanoseconds slowDeliveryThreshold() const;
    std::chrono::nanoseconds slowItemTimeResolution() const;
    // The owner thread's name for reports: its objectName() if set, else its id.
    QString ownerLabel() const;
    // X11: found(item) for each queued item that may be looked at (ItemQueue::forEachReadable());
    // returns how many items the owner has taken off the queue and not yet started.
    template<typename F> std::uint64_t scanQueued(F &&found) const
    {
        StateLock lock(m_mutex);
        return m_queue.forEachReadable(lock, found);
    }

    // Immutable after construction.
    QThread *const thread;
    const Qt::HANDLE threadId; // nullptr for executorOf()'s executors (X9): see isOwnedBy()

    // C7, X3: whether the thread with id `self` (QThread::currentThreadId()) owns this executor.
    // One compare, except for an executor of executorOf() whose thread has not yet been seen.
    bool isOwnedBy(Qt::HANDLE self) const noexcept
    {
        return threadId ? threadId == self : isOwnedByLearnt(self);
    }

    std::atomic<CurrentThreadExecutor *> executor;
    std::atomic<bool> broken { false }; // written under the state lock
    int drainDepth = 0; // owner thread only
    // X11: this state's place in the registry of executors (waitchains.cpp), under its mutex.
    ExecutorState *listedPrev = nullptr;
    ExecutorState *listedNext = nullptr;
    bool listed = false;
    std::uint64_t recordKey = 0; // owner thread only: its place in the thread's record

private:
    // X10, X11: the owner thread's name, while its QThread surely exists (the thread has not
    // finished and the executor is not broken); none after.
    std::optional<ThreadName> liveOwnerName(const StateLock &lock) const;
    // ItemBooks: the owner thread's drains keep the books of the items they run.
    friend class ItemBooks;

    // What a producer must do to wake the owner once its item is in, without the state lock.
    struct Wake
    {
        bool event = false; // post a wake-up event (none is on its way yet): one per burst
        bool sleeper = false; // signal the owner sleeping in an ExecutorOnly wait
        std::shared_ptr<ExecutorState> relay; // and poke this one (a wait serving several)
    };

    bool isOwnedByLearnt(Qt::HANDLE self) const noexcept;
    // push() when the inbox looked empty (then it wakes the owner) or closed (broken).
    bool pushOntoEmptyOrClosed(WorkItem *item, std::shared_ptr<ExecutorState> *next);
    // After a push found the inbox empty: what wakes the owner. The first takes the state lock
    // itself when it must, the second is called with it held.
    Wake wakeAfterEmptyPush();
    Wake wakeAfterEmptyPush(const StateLock &lock);
    // Called without the state lock.
    void wake(Wake wake);
    // C11: the next link of this executor when it is dead; none while it is alive.
    std::optional<std::shared_ptr<ExecutorState>> nextIfDead() const;

    // X9: the owner's id once seen on that thread; written only there, so a relaxed load on
    // any other thread sees either nullptr or an id that is not its own: both answer right.
    mutable std::atomic<Qt::HANDLE> m_learntThreadId { nullptr };

    // The state lock. Standard primitives on purpose: ThreadSanitizer follows them (it cannot
    // follow QMutex's inline fast path in a Qt that was not built for it).
    mutable std::mutex m_mutex;
    bool m_ownerFinished = false;
    // X10, X11: the owner thread's name as it was when the executor broke while its thread
    // still ran (its QThread may be gone since); how ownerLabel() names it from then on. Under
    // the state lock.
    std::optional<ThreadName> m_ownerNameAtBreak;
    ChainLink m_chain;
    ReceiverSlot m_receivers;
    LatestMap m_latest;
    ExecutorBooks m_books;
    OwnerSleep m_sleep;
    ItemQueue m_queue;
};

// Library-internal access to an executor's state (the main-thread executor needs a shared
// reference to it).
struct StateOf
{
    static std::shared_ptr<ExecutorState> get(const CurrentThreadExecutor &executor)
    {
        return executor.d;
    }
};

} // namespace qdispatch::detail

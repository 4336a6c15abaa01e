// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// An executor's state: its queue, the chain link to the executor it hands over to, and the QObject
// that lets the owner thread's event loop run the queue. Implemented in queue.cpp; the waits and
// the thread registry build on it (docs/architecture.md draws the whole life of an item).
#pragma once

#include <qdispatch/currentthreadexecutor.h>

#include <QtCore/QEventLoop>
#include <QtCore/QHash>
#include <QtCore/QObject>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace qdispatch::detail {

class ExecutorState;
class LatestItem;

// The QObject that lives in the owner thread and receives one wake-up event per burst of
// submissions. It exists only so that the owner thread's event loop runs our items.
class Receiver final : public QObject
{
public:
    explicit Receiver(std::shared_ptr<ExecutorState> state);
    bool event(QEvent *event) override;

private:
    std::shared_ptr<ExecutorState> m_state;
    // X9: a receiver made on one thread and moved to another (executorOf()) reaches that thread
    // through moveToThread() and Qt's event queue, which ThreadSanitizer cannot see. This
    // release/acquire pair orders the construction before every wake-up for it; one load per
    // wake-up event, not per item.
    std::atomic<bool> m_constructed{false};
};

// Everything an executor is made of. Shared: the executor owns it, newer executors hold it as
// their chain link, the owner thread's record holds it until the thread ends, and a drain in
// progress holds it, so that destroying the executor in the middle of anything is safe.
//
// Locking: m_mutex guards the queue and every field below it; m_receiverMutex guards only
// m_receiver. A thread holds at most one m_mutex at a time, except during a hand-off, which
// nests them down the chain only (this executor's, then its old executor's), and the chain has
// no cycles.
class ExecutorState : public std::enable_shared_from_this<ExecutorState>
{
public:
    ExecutorState(CurrentThreadExecutor *executor, std::shared_ptr<ExecutorState> old);
    // X9: an executor bound from outside to `target`, which may not have started yet, so its
    // thread id is not known here: it is learnt on that thread (threadexecutor.cpp).
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
        // The steady state of a burst, small enough to inline into route(): the inbox already
        // holds items, so this push wakes nobody and needs no reference to this state.
        WorkItem *old = m_inbox.load(std::memory_order_relaxed);
        while (old && old != closedInbox()) {
            item->m_next = old;
            if (m_inbox.compare_exchange_weak(old, item, std::memory_order_seq_cst,
                                              std::memory_order_relaxed))
                return true;
        }
        return pushOntoEmptyOrClosed(item, next);
    }
    // As push(), for a broken executor's queue `first` (linked oldest first, relinked here): the
    // latest-items among it that were still replaceable stay replaceable here, by their keys
    // (X2). The caller holds its own mutex: `relay` receives the executor to poke() once it has
    // let go.
    bool pushHandOff(WorkItem *first, const std::vector<LatestItem *> &latest,
                     std::shared_ptr<ExecutorState> *next,
                     std::shared_ptr<ExecutorState> *relay);
    // X2: replaces the payload of the queued item with this key (handing the old payload back
    // in `payload`), or queues `fresh` carrying it. Returns false when broken.
    bool pushLatest(const void *key, std::unique_ptr<WorkItem> &payload, LatestItem *fresh,
                    std::shared_ptr<ExecutorState> *next);
    // X2: the payload of a latest-item about to run or fail; it stops being replaceable.
    std::unique_ptr<WorkItem> takeLatestPayload(LatestItem *item);

    // --- The owner thread ---

    // Claims the oldest item, or returns nullptr when none is queued (or the executor broke).
    // One uncontended compare-and-swap per item; the inbox is taken, whole, when the batch is
    // used up. The claim stays open until the item starts or skips (ClaimWindow): run it.
    // Putting a long inbox in order takes a while (about 30 ns an item), so it is done
    // a step at a time: nullptr with `*walking` set means "more to come, call again", which
    // lets a drain keep its time slice meanwhile (C3, P5).
    WorkItem *takeNext(bool *walking);
    // Runs one item and destroys it, on the calling thread (C5, C12).
    static void runItem(WorkItem *item) noexcept;
    // Runs items until the queue is empty, or the time slice is used up, in which case one more
    // wake-up is posted so that paint and timers run in between (C3).
    void drainTimeSliced();
    // Runs every item accepted so far (and, nested, whatever they wait for) (C8). With `events`,
    // it lets the thread process its pending events after every time slice, so that finishing a
    // long backlog does not freeze paint and timers.
    void drainAcceptedSoFar(std::optional<QEventLoop::ProcessEventsFlags> events);
    // Posts a wake-up when items are queued and none is on its way.
    void kick();

    // The owner thread's sleep in an ExecutorOnly wait (waits.cpp). While it is entered,
    // producers that fill an empty queue signal it, and, when `relayed`, poke `relay` too: the
    // executor whose condition variable a wait serving several executors sleeps on (X3).
    // enter returns the relay it replaced; leave puts that one back.
    std::shared_ptr<ExecutorState> enterExclusiveWait(std::shared_ptr<ExecutorState> relay,
                                                      bool relayed);
    void leaveExclusiveWait(std::shared_ptr<ExecutorState> previousRelay, bool relayed);
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
    void attachReceiver(Receiver *receiver);
    // Detaches the receiver under the lock, so that no producer posts to it any more.
    Receiver *takeReceiver();
    // For an executor destroyed on a foreign thread: parks its receiver until the owner thread
    // ends (the receiver may be handling an event there right now), or hands it back for
    // deletion at once when that thread has already finished.
    Receiver *parkReceiver(Receiver *receiver);
    Receiver *takeParkedReceiver();

    // C11: points the chain link past every dead executor behind it. Dead means broken and,
    // since that was seen under the executor's own mutex, done handing off: it can never
    // accept work again, so skipping it without its lock cannot overtake a hand-off (C4).
    // Called when this executor is constructed and breaks, and by routes that met dead links.
    void skipDeadLinks();
    // The executor given at construction, while it exists (oldExecutor()).
    CurrentThreadExecutor *givenOldExecutor() const;
    // --- X10: seeing inside (diagnostics.cpp) ---

    quint64 pendingCount() const; // any thread
    ExecutorStats stats() const; // any thread
    // Any thread. Zero switches one off.
    void setSlowItemThresholds(std::chrono::nanoseconds run, std::chrono::nanoseconds delivery);
    std::chrono::nanoseconds slowRunThreshold() const;
    std::chrono::nanoseconds slowDeliveryThreshold() const;
    // Producers, before pushList() or pushLatest(): stamps `item` with the time and the calling
    // thread when this executor has a slow-item threshold set (one relaxed load when not).
    void stampIfTimed(WorkItem *item) const noexcept
    {
#if QDISPATCH_DIAGNOSTICS
        if (m_stamping.load(std::memory_order_relaxed))
            stamp(item);
#else
        Q_UNUSED(item);
#endif
    }
    // The owner thread's name for reports: its objectName() if set, else its id.
    QString ownerLabel() const;

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
    std::atomic<bool> broken{false};
    int drainDepth = 0; // owner thread only
    std::uint64_t recordKey = 0; // owner thread only: its place in the thread's record

private:
    bool isOwnedByLearnt(Qt::HANDLE self) const noexcept;
    // X9: the owner's id once seen on that thread; written only there, so a relaxed load on
    // any other thread sees either nullptr or an id that is not its own: both answer right.
    mutable std::atomic<Qt::HANDLE> m_learntThreadId{nullptr};

    // What a producer must do to wake the owner once its item is in, without m_mutex held.
    struct Wake
    {
        bool event = false; // post a wake-up event (none is on its way yet): one per burst
        bool waiter = false; // signal the owner sleeping in an ExecutorOnly wait
        std::shared_ptr<ExecutorState> relay; // and poke this one (a wait serving several)
    };
    // Called without m_mutex held.
    void wake(Wake wake);
    // push() when the inbox looked empty (then it wakes the owner) or closed (broken).
    bool pushOntoEmptyOrClosed(WorkItem *item, std::shared_ptr<ExecutorState> *next);
    // Drops a chain link without recursing down a chain of states that die with it.
    static void releaseLink(std::shared_ptr<ExecutorState> link);

    friend class ItemBooks;
    // X10: the longest run or delivery and its item's name. In a flood every few items start a
    // little later than the one before and set a new delivery record, so setting one takes no
    // lock: the owner thread is the only writer, and a reader on any thread retries while a write
    // is half done (a sequence lock made of atomics, which ThreadSanitizer follows).
    class Record
    {
    public:
        struct Value
        {
            std::int64_t ns = 0;
            CallableName name;
        };
        // Owner thread only.
        std::int64_t ns() const noexcept { return m_ns.load(std::memory_order_relaxed); }
        void set(std::int64_t ns, CallableName name) noexcept;
        // Any thread.
        Value get() const noexcept;

    private:
        std::atomic<std::uint64_t> m_version{0}; // odd while a write is under way
        std::atomic<std::int64_t> m_ns{0};
        std::atomic<const std::type_info *> m_type{nullptr};
        std::atomic<const char *> m_signature{nullptr};
    };
    void stamp(WorkItem *item) const noexcept;

    // The queue is two lists (docs/architecture.md, "The queue"):
    // - the inbox, where producers push with one compare-and-swap, newest first: nullptr when
    //   empty, closedInbox() once broken;
    // - the batch, the items the owner thread took from the inbox at once, oldest first, which it
    //   claims one by one without a lock. m_claimed is the index of the next one to claim; the
    //   thread that breaks the executor takes what is left by exchanging it for kStolen.
    // - between the two, a taken inbox being put in order: m_walked holds the items seen so far
    //   (newest first), m_walkRest the older rest of the list, not yet seen.
    // m_batch, m_walked and m_walkRest change only on the owner thread and under m_mutex; the
    // owner reads them without it, other threads only under it (the breaking thread too: the
    // owner drops what it took once it sees the executor broken).
    static WorkItem *closedInbox() noexcept { return reinterpret_cast<WorkItem *>(alignof(WorkItem)); }
    static constexpr std::uint64_t kStolen = ~std::uint64_t(0);
    // Owner thread, under m_mutex: puts the inbox, in order, behind the batch, seeing at most
    // `steps` items of it this time.
    enum class Refill { Nothing, Ready, Walking };
    Refill refillLocked(std::size_t steps);
    bool walkInProgress() const { return m_walkRest || !m_walked.empty(); } // owner or m_mutex
    // Owner thread: whether anything is queued for it (inbox, batch or a walk), for kick() and
    // the ExecutorOnly sleep.
    bool hasWorkForOwner() const;
    std::uint64_t unclaimedLocked() const; // under m_mutex
    // Items the owner thread has claimed, ever: exact under m_mutex with the claim window closed
    // (stats()); on the owner thread, exact unless the executor breaks meanwhile.
    std::uint64_t claimedTotal() const noexcept;
    std::uint64_t inboxCountLocked() const; // under m_mutex: no item can leave the inbox then
    // Under m_mutex (so that the inbox cannot close meanwhile): puts the list newest..oldest
    // (linked newest first) into the inbox. Returns what the inbox held before: nullptr if empty.
    WorkItem *pushLocked(WorkItem *newest, WorkItem *oldest);
    // Turns a list round; returns its new first item.
    static WorkItem *reversed(WorkItem *first) noexcept;
    // After a push found the inbox empty: what wakes the owner (the caller holds m_mutex when
    // `locked`).
    Wake wakeAfterEmptyPush(bool locked);
    // Breaking: everything still queued, oldest first, and its count; closes the inbox.
    WorkItem *takeAllLocked(std::uint64_t *count);

    // Standard primitives on purpose: ThreadSanitizer follows them (it cannot follow QMutex's
    // inline fast path in a Qt that was not built for it).
    mutable std::mutex m_mutex;
    std::condition_variable m_wake; // the owner sleeps here in RunMode::ExecutorOnly
    bool m_ownerFinished = false;
    bool m_poked = false;
    std::shared_ptr<ExecutorState> m_relay;
    // C11: the chain link, moved past dead executors by skipDeadLinks(). The state given at
    // construction is remembered weakly, for oldExecutor() only.
    std::shared_ptr<ExecutorState> m_old;
    const std::weak_ptr<ExecutorState> m_givenOld;
    Receiver *m_parkedReceiver = nullptr;
    // X2: queued, still replaceable items by key, and their payloads. Its own mutex, taken after
    // m_mutex where both are needed: the owner thread takes a payload with its claim on the
    // item open, which a thread breaking the executor waits for while it holds m_mutex.
    std::mutex m_latestMutex;
    QHash<const void *, LatestItem *> m_latest;
    // X10's books (diagnostics.cpp), under m_mutex; the claims are the owner's (below).
    // accepted = queued + claimed + replaced + handed off + failed;
    // run = claimed - skipped; cancelled = skipped + replaced.
    mutable std::uint64_t m_peakPending = 0; // also raised by what pendingCount() and stats() see
    std::uint64_t m_replaced = 0; // postLatest() callables replaced while queued (X2)
    std::uint64_t m_handedOff = 0;
    std::uint64_t m_failed = 0;
    Record m_longestRun;
    Record m_longestDelivery;
    bool m_lateReported = false; // owner thread only: late items go unreported until one is not

    // The producers' cache line: the inbox and the two flags a push onto an empty inbox reads.
    alignas(64) std::atomic<WorkItem *> m_inbox{nullptr};
    std::atomic<bool> m_wakePosted{false}; // a wake-up event is queued and not yet being handled
    std::atomic<int> m_exclusiveWaiters{0}; // changed under m_mutex
    // The owner's cache line: what it writes per item.
    alignas(64) std::atomic<std::uint64_t> m_claimed{0};
    ClaimWindow m_claimWindow;
    std::vector<WorkItem *> m_batch;
    std::vector<WorkItem *> m_walked;
    WorkItem *m_walkRest = nullptr;
    // The claims of earlier batches (and of the batch a break took): changed under m_mutex only.
    std::atomic<std::uint64_t> m_claimedBefore{0};
    // X10's thresholds, ns (0: off); read without a lock by every producer, so on a cache line of
    // their own, apart from the queue fields that the owner and the producers keep writing.
    alignas(64) std::atomic<std::int64_t> m_runThresholdNs{0};
    std::atomic<std::int64_t> m_deliveryThresholdNs{0};
    // Whether either is set: the one test a submit makes when none is (written under m_mutex).
    std::atomic<bool> m_stamping{false};

    // Guards only m_receiver, so that producers post the wake-up without holding m_mutex.
    std::mutex m_receiverMutex;
    Receiver *m_receiver = nullptr;
};

// X2: a queued slot whose callable a newer postLatest() with the same key may replace.
class LatestItem final : public WorkItem
{
public:
    LatestItem(std::shared_ptr<ExecutorState> home, const void *key)
        : home(std::move(home)), key(key)
    {
    }
    void run() noexcept override;
    void fail(const std::exception_ptr &error) noexcept override;
    CallableName callableName() const noexcept override { return ranName; }

    // Whose mutex guards `payload` (and these fields) while it is queued. A hand-off moves it
    // to the receiving executor under both executors' mutexes, while the item is queued.
    std::shared_ptr<ExecutorState> home;
    const void *const key;
    std::unique_ptr<WorkItem> payload;

    CallableName ranName; // X10: the payload's, once run() took it
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

// This file is not part of the QDispatch API. It may change from version to version
// without notice, or even be removed.
#pragma once

#include <qdispatch/currentthreadexecutor.h>

#include <QtCore/QEventLoop>
#include <QtCore/QHash>
#include <QtCore/QObject>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cstdint>
#include <memory>
#include <optional>

namespace qdispatch::detail {

class ExecutorState;

// The QObject that lives in the owner thread and receives one wake-up event per burst of
// submissions. It exists only so that the owner thread's event loop runs our items.
class Receiver final : public QObject
{
public:
    explicit Receiver(std::shared_ptr<ExecutorState> state);
    bool event(QEvent *event) override;

private:
    std::shared_ptr<ExecutorState> m_state;
};

// Everything an executor is made of. Shared: the executor owns it, newer executors hold it as
// their chain link, the owner thread's record holds it until the thread ends, and a drain in
// progress holds it, so that destroying the executor in the middle of anything is safe.
class LatestItem;

class ExecutorState : public std::enable_shared_from_this<ExecutorState>
{
public:
    ExecutorState(CurrentThreadExecutor *executor, std::shared_ptr<ExecutorState> old);
    ~ExecutorState();

    // Appends the list first..last (count items, already linked) unless this executor is
    // broken. Returns false, keeping nothing, when it is broken.
    bool pushList(WorkItem *first, WorkItem *last, std::uint64_t count);
    // X2: replaces the payload of the queued item with this key (handing the old payload back
    // in `payload`), or queues `fresh` carrying it. Returns false when broken.
    bool pushLatest(const void *key, std::unique_ptr<WorkItem> &payload, LatestItem *fresh);
    // X2: the payload of a latest-item about to run or fail; it stops being replaceable.
    std::unique_ptr<WorkItem> takeLatestPayload(LatestItem *item);
    // Queues `item` on the nearest live executor of the chain starting here; throws
    // ExecutorError{OwnThread} when that executor belongs to the calling thread and
    // rejectOwnThread is set, ExecutorError{Broken} when none is alive.
    void route(std::unique_ptr<WorkItem> item, bool rejectOwnThread);

    // Owner thread: removes the oldest item, or nullptr when none is queued.
    WorkItem *takeNext();
    // Owner thread: runs items until the queue is empty, or the time slice is used up, in
    // which case one more wake-up is posted so that paint and timers run in between.
    void drainTimeSliced();
    // Owner thread: runs every item accepted so far (and, nested, whatever they wait for).
    // With `events`, it lets the thread process its pending events after every time slice, so
    // that finishing a long backlog does not freeze paint and timers.
    void drainAcceptedSoFar(std::optional<QEventLoop::ProcessEventsFlags> events);
    // Owner thread: posts a wake-up when items are queued and none is on its way.
    void kick();

    bool waitExclusive(const QFuture<void> &future, QDeadlineTimer deadline);
    bool waitInEventLoop(const QFuture<void> &future, QDeadlineTimer deadline, RunMode mode);

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

    static void runItem(WorkItem *item) noexcept;

    // Immutable after construction.
    QThread *const thread;
    const Qt::HANDLE threadId;
    const std::shared_ptr<ExecutorState> old;

    std::atomic<CurrentThreadExecutor *> executor;
    std::atomic<bool> broken{false};
    int drainDepth = 0; // owner thread only

    // Used by the ExecutorOnly wait: a finished QDispatch future pokes every such waiter.
    void poke();

private:
    // What a producer must do, once it has let go of m_mutex, to wake the owner.
    struct Wake
    {
        bool event = false; // post a wake-up event (none is on its way yet): one per burst
        bool waiter = false; // signal the owner sleeping in an ExecutorOnly wait
    };
    // True when the caller must post a wake-up event, and marks it as on its way.
    bool claimWakeLocked();
    // Under m_mutex: a reference that keeps this state alive until wake() has returned.
    std::shared_ptr<ExecutorState> keepAliveFor(Wake wake);
    // Called without m_mutex held.
    void wake(Wake wake);
    Wake appendLocked(WorkItem *first, WorkItem *last, std::uint64_t count);

    // Standard primitives on purpose: ThreadSanitizer follows them (it cannot follow QMutex's
    // inline fast path in a Qt that was not built for it).
    mutable std::mutex m_mutex;
    std::condition_variable m_wake; // the owner sleeps here in RunMode::ExecutorOnly
    WorkItem *m_head = nullptr;
    WorkItem *m_tail = nullptr;
    std::uint64_t m_accepted = 0; // items ever appended
    std::uint64_t m_removed = 0; // items ever taken out, to run or to hand off
    bool m_ownerFinished = false;
    bool m_wakePosted = false; // a wake-up event is queued and not yet being handled
    bool m_poked = false;
    int m_exclusiveWaiters = 0;
    Receiver *m_parkedReceiver = nullptr;
    QHash<const void *, LatestItem *> m_latest; // X2: queued, still replaceable items by key

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

    std::shared_ptr<ExecutorState> home; // whose mutex guards `payload` while it is queued
    const void *const key;
    std::unique_ptr<WorkItem> payload;
};

} // namespace qdispatch::detail

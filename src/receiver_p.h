// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// The QObject through which the owner thread's event loop runs an executor's items (C3), and the
// slot where the executor keeps it.
#pragma once

#include "statelock_p.h"

#include <QtCore/QObject>

#include <atomic>
#include <memory>
#include <mutex>
#include <utility>

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
    // X9: a receiver made on one thread and moved to another (executorOf()) reaches that thread
    // through moveToThread() and Qt's event queue, which ThreadSanitizer cannot see. This
    // release/acquire pair orders the construction before every wake-up for it; one load per
    // wake-up event, not per item.
    std::atomic<bool> m_constructed { false };
};

// Where an executor keeps its receiver. Attached while the executor lives, so that producers can
// post wake-ups to it; after an executor destroyed on a foreign thread, parked until the owner
// thread ends, since the receiver may be handling an event there right now (C13).
class ReceiverSlot
{
public:
    ReceiverSlot() = default;
    ReceiverSlot(const ReceiverSlot &) = delete;
    ReceiverSlot &operator=(const ReceiverSlot &) = delete;

    void attach(Receiver *receiver);
    // Detaches the receiver, so that no producer posts to it any more; the caller deletes it.
    Receiver *take();
    // Any thread, without the state lock: the woken owner must not run into a lock this thread
    // still holds. Posts a wake-up event to the attached receiver, if there is one.
    void postWakeUp();

    void park(const StateLock &, Receiver *receiver) noexcept { m_parked = receiver; }
    Receiver *takeParked(const StateLock &) noexcept { return std::exchange(m_parked, nullptr); }

private:
    // Guards only m_receiver, so that producers post the wake-up without holding the state mutex
    // and the receiver cannot be deleted meanwhile (it is detached under it, and only then
    // deleted).
    std::mutex m_mutex;
    Receiver *m_receiver = nullptr;
    Receiver *m_parked = nullptr; // under the state lock
};

} // namespace qdispatch::detail

// The receiver of an executor's wake-up events in the owner thread's event loop (C3), and the slot
// that keeps it: producers post to it, the executor's end takes or parks it.
#include "receiver_p.h"

#include "executorstate_p.h"
#include "postevent_p.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QEvent>

namespace qdispatch::detail {

namespace {

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

void ReceiverSlot::attach(Receiver *receiver)
{
    std::lock_guard locker(m_mutex);
    m_receiver = receiver;
}

Receiver *ReceiverSlot::take()
{
    std::lock_guard locker(m_mutex);
    return std::exchange(m_receiver, nullptr);
}

void ReceiverSlot::postWakeUp()
{
    std::lock_guard locker(m_mutex);
    if (m_receiver)
        postEvent(m_receiver, wakeEventType());
}

} // namespace qdispatch::detail

// The calling thread's event-loop waits that were woken while an event loop nested inside them
// ran (C8, C9): counted by the waits (waits.cpp), renewed by the drains and waits that return to
// them (executorstate.cpp, waits.cpp). Why: wokenwait_p.h.
#include "wokenwait_p.h"

#include <QtCore/QAbstractEventDispatcher>

#include <utility>

namespace qdispatch::detail {

namespace {

thread_local int t_wokenWaits = 0;
thread_local bool t_eventsLetThrough = false;

} // namespace

void WokenWait::wake() noexcept
{
    if (!std::exchange(m_woken, true))
        ++t_wokenWaits;
}

void WokenWait::settle() noexcept
{
    if (std::exchange(m_woken, false))
        --t_wokenWaits;
}

void WokenWait::eventsLetThrough() noexcept
{
    t_eventsLetThrough = true;
}

void WokenWait::renew()
{
    if (t_wokenWaits == 0 && !std::exchange(t_eventsLetThrough, false))
        return;
    // The wake-up that quit() or exit() gave, again: the loop's own processEvents() returns
    // instead of sleeping, and its exec() sees the exit that was asked of it.
    if (QAbstractEventDispatcher *const dispatcher = QAbstractEventDispatcher::instance())
        dispatcher->wakeUp();
}

} // namespace qdispatch::detail

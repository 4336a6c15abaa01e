// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// The calling thread's event-loop waits that were woken while an event loop nested inside them
// ran, for the drains and waits that return to them (C8, C9).
#pragma once

namespace qdispatch::detail {

// C8, C9: an event-loop wait (waitInEventLoop(), waits.cpp) is woken by QEventLoop::quit(): its
// future finished, or its deadline came. quit() sets the thread's event dispatcher's "interrupt"
// flag and wakes it once. When the wake-up comes while control is deeper down, in an event loop
// or processEvents() nested inside the wait (an item it ran waits in turn, or lets events
// through), the next nested processEvents() takes both: Qt's Unix dispatcher clears the flag
// when a call starts and reads the wake-up from its pipe. Control then returns to the wait's own
// processEvents() halfway through, after it delivered the posted events and before it sleeps:
// with the flag cleared and nothing left to read, it sleeps until some other event arrives.
//
// So a wait counts itself here from its wake-up until control is back with it, and whatever
// returns towards it after running nested event loops (a drain, a nested runUntilFuture()) calls
// renew(), which interrupts the dispatcher again while any wait of the thread is still woken.
// Our own nested loops (a wait's loop, the backlog after it) and whatever an item of the event
// loop's drains does are covered. The user's own processEvents() elsewhere (in a slot of their
// own, or in an item that invoke()'s wait or runPending() runs there) can still take the
// wake-up, as it can from any QEventLoop.
class WokenWait
{
public:
    WokenWait() = default;
    ~WokenWait() { settle(); }
    WokenWait(const WokenWait &) = delete;
    WokenWait &operator=(const WokenWait &) = delete;

    // The wait was woken (any number of times until it settles): counted once.
    void wake() noexcept;
    // Control is back with the wait: it no longer counts.
    void settle() noexcept;
    bool isWoken() const noexcept { return m_woken; }

    // Interrupts the calling thread's event dispatcher when one of its waits was woken and has
    // not settled yet: a wait further out, since every wait nested deeper has returned. Nothing
    // otherwise (one thread-local read).
    static void renew();

private:
    bool m_woken = false;
};

} // namespace qdispatch::detail

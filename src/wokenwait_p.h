// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// The calling thread's event-loop waits that were woken while an event loop nested inside them
// ran, for the drains and waits that return to them (C8, C9).
#pragma once

namespace qdispatch::detail {

// C8, C9: an event-loop wait (waitInEventLoop(), waits.cpp) is woken by QEventLoop::quit(): its
// future finished, or its deadline came. quit() sets the thread's event dispatcher's "interrupt"
// flag and wakes it once; QThread::quit() and QCoreApplication::exit() do the same for every loop
// of the thread, exec()'s included. When the wake-up comes while control is deeper down, in an
// event loop or processEvents() nested inside the loop it was meant for (an item that loop ran
// waits in turn, or lets events through), the next nested processEvents() takes both: Qt's Unix
// dispatcher clears the flag when a call starts and reads the wake-up from its pipe. Control
// then returns to the outer loop's processEvents() halfway through, after it delivered the posted
// events and before it sleeps: with the flag cleared and nothing left to read, it sleeps until
// some other event arrives.
//
// So whatever returns towards an outer loop after nested event processing (a drain, a
// runUntilFuture()) calls renew(), which wakes the thread's dispatcher again: while a wait of the
// thread is woken and not yet back in control, or after the library itself let events through
// (a wait's loop, the backlog after it) since the last renewal, whose wake-ups may have been an
// outer loop's. It wakes, not interrupts: an interrupted processEvents() returns before it fires
// timers, and a drain that renews every time it is delivered would starve them (a wait's
// deadline among them). A spare wake-up costs the loop one turn without sleeping. The user's own
// processEvents() elsewhere (in a slot of their own, or in an item that invoke()'s wait or
// runPending() runs there) can still take a wake-up, as it can from any QEventLoop.
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

    // The library let the calling thread's events through (processEvents(), a wait's loop): a
    // wake-up meant for a loop further out may have been taken.
    static void eventsLetThrough() noexcept;
    // Wakes the calling thread's event dispatcher when one of its waits was woken and has not
    // settled yet, or when the library let events through since the last renewal. Nothing
    // otherwise (thread-local reads).
    static void renew();

private:
    bool m_woken = false;
};

} // namespace qdispatch::detail

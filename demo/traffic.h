// QDispatch demo: counts the work the demo sends to the GUI thread.
#pragma once

#include <QtCore/QtGlobal>

#include <atomic>
#include <utility>

// The window's queue-depth graph comes from the library (pendingCount(), X10). The demo still
// counts its own items, for items/s and for the self-test's check that no item of the demo was
// skipped for a gone context (which the library counts as cancelled, like C6): every item it sends
// through submit() or post() is wrapped by counted(), which adds one to `sent` on the sending
// thread and one to `ran` when the GUI thread runs it. A submitted item whose future is
// cancelled before it starts never runs (C6), so the code that cancels adds to `cancelled`.
// Every item has its sender as its context (X8), so an item whose sender is gone is skipped and
// counted nowhere: the self-test's final depth() == 0 shows that no owner left work behind.
// postLatest() progress updates are not counted: a replaced update never runs, and the sender
// cannot know whether it replaced one.
struct Traffic
{
    std::atomic<quint64> sent { 0 };
    std::atomic<quint64> ran { 0 };
    std::atomic<quint64> cancelled { 0 };

    // Items sent but neither run nor cancelled yet: the demo's own count of the queue.
    qint64 depth() const
    {
        const quint64 done =
            ran.load(std::memory_order_relaxed) + cancelled.load(std::memory_order_relaxed);
        return qint64(sent.load(std::memory_order_relaxed)) - qint64(done);
    }
};

// One set of counters for the whole process (the executor is the main thread's, X5).
inline Traffic &traffic()
{
    static Traffic counters;
    return counters;
}

// Wraps `fn` so that sending and running it are counted (see Traffic).
template<typename F> auto counted(F &&fn)
{
    traffic().sent.fetch_add(1, std::memory_order_relaxed);
    return [fn = std::forward<F>(fn)]() mutable {
        traffic().ran.fetch_add(1, std::memory_order_relaxed);
        return fn();
    };
}

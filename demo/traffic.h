// QDispatch demo: counts the work the demo's items do on the GUI thread.
#pragma once

#include <QtCore/QtGlobal>

#include <atomic>
#include <utility>

// The items/s graph counts the demo's own items: every item it sends through submit() or post()
// is wrapped by counted(), which adds one to `ran` when the GUI thread runs it (postLatest()
// progress updates are not counted). The queue depth comes from the library (pendingCount(),
// X10).
struct Traffic {
    std::atomic<quint64> ran { 0 };
    // Items that ran after the object they were sent to was gone. Always zero: every owner
    // drains its work before it is destroyed. The self-test checks that it stays zero.
    std::atomic<quint64> late { 0 };
};

// One set of counters for the whole process (the executor is the main thread's, X5).
inline Traffic &traffic()
{
    static Traffic counters;
    return counters;
}

// Wraps `fn` so that running it is counted (see Traffic).
template<typename F> auto counted(F &&fn)
{
    return [fn = std::forward<F>(fn)]() mutable {
        traffic().ran.fetch_add(1, std::memory_order_relaxed);
        return fn();
    };
}

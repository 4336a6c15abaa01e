// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// X11, wait chains: what each thread publishes about itself so that describeWaits() can follow
// a wait from thread to thread (waitchains.cpp). A thread fills in its own record: the waits it
// is in (runUntilFuture(), invoke()), under a mutex of the record's own that only describeWaits()
// ever contends, and the items it is running, published with relaxed stores that a reader checks
// with a version count (it never dereferences an item: an item may be gone by the time it looks).
#pragma once

#include <qdispatch/currentthreadexecutor.h>

#include <QtCore/QFuture>
#include <QtCore/QString>

#include <atomic>
#include <cstdint>
#include <typeinfo>

namespace qdispatch::detail {

class ExecutorState;

// The items a thread is running now, outermost first: an item that waits runs others inside.
// Written only by the thread itself; any thread reads it (a snapshot is good when `version` was
// even and unchanged around it).
struct RunningItems
{
    static constexpr std::uint32_t kDepth = 16;
    struct Entry
    {
        std::atomic<const void *> executor { nullptr }; // identity only, never dereferenced
        std::atomic<const void *> key { nullptr }; // WorkItem::identity().awaitKey
        std::atomic<const std::type_info *> type { nullptr };
        std::atomic<const char *> signature { nullptr };
        std::atomic<std::int64_t> startNs { 0 }; // coarse clock; 0 unless a hang threshold is set

        // Inside update(): what names the item.
        void name(const ItemIdentity &id) noexcept
        {
            key.store(id.awaitKey, std::memory_order_release);
            type.store(id.name.type, std::memory_order_release);
            signature.store(id.name.signature, std::memory_order_release);
        }
    };
    std::atomic<std::uint32_t> version { 0 };
    std::atomic<std::uint32_t> depth { 0 };
    Entry entries[kDepth];

    // The thread itself: `write()` stores inside an odd version, so that a reader sees all of its
    // stores or retries. Releases rather than fences, which ThreadSanitizer cannot follow; on x86
    // either is a plain move.
    template<typename Write> void update(Write &&write) noexcept
    {
        const std::uint32_t now = version.load(std::memory_order_relaxed);
        version.store(now + 1, std::memory_order_relaxed);
        write();
        version.store(now + 2, std::memory_order_release);
    }
};

// The calling thread's, made and listed on its first use (a few allocations, once per thread).
RunningItems &currentRunningItems();
// The item running innermost on the calling thread, published without a name, is `id`: a
// postLatest() slot knows its callable only once it has taken it, as it starts.
void nameRunningItem(const ItemIdentity &id) noexcept;

// What a wait serves while it waits: which executors' items run meanwhile.
enum class WaitServes : unsigned char {
    EventLoop, // runUntilFuture() in AllEvents or ExcludeUserInput: every executor of the thread
    OneExecutor, // runUntilFuture() in ExecutorOnly: its own executor only
    WholeThread, // invoke() from a thread with an executor: every executor of the thread (X3)
    Nothing // invoke() from a thread without one: blocks until an executor is made for it
};

// A wait, from its start to its end, in the calling thread's record: a lock and an unlock of
// the record's own mutex each way, and a coarse clock reading.
class WaitRecord
{
public:
    enum class Kind : unsigned char { RunUntilFuture, Invoke };

    // `executor`: for OneExecutor, the executor served (kept alive by the wait); `future` or
    // `signalKey`: what it waits for (kept alive by the wait).
    WaitRecord(Kind kind, RunMode mode, WaitServes serves, const ExecutorState *executor,
               const QFuture<void> *future, const void *signalKey) noexcept;
    ~WaitRecord();
    WaitRecord(const WaitRecord &) = delete;
    WaitRecord &operator=(const WaitRecord &) = delete;

    // A plain invoke() that takes on the executor made for its thread (X3).
    void setServes(WaitServes serves) noexcept;

private:
    void *m_thread;
    int m_index; // -1: not recorded
    void *m_covered = nullptr; // nested deeper than the record holds: the entry this one covers
};

// The chain of the calling thread's innermost wait, for its hang report (X10); empty when it is
// in none. Never throws.
QString describeOwnWaitChain() noexcept;

// The executor registry describeWaits() looks through: every executor state, listed once it is
// shared (its constructor has returned) and unlisted by its destructor.
void listExecutor(ExecutorState *state);
void unlistExecutor(ExecutorState *state) noexcept;
// Whether `state` is the main-thread executor's (mainthread.cpp).
bool isMainThreadState(const ExecutorState *state) noexcept;

} // namespace qdispatch::detail

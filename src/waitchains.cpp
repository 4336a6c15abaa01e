// X11, wait chains: describeWaits() names every thread waiting in runUntilFuture() or invoke(),
// follows what it waits for from thread to thread (the item, the executor and thread it is
// queued on or running on, what that thread does), and names a deadlock where the chain comes
// back to a thread and none of the waits on the way will serve the item the next one needs.
//
// What it costs while nobody asks: a wait locks and unlocks its thread's own record mutex as it
// begins and ends (uncontended unless describeWaits() is reading) and reads the coarse clock; an
// item run by a drain is published with a few relaxed stores (diagnostics_p.h). All the looking
// is done by describeWaits(), under the locks that keep what it reads alive: every thread's
// record mutex (no wait begins or ends meanwhile) and each executor's state lock in turn (its
// inbox cannot change under it).
#include "diagclock_p.h"
#include "waitchains_p.h"

#include "diagnostics_p.h"
#include "executorstate_p.h"

#include <QtCore/QStringList>
#include <QtCore/QThread>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <vector>

namespace qdispatch {
namespace detail {

namespace {

// Nested waits recorded in place per thread. A deeper wait takes the last place and keeps the
// entry it covers in a copy of its own until it ends, so the innermost is always recorded.
constexpr int kWaits = 8;

struct WaitEntry
{
    WaitRecord::Kind kind;
    RunMode mode;
    WaitServes serves;
    const ExecutorState *executor; // alive while the wait lasts
    const QFuture<void> *future; // alive while the wait lasts
    const void *signalKey;
    std::int64_t startNs;
    std::uint32_t runDepth; // items the thread was running when the wait began
};

// One thread's record. `waits` and `depth` change only on the thread itself, under `mutex`.
struct WaitingThread
{
    std::mutex mutex;
    QThread *thread = nullptr;
    Qt::HANDLE id = nullptr;
    WaitEntry waits[kWaits] {}; // the innermost at min(depth, kWaits) - 1
    int depth = 0;
    int unrecorded = 0; // deeper waits whose copy could not be made: the innermost is unknown
    RunningItems running;
};

struct AllThreads
{
    std::mutex mutex;
    std::vector<WaitingThread *> list;
};

AllThreads &allThreads()
{
    static auto *all = new AllThreads; // never destroyed: threads may end after main()
    return *all;
}

// Unlists the thread's record when the thread ends.
struct WaitRecordOwner
{
    WaitingThread *record = nullptr;
    ~WaitRecordOwner();
};

thread_local WaitingThread *t_waitRecord = nullptr; // trivially destructible: no guard per access
thread_local bool t_waitRecordGone = false;
thread_local WaitRecordOwner t_waitRecordOwner;

WaitRecordOwner::~WaitRecordOwner()
{
    t_waitRecordGone = true;
    t_waitRecord = nullptr;
    if (!record)
        return;
    {
        auto &all = allThreads();
        std::lock_guard locker(all.mutex);
        all.list.erase(std::find(all.list.begin(), all.list.end(), record));
    }
    delete record;
}

WaitingThread *ownWaitRecord()
{
    if (WaitingThread *record = t_waitRecord)
        return record;
    if (t_waitRecordGone)
        return nullptr;
    auto *record = new WaitingThread;
    record->thread = QThread::currentThread();
    record->id = QThread::currentThreadId();
    {
        auto &all = allThreads();
        std::lock_guard locker(all.mutex);
        all.list.push_back(record);
    }
    t_waitRecordOwner.record = record;
    t_waitRecord = record;
    return record;
}

struct Executors
{
    std::mutex mutex;
    ExecutorState *head = nullptr;
};

Executors &executors()
{
    static auto *registry = new Executors; // never destroyed: states may die after main()
    return *registry;
}

} // namespace

RunningItems &currentRunningItems()
{
    if (WaitingThread *record = ownWaitRecord())
        return record->running;
    // Past the thread's teardown: published nowhere anyone reads.
    static RunningItems unread;
    return unread;
}

void nameRunningItem(const ItemIdentity &id) noexcept
{
#if QDISPATCH_DIAGNOSTICS
    RunningItems &running = currentRunningItems();
    const std::uint32_t depth = running.depth.load(std::memory_order_relaxed);
    if (depth == 0 || depth > RunningItems::kDepth)
        return;
    RunningItems::Entry &entry = running.entries[depth - 1];
    // Only an entry that names nothing yet: nested too deep to be published, the slot left the
    // entry of the item around it, which keeps its own name.
    if (entry.type.load(std::memory_order_relaxed) ||
        entry.signature.load(std::memory_order_relaxed) ||
        entry.key.load(std::memory_order_relaxed))
        return;
    running.update([&] { entry.name(id); });
#else
    Q_UNUSED(id);
#endif
}

WaitRecord::WaitRecord(Kind kind, RunMode mode, WaitServes serves, const ExecutorState *executor,
                       const QFuture<void> *future, const void *signalKey) noexcept
    : m_thread(ownWaitRecord()), m_index(-1)
{
    auto *record = static_cast<WaitingThread *>(m_thread);
    if (!record)
        return;
    const std::int64_t now = diagclock::coarseNs();
    std::lock_guard locker(record->mutex);
    m_index = record->depth++;
    const WaitEntry entry { kind,   mode,
                            serves, executor,
                            future, signalKey,
                            now,    record->running.depth.load(std::memory_order_relaxed) };
    if (m_index < kWaits) {
        record->waits[m_index] = entry;
    } else if (auto *covered = new (std::nothrow) WaitEntry(record->waits[kWaits - 1])) {
        m_covered = covered;
        record->waits[kWaits - 1] = entry;
    } else {
        ++record->unrecorded;
        m_index = -1; // nothing to restore
    }
}

WaitRecord::~WaitRecord()
{
    if (auto *record = static_cast<WaitingThread *>(m_thread)) {
        std::lock_guard locker(record->mutex);
        --record->depth;
        if (auto *covered = static_cast<WaitEntry *>(m_covered)) {
            record->waits[kWaits - 1] = *covered;
            delete covered;
        } else if (m_index < 0) {
            --record->unrecorded;
        }
    }
}

void WaitRecord::setServes(WaitServes serves) noexcept
{
    auto *record = static_cast<WaitingThread *>(m_thread);
    if (!record || m_index < 0)
        return;
    std::lock_guard locker(record->mutex);
    // A wait that changes what it serves (a plain invoke()) runs nothing, so it is innermost.
    if (m_index == record->depth - 1)
        record->waits[std::min(m_index, kWaits - 1)].serves = serves;
}

void listExecutor(ExecutorState *state)
{
    auto &r = executors();
    std::lock_guard locker(r.mutex);
    if (state->listed)
        return;
    state->listed = true;
    state->listedNext = r.head;
    if (r.head)
        r.head->listedPrev = state;
    r.head = state;
}

void unlistExecutor(ExecutorState *state) noexcept
{
    auto &r = executors();
    std::lock_guard locker(r.mutex);
    if (!state->listed)
        return;
    if (state->listedPrev)
        state->listedPrev->listedNext = state->listedNext;
    else
        r.head = state->listedNext;
    if (state->listedNext)
        state->listedNext->listedPrev = state->listedPrev;
    state->listed = false;
}

// --- The description --------------------------------------------------------------------------

namespace {

QString executorLabel(const ExecutorState &state)
{
    const QString owner = state.ownerLabel();
    if (isMainThreadState(&state))
        return QStringLiteral("the main-thread executor of %1").arg(owner);
    if (!state.threadId)
        return QStringLiteral("executorOf(%1)").arg(owner);
    return QStringLiteral("the CurrentThreadExecutor 0x%1 of %2")
        .arg(QString::number(quintptr(state.executor.load(std::memory_order_acquire)), 16), owner);
}

QString quoted(CallableName name)
{
    return QLatin1Char('`') + itemName(name) + QLatin1Char('`');
}

struct RunSnap
{
    const void *executor = nullptr;
    const void *key = nullptr;
    CallableName name;
    std::int64_t startNs = 0;
};

struct WaitSnap
{
    WaitRecord::Kind kind = WaitRecord::Kind::Invoke;
    RunMode mode = RunMode::AllEvents;
    WaitServes serves = WaitServes::Nothing;
    const void *executor = nullptr;
    QString executorText;
    // Taken while the wait is held (so its future is alive and its key not reused): the
    // snapshot keeps no QFuture, whose last reference it must not drop (the future's state is
    // freed inside Qt, where ThreadSanitizer cannot see the waiter's last use of it).
    bool finished = false;
    const void *key = nullptr;
    std::int64_t startNs = 0;
    std::uint32_t runDepth = 0;
};

struct ThreadSnap
{
    QThread *thread = nullptr;
    QString label; // only for a waiting thread: another one may be ending
    int depth = 0;
    bool known = false; // the innermost wait is recorded
    WaitSnap inner;
    std::vector<RunSnap> running; // outermost first
};

struct QueuedSnap
{
    const void *key;
    CallableName name;
};

struct ExecSnap
{
    std::shared_ptr<ExecutorState> state;
    QString label;
    QString ownerText;
    std::vector<QueuedSnap> matches;
    std::uint64_t untaken = 0;
    quint64 pending = 0;
};

std::vector<RunSnap> readRunning(const RunningItems &running)
{
    std::vector<RunSnap> items;
    for (int attempt = 0; attempt < 1000; ++attempt) {
        const std::uint32_t version = running.version.load(std::memory_order_acquire);
        if (version & 1)
            continue;
        const std::uint32_t depth =
            std::min(running.depth.load(std::memory_order_acquire), RunningItems::kDepth);
        items.clear();
        for (std::uint32_t i = 0; i < depth; ++i) {
            const RunningItems::Entry &entry = running.entries[i];
            RunSnap snap;
            snap.executor = entry.executor.load(std::memory_order_acquire);
            snap.key = entry.key.load(std::memory_order_acquire);
            snap.name.type = entry.type.load(std::memory_order_acquire);
            snap.name.signature = entry.signature.load(std::memory_order_acquire);
            snap.startNs = entry.startNs.load(std::memory_order_acquire);
            items.push_back(snap);
        }
        // The loads above are acquires: this one cannot move before them.
        if (running.version.load(std::memory_order_relaxed) == version)
            return items;
    }
    return {}; // it never held still: the thread runs item after item, which is no hang
}

// Everything describeWaits() reads, taken at one moment: no wait begins or ends meanwhile.
struct Snapshot
{
    std::vector<ThreadSnap> threads;
    std::vector<ExecSnap> executors;
    std::int64_t nowNs = 0;
    std::ptrdiff_t self = -1; // the calling thread's, if it has a record
    // Broken executors met on the way: released with the snapshot, after every lock is let go
    // (the last reference runs ~ExecutorState, which takes the registry's lock).
    std::vector<std::shared_ptr<ExecutorState>> broken;
};

void takeSnapshot(Snapshot &snap)
{
    auto &all = allThreads();
    std::lock_guard allLocker(all.mutex);
    std::vector<std::unique_lock<std::mutex>> held;
    held.reserve(all.list.size());
    for (WaitingThread *record : all.list)
        held.emplace_back(record->mutex);
    snap.nowNs = diagclock::coarseNs();
    snap.threads.reserve(all.list.size());
    for (WaitingThread *record : all.list) {
        ThreadSnap t;
        t.thread = record->thread;
        t.depth = record->depth;
        t.running = readRunning(record->running);
        if (t.depth > 0) {
            // In a wait, so the thread and its QThread are alive until it leaves, which waits
            // for this record's mutex.
            t.label = ThreadName::of(record->thread).label(record->id);
            t.known = record->unrecorded == 0;
            if (t.known) {
                const WaitEntry &w = record->waits[std::min(t.depth, kWaits) - 1];
                t.inner.kind = w.kind;
                t.inner.mode = w.mode;
                t.inner.serves = w.serves;
                t.inner.executor = w.executor;
                if (w.executor && w.kind == WaitRecord::Kind::RunUntilFuture)
                    t.inner.executorText = executorLabel(*w.executor);
                if (w.future) {
                    t.inner.key = &QFutureInterfaceBase::get(*w.future).mutex();
                    t.inner.finished = w.future->isFinished();
                } else {
                    t.inner.key = w.signalKey;
                }
                t.inner.startNs = w.startNs;
                t.inner.runDepth = w.runDepth;
            }
        }
        if (record == t_waitRecord)
            snap.self = std::ptrdiff_t(snap.threads.size());
        snap.threads.push_back(std::move(t));
    }

    std::vector<const void *> keys;
    for (const ThreadSnap &t : snap.threads) {
        if (t.known && t.inner.key)
            keys.push_back(t.inner.key);
    }
    std::sort(keys.begin(), keys.end());

    std::vector<std::shared_ptr<ExecutorState>> live;
    {
        auto &r = executors();
        std::lock_guard locker(r.mutex);
        // Every reference taken is kept until the mutex is unlocked, broken executors' too:
        // should one be the last, ~ExecutorState unlists itself, which takes this mutex.
        for (ExecutorState *state = r.head; state; state = state->listedNext) {
            if (auto shared = state->weak_from_this().lock())
                live.push_back(std::move(shared));
        }
    }
    // Kept in the snapshot, which outlives every lock here.
    for (auto &state : live) {
        if (state->broken.load(std::memory_order_acquire)) {
            snap.broken.push_back(std::move(state));
            continue;
        }
        ExecSnap e;
        e.state = std::move(state);
        e.untaken = e.state->scanQueued([&](const WorkItem *item) {
            const ItemIdentity id = item->identity();
            if (id.awaitKey && std::binary_search(keys.begin(), keys.end(), id.awaitKey))
                e.matches.push_back({ id.awaitKey, id.name });
        });
        e.pending = e.state->pendingCount();
        e.label = executorLabel(*e.state);
        e.ownerText = e.state->ownerLabel();
        snap.executors.push_back(std::move(e));
    }
}

QString forHowLong(std::int64_t startNs, std::int64_t nowNs)
{
    if (startNs == 0)
        return {};
    return QStringLiteral(" for %1").arg(msText(std::max<std::int64_t>(0, nowNs - startNs)));
}

class ChainWriter
{
public:
    explicit ChainWriter(const Snapshot &snap) : m_snap(snap) { }

    // The chain of `start`'s innermost wait, a line for each link. Sets *deadlock when the
    // chain runs into a deadlock.
    QString chainOf(const ThreadSnap &start, bool *deadlock) const
    {
        QStringList lines;
        std::vector<const ThreadSnap *> visited { &start };
        std::vector<bool>
            blocking; // blocking[i]: visited[i]'s wait cannot go on unless visited[i+1] moves
        *deadlock = false;
        const ThreadSnap *current = &start;
        for (;;) {
            lines << waitLine(*current);
            const ThreadSnap *next = nullptr;
            bool blocks = false;
            lines << followWait(*current, &next, &blocks);
            if (!next)
                break;
            blocking.push_back(blocks);
            const auto seen = std::find(visited.begin(), visited.end(), next);
            if (seen != visited.end()) {
                const std::size_t from = std::size_t(seen - visited.begin());
                QStringList cycle;
                for (std::size_t i = from; i < visited.size(); ++i)
                    cycle << visited[i]->label;
                cycle << next->label;
                const bool all = std::all_of(blocking.begin() + std::ptrdiff_t(from),
                                             blocking.end(), [](bool b) { return b; });
                if (all) {
                    *deadlock = true;
                    lines << QStringLiteral("This is a deadlock: %1. None of these waits will "
                                            "serve the item the next one needs: only a deadline "
                                            "or a cancellation ends it.")
                                 .arg(cycle.join(QStringLiteral(" -> ")));
                } else {
                    lines << QStringLiteral("The chain comes back to %1, but a wait on the way "
                                            "serves the item it needs: not a deadlock.")
                                 .arg(next->label);
                }
                break;
            }
            visited.push_back(next);
            current = next;
        }
        return lines.join(QStringLiteral("\n  "));
    }

    QString waitLine(const ThreadSnap &t) const
    {
        QString line = t.label + QStringLiteral(" waits in ");
        if (!t.known)
            return line +
                QStringLiteral("%1 nested waits; the innermost could not be recorded "
                               "(out of memory).")
                    .arg(t.depth);
        const WaitSnap &w = t.inner;
        if (w.kind == WaitRecord::Kind::RunUntilFuture) {
            line += QStringLiteral("runUntilFuture (%1) on %2")
                        .arg(QLatin1String(runModeName(w.mode)), w.executorText);
        } else {
            line += QStringLiteral("invoke");
            if (w.serves == WaitServes::WholeThread)
                line += QStringLiteral(" (running this thread's executors meanwhile)");
            else
                line += QStringLiteral(" (this thread has no executor: it blocks)");
        }
        line += forHowLong(w.startNs, m_snap.nowNs);
        if (t.depth > 1)
            line += QStringLiteral(" (the innermost of its %1 waits)").arg(t.depth);
        if (w.runDepth > 0 && w.runDepth <= t.running.size()) {
            const RunSnap &inside = t.running[w.runDepth - 1];
            line += QStringLiteral(", inside the item %1").arg(quoted(inside.name));
        }
        return line + QLatin1Char('.');
    }

    // What the wait of `t` waits for, and who must move for it.
    QString followWait(const ThreadSnap &t, const ThreadSnap **next, bool *blocks) const
    {
        if (!t.known)
            return QStringLiteral("(not followed)");
        const WaitSnap &w = t.inner;
        if (w.finished)
            return QStringLiteral("Its future has finished: the wait is returning.");
        // Running somewhere?
        for (const ThreadSnap &r : m_snap.threads) {
            for (std::size_t i = 0; i < r.running.size(); ++i) {
                const RunSnap &run = r.running[i];
                if (!run.key || run.key != w.key)
                    continue;
                const ExecSnap *e = executorById(run.executor);
                const QString where = e ? e->label : QStringLiteral("an executor");
                const QString owner = e ? e->ownerText : threadText(r);
                QString text =
                    QStringLiteral("It waits for the item %1 of %2, which is running "
                                   "on %3%4")
                        .arg(quoted(run.name), where, owner, forHowLong(run.startNs, m_snap.nowNs));
                if (&r == &t && r.depth > 0 && r.known && r.inner.runDepth > i) {
                    *next = &r;
                    *blocks = true;
                    return text + QStringLiteral(": the item waits for itself.");
                }
                if (r.depth > 0 && r.known && r.inner.runDepth > i) {
                    *next = &r;
                    *blocks = true;
                    return text + QStringLiteral("; that thread is itself waiting, inside it:");
                }
                return text + describeBusy(r, i) + QLatin1Char('.');
            }
        }
        // Queued somewhere?
        for (const ExecSnap &e : m_snap.executors) {
            for (const QueuedSnap &q : e.matches) {
                if (q.key != w.key)
                    continue;
                QString text = QStringLiteral("It waits for the item %1, queued on %2 (%3 "
                                              "pending there)")
                                   .arg(quoted(q.name), e.label)
                                   .arg(e.pending);
                const ThreadSnap *owner = threadOf(e.state->thread);
                if (!owner || owner->depth == 0) {
                    if (owner && !owner->running.empty()) {
                        const RunSnap &top = owner->running.back();
                        return text +
                            QStringLiteral("; %1 is running the item %2 of %3%4, outside any "
                                           "QDispatch wait.")
                                .arg(e.ownerText, quoted(top.name), executorText(top.executor),
                                     forHowLong(top.startNs, m_snap.nowNs));
                    }
                    return text +
                        QStringLiteral("; %1 is in no QDispatch wait and runs no item of an "
                                       "executor: its event loop runs the item when it gets "
                                       "there, unless the thread is busy with something "
                                       "QDispatch cannot see (a loop that never processes "
                                       "events, a lock, a blocking call).")
                            .arg(e.ownerText);
                }
                if (!owner->known) {
                    return text +
                        QStringLiteral("; what %1 waits for could not be recorded (out of memory).")
                            .arg(owner->label);
                }
                if (owner->running.size() > owner->inner.runDepth) {
                    const RunSnap &top = owner->running.back();
                    return text +
                        QStringLiteral("; %1 is running the item %2 of %3%4 inside its wait.")
                            .arg(owner->label, quoted(top.name), executorText(top.executor),
                                 forHowLong(top.startNs, m_snap.nowNs));
                }
                const bool served = serves(owner->inner, e);
                *next = owner;
                *blocks = !served;
                return text +
                    (served ? QStringLiteral("; the wait of %1 runs that executor's items, so "
                                             "the item will run:")
                                  .arg(owner->label)
                            : QStringLiteral("; the wait of %1 does not run that executor's "
                                             "items:")
                                  .arg(owner->label));
            }
        }
        std::uint64_t untaken = 0;
        for (const ExecSnap &e : m_snap.executors)
            untaken += e.untaken;
        if (untaken == 1) {
            return QStringLiteral("It waits for a future that is in no queue QDispatch can read "
                                  "and no running item: not a QDispatch item, or the one item "
                                  "that an owner thread has taken off its queue and not yet "
                                  "started.");
        }
        if (untaken > 1) {
            return QStringLiteral("It waits for a future that is in no queue QDispatch can read "
                                  "and no running item: not a QDispatch item, or one of the %1 "
                                  "items that owner threads have taken off their queues and not "
                                  "yet started.")
                .arg(untaken);
        }
        return QStringLiteral("It waits for a future that no QDispatch item makes (or one that "
                              "is finishing right now).");
    }

private:
    static bool serves(const WaitSnap &w, const ExecSnap &e)
    {
        switch (w.serves) {
        case WaitServes::EventLoop:
        case WaitServes::WholeThread:
            return true;
        case WaitServes::OneExecutor:
            return w.executor == e.state.get();
        case WaitServes::Nothing:
            // The item's executor belongs to the waiting thread, so it was made for it while
            // it waited: the wait takes it on (X3).
            return true;
        }
        return true;
    }

    // What thread `r` does at running index `i` and above, outside a wait.
    QString describeBusy(const ThreadSnap &r, std::size_t i) const
    {
        if (i + 1 < r.running.size()) {
            const RunSnap &top = r.running.back();
            return QStringLiteral("; inside it, the thread runs the item %1 of %2%3")
                .arg(quoted(top.name), executorText(top.executor),
                     forHowLong(top.startNs, m_snap.nowNs));
        }
        if (r.depth > 0)
            return QStringLiteral(", inside a wait that does not block it");
        return {};
    }

    const ExecSnap *executorById(const void *id) const
    {
        for (const ExecSnap &e : m_snap.executors) {
            if (e.state.get() == id)
                return &e;
        }
        return nullptr;
    }
    QString executorText(const void *id) const
    {
        const ExecSnap *e = executorById(id);
        return e ? e->label : QStringLiteral("an executor");
    }
    const ThreadSnap *threadOf(const QThread *thread) const
    {
        for (const ThreadSnap &t : m_snap.threads) {
            if (t.thread == thread)
                return &t;
        }
        return nullptr;
    }
    static QString threadText(const ThreadSnap &t)
    {
        return t.label.isEmpty() ? QStringLiteral("another thread") : t.label;
    }

    const Snapshot &m_snap;
};

QString describe(bool ownChainOnly)
{
    Snapshot snap;
    takeSnapshot(snap);
    const ThreadSnap *self = snap.self >= 0 ? &snap.threads[std::size_t(snap.self)] : nullptr;
    ChainWriter writer(snap);
    if (ownChainOnly) {
        if (!self || self->depth == 0)
            return {};
        bool deadlock = false;
        return writer.chainOf(*self, &deadlock);
    }
    QStringList parts;
    int waiting = 0;
    for (const ThreadSnap &t : snap.threads) {
        if (t.depth == 0)
            continue;
        ++waiting;
        bool deadlock = false;
        parts << writer.chainOf(t, &deadlock);
    }
    if (waiting == 0)
        return QStringLiteral("QDispatch: no thread is waiting in runUntilFuture or invoke.");
    return QStringLiteral("QDispatch: %1 thread%2 waiting in runUntilFuture or invoke.\n")
               .arg(waiting)
               .arg(waiting == 1 ? QStringLiteral(" is") : QStringLiteral("s are")) +
        parts.join(QLatin1Char('\n')) + QLatin1Char('\n');
}

} // namespace

QString describeOwnWaitChain() noexcept
{
    try {
        return describe(true);
    } catch (...) {
        return {};
    }
}

} // namespace detail

QString describeWaits()
{
    return detail::describe(false);
}

} // namespace qdispatch

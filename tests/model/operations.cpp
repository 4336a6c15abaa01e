// The randomised model test (tst_model.cpp): the registry of executors, the records of the
// items, and the operations the model's threads perform on executors and items.
#include "model.h"

#include <QtCore/QDeadlineTimer>
#include <QtCore/QThread>

#include <map>
#include <utility>

namespace model {

// ------------------------------------------------------------------------------------ registry

int registerExecutor(World &w, CurrentThreadExecutor *ex, int oldId)
{
    std::lock_guard lock(w.mutex);
    const int id = int(w.execs.size());
    w.execs.push_back(ExecRec { id, t_thread, oldId, ex->handle(), ex, true });
    w.stats.created.fetch_add(1);
    return id;
}

void unregister(World &w, int id)
{
    std::lock_guard lock(w.mutex);
    w.execs[size_t(id)].usable = false;
    w.execs[size_t(id)].ptr = nullptr;
}

ExecutorHandle handleOf(World &w, int id)
{
    std::lock_guard lock(w.mutex);
    return w.execs[size_t(id)].handle;
}

// Mostly a usable executor (so that work flows), sometimes any executor ever made in this
// round, destroyed or not: its handle stays safe (X7) and routes down the chain (C11).
int pickExecutor(World &w, Rng &rng)
{
    std::lock_guard lock(w.mutex);
    const int any = below(rng, int(w.execs.size()));
    if (below(rng, 4) == 0)
        return any;
    for (size_t i = 0; i < w.execs.size(); ++i) {
        const size_t id = (size_t(any) + i) % w.execs.size();
        if (w.execs[id].usable && !w.execs[id].handle.isBroken())
            return int(id);
    }
    return any;
}

// X9: the executor of loop thread `i` as an ExecRec id, made (by executorOf()) on first use and
// again after the thread was restarted; -1 while the thread is stopped.
int loopExecutor(World &w, int i)
{
    std::lock_guard lock(w.mutex);
    LoopThreadRec &loop = w.loops[size_t(i)];
    if (loop.execId >= 0 && !w.execs[size_t(loop.execId)].handle.isBroken())
        return loop.execId;
    ExecutorHandle handle;
    try {
        handle = qdispatch::executorOf(loop.thread.get());
    } catch (const ExecutorError &) {
        return -1; // finishing right now
    }
    // The model's name for that thread, before anything else runs there (a submit: a post that
    // never runs would be reported).
    try {
        (void)handle.submit([index = loop.index] { t_thread = index; });
    } catch (const ExecutorError &) {
        return -1; // the thread finished meanwhile
    }
    const int id = int(w.execs.size());
    w.execs.push_back(ExecRec { id, loop.index, -1, handle, nullptr, false });
    loop.execId = id;
    w.stats.loopExecutors.fetch_add(1);
    return id;
}

// X9: stops a loop thread and starts it again: its executor breaks (its queued items fail as
// Broken, C12) and the next use makes a new one.
void restartLoop(World &w, Rng &rng)
{
    std::lock_guard restart(w.loopMutex);
    LoopThread *thread;
    {
        std::lock_guard lock(w.mutex);
        thread = w.loops[size_t(below(rng, int(w.loops.size())))].thread.get();
    }
    if (!thread->stop())
        qFatal("tst_model: a loop thread did not stop");
    thread->start();
    w.stats.loopStops.fetch_add(1);
}

// Creates an executor on this thread, chained to nothing, to one of ours, or to any usable
// executor of any thread (constructed under the registry lock, so the old one is alive).
int createExecutor(World &w, Rng &rng, OwnerState &owner)
{
    const int choice = below(rng, 3);
    std::unique_ptr<CurrentThreadExecutor> ex;
    int oldId = -1;
    if (choice == 1 && !owner.own.empty()) {
        const int i = below(rng, int(owner.own.size()));
        oldId = owner.ids[size_t(i)];
        ex = std::make_unique<CurrentThreadExecutor>(owner.own[size_t(i)].get());
    } else if (choice == 2) {
        std::lock_guard lock(w.mutex);
        const int id = below(rng, int(w.execs.size()));
        if (!w.execs.empty() && w.execs[size_t(id)].usable) {
            oldId = id;
            ex = std::make_unique<CurrentThreadExecutor>(w.execs[size_t(id)].ptr);
        }
    }
    if (!ex)
        ex = std::make_unique<CurrentThreadExecutor>();
    const int id = registerExecutor(w, ex.get(), oldId);
    owner.own.push_back(std::move(ex));
    owner.ids.push_back(id);
    return id;
}

std::unique_ptr<CurrentThreadExecutor> takeOwn(World &w, OwnerState &owner, int i)
{
    unregister(w, owner.ids[size_t(i)]);
    auto ex = std::move(owner.own[size_t(i)]);
    owner.own.erase(owner.own.begin() + i);
    owner.ids.erase(owner.ids.begin() + i);
    return ex;
}

std::shared_ptr<ItemRec> newRecord(World &w, Kind kind, int target, bool throws)
{
    auto rec = std::make_shared<ItemRec>();
    rec->id = w.nextId.fetch_add(1);
    rec->kind = kind;
    rec->producer = t_thread;
    rec->seq = ++t_seq;
    rec->target = target;
    rec->throws = throws;
    w.stats.items.fetch_add(1);
    std::lock_guard lock(w.recMutex);
    w.records.push_back(rec);
    return rec;
}

void onStart(ItemRec &r)
{
    if (!t_waitStarts.empty())
        t_waitStarts.back() = g_since.elapsed();
    r.prevMark.store(t_lastMark);
    mark();
    r.startIndex.store(++t_starts);
    r.ranOn.store(t_thread);
    r.runs.fetch_add(1);
}

void behave(const std::shared_ptr<World> &w, Behaviour behaviour, std::uint64_t seed);

// The callable of submit(): records its run, may do more (nested waits, scoped executors,
// sending work on), may throw.
struct SubmitFn
{
    Token token;
    std::shared_ptr<World> world;
    Behaviour behaviour;
    std::uint64_t seed;

    int operator()()
    {
        ItemRec &r = *token.rec;
        onStart(r);
        behave(world, behaviour, seed);
        mark();
        if (r.throws) {
            r.threw.store(true);
            throw ModelError("model item " + std::to_string(r.id) + " threw");
        }
        return r.id;
    }
};

void postReposting(const std::shared_ptr<World> &w, int target, int generations, int slowMs);

struct PostFn
{
    Token token;
    std::shared_ptr<World> world; // set for a re-posting item (a flood, C9)
    int generations = 0;
    int slowMs = 0; // C9: the item takes this long

    void operator()()
    {
        ItemRec &r = *token.rec;
        onStart(r);
        if (slowMs > 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(slowMs));
        mark();
        if (world && generations > 0)
            postReposting(world, r.target, generations - 1, slowMs);
        if (r.throws) {
            r.threw.store(true);
            throw ModelError("model post " + std::to_string(r.id) + " threw");
        }
    }
};

Behaviour pickBehaviour(Rng &rng)
{
    const int r = below(rng, 100);
    if (r >= 97)
        return Behaviour::Flood;
    if (r < 8)
        return Behaviour::Wait;
    if (r < 11)
        return Behaviour::Scoped;
    if (r < 16)
        return Behaviour::Send;
    return Behaviour::Leaf;
}

struct CallScope
{
    CallScope() { t_inCall = true; }
    ~CallScope() { t_inCall = false; }
};

// Submits a new item to `target` (through its handle, or its pointer under the registry lock).
std::shared_ptr<ItemRec> submitOne(const std::shared_ptr<World> &w, Rng &rng, int target,
                                   Behaviour behaviour, bool viaPointer)
{
    auto rec = newRecord(*w, Kind::Submit, target, below(rng, 10) == 0);
    SubmitFn fn { Token(rec), w, behaviour, rng() };
    try {
        CallScope call;
        QFuture<int> f;
        if (!viaPointer && below(rng, 8) == 0) {
            // X8: with a context object of this thread that any thread may destroy from now on.
            auto context = std::make_unique<QObject>();
            rec->hasContext = true;
            rec->contextObject.store(context.get());
            f = handleOf(*w, target).submit(context.get(), std::move(fn));
            std::lock_guard lock(w->mutex);
            w->contexts.push_back(std::move(context));
            w->stats.contexts.fetch_add(1);
        } else if (viaPointer) {
            std::unique_lock lock(w->mutex);
            const ExecRec &e = w->execs[size_t(target)];
            if (e.usable)
                f = e.ptr->submit(std::move(fn));
            else {
                const ExecutorHandle h = e.handle;
                lock.unlock();
                f = h.submit(std::move(fn));
            }
        } else {
            f = handleOf(*w, target).submit(std::move(fn));
        }
        rec->future = f;
        rec->accepted = true;
    } catch (const ExecutorError &error) {
        rec->rejected = int(error.code());
        (error.code() == ExecutorError::Code::OwnThread ? w->stats.rejectedOwn
                                                        : w->stats.rejectedBroken)
            .fetch_add(1);
    }
    return rec;
}

void postOne(World &w, Rng &rng, int target)
{
    auto rec = newRecord(w, Kind::Post, target, below(rng, 20) == 0);
    try {
        CallScope call;
        handleOf(w, target).post(PostFn { Token(rec), nullptr, 0 });
        rec->accepted = true;
    } catch (const ExecutorError &error) {
        rec->rejected = int(error.code());
    }
}

// An item that posts the next one of its kind to the same target when it runs: items keep
// arriving for `generations` more runs while waits go on (C9: deadlines hold under a flood).
void postReposting(const std::shared_ptr<World> &w, int target, int generations, int slowMs)
{
    auto rec = newRecord(*w, Kind::Post, target, false);
    try {
        CallScope call;
        handleOf(*w, target).post(PostFn { Token(rec), w, generations, slowMs });
        rec->accepted = true;
    } catch (const ExecutorError &error) {
        rec->rejected = int(error.code());
    }
}

// postLatest exists on the executor only, so it goes through the pointer under the lock (or, on
// its owner thread, through one of our own executors).
void postLatestOne(World &w, Rng &rng, int target)
{
    const void *key = &kLatestKeys[below(rng, 4)];
    auto rec = newRecord(w, Kind::Latest, target, below(rng, 20) == 0);
    try {
        CallScope call;
        std::lock_guard lock(w.mutex);
        const ExecRec &e = w.execs[size_t(target)];
        if (!e.usable) {
            rec->rejected = -2; // not sent at all
            PostFn drop { Token(rec), nullptr, 0 }; // destroyed in the call: counted as rejected
            return;
        }
        e.ptr->postLatest(key, PostFn { Token(rec), nullptr, 0 });
        rec->accepted = true;
    } catch (const ExecutorError &error) {
        rec->rejected = int(error.code());
    }
}

// X8: destroys a context object, on whatever thread this is (not the one it lives in).
void killContext(World &w, Rng &rng)
{
    std::unique_ptr<QObject> context;
    {
        std::lock_guard lock(w.mutex);
        if (w.contexts.empty())
            return;
        const size_t i = size_t(below(rng, int(w.contexts.size())));
        context = std::move(w.contexts[i]);
        w.contexts.erase(w.contexts.begin() + std::ptrdiff_t(i));
    }
    QObject *const raw = context.get();
    context.reset();
    const std::uint64_t stamp = tick();
    std::lock_guard lock(w.recMutex);
    for (auto it = w.records.rbegin(); it != w.records.rend(); ++it) {
        ItemRec &r = **it;
        if (r.contextObject.load() == raw) {
            std::uint64_t none = 0;
            r.contextGoneStamp.compare_exchange_strong(none, stamp);
            break;
        }
    }
}

// X10: a look at one executor's books from this thread. No total may go down from this thread's
// previous look at the same executor; a look never counts more done than accepted; a
// pendingCount() never exceeds what a later stats() accepted minus what an earlier one had done.
void lookAtBooks(World &w, Rng &rng)
{
    static thread_local std::map<std::pair<World *, int>, qdispatch::ExecutorStats> t_seen;
    const int id = pickExecutor(w, rng);
    const ExecutorHandle handle = handleOf(w, id);
    const qdispatch::ExecutorStats before = handle.stats();
    const quint64 pending = handle.pendingCount();
    const qdispatch::ExecutorStats after = handle.stats();
    w.stats.snapshots.fetch_add(1);
    const auto done = [](const qdispatch::ExecutorStats &s) {
        return s.run + s.cancelled + s.handedOff + s.failed;
    };
    QStringList found;
    qdispatch::ExecutorStats &seen = t_seen[{ &w, id }];
    for (const qdispatch::ExecutorStats *s : { &before, &after }) {
        if (s->accepted < seen.accepted || s->run < seen.run || s->cancelled < seen.cancelled ||
            s->handedOff < seen.handedOff || s->failed < seen.failed)
            found.append(QStringLiteral("X10: a total of executor %1 went down between two "
                                        "looks from model thread %2 (accepted %3 -> %4, run %5 -> "
                                        "%6, cancelled %7 -> %8)")
                             .arg(id)
                             .arg(t_thread)
                             .arg(seen.accepted)
                             .arg(s->accepted)
                             .arg(seen.run)
                             .arg(s->run)
                             .arg(seen.cancelled)
                             .arg(s->cancelled));
        if (done(*s) > s->accepted)
            found.append(QStringLiteral("X10: executor %1 counts %2 done of %3 accepted")
                             .arg(id)
                             .arg(done(*s))
                             .arg(s->accepted));
        seen = *s;
    }
    if (pending > after.accepted - done(before))
        found.append(QStringLiteral("X10: executor %1: pendingCount() %2 exceeds a later "
                                    "accepted %3 minus an earlier done %4")
                         .arg(id)
                         .arg(pending)
                         .arg(after.accepted)
                         .arg(done(before)));
    if (!found.isEmpty()) {
        std::lock_guard lock(w.recMutex);
        w.snapshotProblems += found;
    }
}

void shutdownOne(World &w, Rng &rng)
{
    std::lock_guard lock(w.mutex);
    const ExecRec &e = w.execs[size_t(below(rng, int(w.execs.size())))];
    if (e.usable) {
        e.ptr->shutdown();
        w.stats.shutdowns.fetch_add(1);
    }
}

// Deletes an executor its owner gave away. On any thread: while its owner still runs this is
// the programming error of C13 (reported, handled as shutdown()); after, it is allowed.
void deleteOrphan(World &w, Rng &rng)
{
    std::unique_ptr<CurrentThreadExecutor> ex;
    {
        std::lock_guard lock(w.mutex);
        if (w.orphans.empty())
            return;
        const int i = below(rng, int(w.orphans.size()));
        ex = std::move(w.orphans[size_t(i)]);
        w.orphans.erase(w.orphans.begin() + i);
    }
    ex.reset();
    w.stats.foreignDestroyed.fetch_add(1);
}

void cancelOne(std::vector<std::shared_ptr<ItemRec>> &mine, Rng &rng)
{
    if (mine.empty())
        return;
    ItemRec &r = *mine[size_t(below(rng, int(mine.size())))];
    if (!r.accepted)
        return;
    r.future.cancel();
    std::uint64_t none = 0;
    r.cancelStamp.compare_exchange_strong(none, tick());
}

} // namespace model

// A randomised model test: many threads submit, post, postLatest, cancel, wait (nested), shut
// down, create and destroy executors in chains (some across threads), and after every round the
// invariants below are checked against what really happened. Rules guarded: C1/C3 (an item runs
// at most once, on the thread of an executor of its chain), C4 (per-producer order per target
// and running thread), C5 (results and exceptions land in the future), C6 (no item runs after
// its future was cancelled before it started), C11/C12 (every future handed out finishes: result,
// exception, Broken or cancelled; nothing leaks), C13 (destroyed by another thread: handled as
// shutdown), X1/X2 (every posted callable runs, or is replaced, or is reported as never run).
// Also: C9 (waits after the owner thread's quit() was requested, floods of self-re-posting
// items, some of them slow, far deadlines: a wait never overruns its deadline by more than
// kOverrunMs, and no item that a wait itself starts starts more than kLateStartMs after its
// deadline), X2 across hand-offs (postLatest to broken executors and their chains), X3 (invoke()
// from an owner with several executors: work sent back through any of them runs), X8 (context
// objects destroyed on other threads: an item whose context was gone before it started never
// runs), X9 (executors of QThreads that run event loops, made on first use during the round and
// broken when such a thread stops mid-round) and X10 (stats() and pendingCount() read from any
// thread at any time: no total goes down, and the books add up exactly once all is quiet).
//
// Seeded and reproducible: the seed of every round is derived from one base seed, printed at the
// start. The seed fixes each thread's program of operations; the interleaving of the threads is
// the operating system's, so a failing seed is replayed by running it many times:
//   QDISPATCH_MODEL_SEED=<seed>      base seed (default: from the clock); round r uses seed + r
//   QDISPATCH_MODEL_REPEAT=1         every round uses the base seed itself (replay one round)
//   QDISPATCH_MODEL_ROUNDS=<n>       run exactly n rounds
//   QDISPATCH_MODEL_SECONDS=<s>      otherwise run rounds for s seconds (default 3, the CI run)
//   QDISPATCH_MODEL_KEEP_GOING=1     do not stop at the first failing round; count them all
// scripts/soak.sh runs it for a long time over many seeds. See docs/reliability.md.

#include <qdispatch/currentthreadexecutor.h>

#include "messages.h"
#include "testsupport.h"

#include <QtCore/QByteArray>
#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QFuture>
#include <QtCore/QPromise>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

using qdispatch::CurrentThreadExecutor;
using qdispatch::ExecutorError;
using qdispatch::ExecutorHandle;
using qdispatch::RunMode;
using qdispatchtest::AnyThread;
using qdispatchtest::kJoinMs;
using qdispatchtest::MessageLog;
using qdispatchtest::Semaphore;

namespace {

using Rng = std::mt19937_64;

std::uint64_t splitmix(std::uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

std::uint64_t derive(std::uint64_t seed, std::uint64_t stream)
{
    return splitmix(seed ^ splitmix(stream + 1));
}

int below(Rng &rng, int n)
{
    return n <= 0 ? 0 : int(rng() % std::uint64_t(n));
}

// A logical clock shared by all threads. Every item start, item end and owner-loop step takes a
// stamp (a "mark") on its thread; a cancel takes one right after QFuture::cancel() returned. The
// library checks "cancelled?" for an item after the previous mark on that item's thread, so an
// item whose cancel stamp is older than that mark must have been skipped (C6). Sequentially
// consistent read-modify-writes on one atomic: the stamps order the events soundly.
std::atomic<std::uint64_t> g_clock{0};
std::uint64_t tick()
{
    return g_clock.fetch_add(1, std::memory_order_seq_cst) + 1;
}

std::atomic<long long> g_liveCallables{0};

thread_local int t_thread = -1; // the model's index of this thread (main 0, owners, producers)
thread_local std::uint64_t t_lastMark = 0;
thread_local std::uint64_t t_starts = 0; // items started on this thread so far
thread_local std::uint64_t t_seq = 0; // items this thread submitted or posted so far
thread_local bool t_inCall = false; // inside our own submit/post/postLatest call
thread_local int t_depth = 0; // nesting of model waits inside items

void mark()
{
    t_lastMark = tick();
}

constexpr int kWaitMs = 10000; // a producer's wait for one of its items
constexpr int kInvokeBackMs = 1000; // X3: how long an invoked item waits for work sent back
// C9: how late a wait may return after its deadline. Items run inside a wait may block it
// legitimately: an invoked item waits up to kInvokeBackMs when its executor broke meanwhile,
// and a few owners may invoke at once.
constexpr int kOverrunMs = 5 * kInvokeBackMs;
// C9: how much later than its deadline a wait may still start an item: none is allowed, but the
// clock is read a little before the item starts, and the thread may be preempted in between.
constexpr qint64 kLateStartMs = 100;
constexpr int kProducerBase = 100; // producer threads own no executor
constexpr int kMaxDepth = 2;
constexpr int kMaxOwnExecutors = 4;
const char kLatestKeys[4] = {};

class ModelError : public std::runtime_error
{
public:
    explicit ModelError(const std::string &what) : std::runtime_error(what) { }
};

enum class Kind { Submit, Post, Latest };
enum class Behaviour { Leaf, Wait, Scoped, Send, Flood };

// Everything known about one callable handed to the library.
struct ItemRec
{
    int id = 0;
    Kind kind = Kind::Submit;
    int producer = -1;
    std::uint64_t seq = 0;
    int target = -1; // the executor it was sent to
    bool throws = false;

    std::atomic<int> runs{0};
    std::atomic<int> ranOn{-1};
    std::atomic<std::uint64_t> startIndex{0};
    std::atomic<std::uint64_t> prevMark{0};
    std::atomic<std::uint64_t> cancelStamp{0};
    std::atomic<int> destroyed{0};
    std::atomic<bool> destroyedInCall{false}; // rejected by the call, or replaced (X2)
    std::atomic<bool> threw{false};
    bool hasContext = false; // X8: sent with a context object that some thread destroys
    std::atomic<const QObject *> contextObject{nullptr}; // its address, only compared
    std::atomic<std::uint64_t> contextGoneStamp{0}; // tick() right after it was destroyed

    // Written by the creating thread before it ends; read once every thread has ended.
    bool accepted = false;
    int rejected = -1; // ExecutorError::Code when the call threw
    QFuture<int> future;
};

// Counts its callable's life: exactly one destruction per callable handed in.
struct Token
{
    explicit Token(std::shared_ptr<ItemRec> r) : rec(std::move(r)) { g_liveCallables.fetch_add(1); }
    Token(Token &&other) noexcept : rec(std::move(other.rec)) { }
    Token(const Token &) = delete;
    Token &operator=(const Token &) = delete;
    Token &operator=(Token &&) = delete;
    ~Token()
    {
        if (!rec)
            return;
        if (t_inCall && rec->runs.load() == 0)
            rec->destroyedInCall.store(true);
        rec->destroyed.fetch_add(1);
        g_liveCallables.fetch_sub(1);
    }
    std::shared_ptr<ItemRec> rec;
};

struct ExecRec
{
    int id;
    int owner; // model thread index
    int oldId; // -1: none
    ExecutorHandle handle;
    CurrentThreadExecutor *ptr; // valid while usable
    bool usable;
};

// The executors a thread owns (its own list; items running on it use it for nested waits).
struct OwnerState
{
    std::vector<std::unique_ptr<CurrentThreadExecutor>> own;
    std::vector<int> ids;
};
thread_local OwnerState *t_owner = nullptr;
thread_local bool t_quitRequested = false; // this owner asked its own thread to quit (C9)
// C9: per wait of this thread that is in progress (innermost last), when the last item that
// this wait itself started began (ms on g_since), -1 for none.
thread_local std::vector<qint64> t_waitStarts;
QElapsedTimer g_since; // started once, before the first round

struct Stats
{
    std::atomic<long long> items{0}, ran{0}, broken{0}, cancelled{0}, threw{0}, rejectedOwn{0},
            rejectedBroken{0}, replaced{0}, waits{0}, waitTimeouts{0}, created{0}, destroyed{0},
            foreignDestroyed{0}, shutdowns{0}, c6Checked{0}, quitWaits{0}, floods{0},
            invokes{0}, contexts{0}, contextsSkipped{0}, snapshots{0}, loopExecutors{0},
            loopStops{0};

    void add(const Stats &o)
    {
        for (auto member : { &Stats::items, &Stats::ran, &Stats::broken, &Stats::cancelled,
                             &Stats::threw, &Stats::rejectedOwn, &Stats::rejectedBroken,
                             &Stats::replaced, &Stats::waits, &Stats::waitTimeouts,
                             &Stats::created, &Stats::destroyed, &Stats::foreignDestroyed,
                             &Stats::shutdowns, &Stats::c6Checked, &Stats::quitWaits,
                             &Stats::floods, &Stats::invokes, &Stats::contexts,
                             &Stats::contextsSkipped, &Stats::snapshots, &Stats::loopExecutors,
                             &Stats::loopStops })
            (this->*member).fetch_add((o.*member).load());
    }
};

// X9: a QThread running its event loop, whose executor (executorOf()) the model sends work to.
// Stopped and started again during the round, which breaks that executor and makes a new one.
struct LoopThreadRec
{
    int index = 0; // model thread index
    std::unique_ptr<qdispatchtest::LoopThread> thread;
    int execId = -1; // the ExecRec of its current executorOf() executor, -1: none made yet
};

struct World
{
    std::uint64_t seed = 0;
    std::vector<LoopThreadRec> loops; // guarded by mutex (the threads themselves by loopMutex)
    std::mutex loopMutex; // one stop-and-restart at a time
    std::vector<std::unique_ptr<QObject>> contexts; // X8: alive, to be destroyed by any thread
    std::mutex mutex; // guards execs[i].ptr/usable, orphans, leftovers
    std::vector<ExecRec> execs;
    std::vector<std::unique_ptr<CurrentThreadExecutor>> orphans; // given away by their owner
    std::vector<std::unique_ptr<CurrentThreadExecutor>> leftovers; // left by an ended owner
    std::mutex recMutex;
    std::vector<std::shared_ptr<ItemRec>> records;
    std::atomic<bool> stop{false};
    std::atomic<bool> hung{false};
    QStringList snapshotProblems; // X10, guarded by recMutex
    std::atomic<int> nextId{0};
    Stats stats;
    QStringList hangs; // guarded by recMutex
};

// Messages the library logs on purpose (X1, X2, C13), by the hundred: a MessageLog keeps them
// (and does not print them) for the round to count.
struct MessageCounts
{
    int neverRun = 0, postThrew = 0, foreignDestroy = 0;
    QStringList other;
};

MessageCounts countMessages(const QStringList &texts)
{
    MessageCounts counts;
    for (const QString &text : texts) {
        if (text.contains(QStringLiteral("will never run")))
            ++counts.neverRun;
        else if (text.contains(QStringLiteral("model post")))
            ++counts.postThrew;
        else if (text.contains(QStringLiteral("destroyed on another thread")))
            ++counts.foreignDestroy;
        else
            counts.other.append(text);
    }
    return counts;
}

// ------------------------------------------------------------------------------------ registry

int registerExecutor(World &w, CurrentThreadExecutor *ex, int oldId)
{
    std::lock_guard lock(w.mutex);
    const int id = int(w.execs.size());
    w.execs.push_back(ExecRec{ id, t_thread, oldId, ex->handle(), ex, true });
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
    w.execs.push_back(ExecRec{ id, loop.index, -1, handle, nullptr, false });
    loop.execId = id;
    w.stats.loopExecutors.fetch_add(1);
    return id;
}

// X9: stops a loop thread and starts it again: its executor breaks (its queued items fail as
// Broken, C12) and the next use makes a new one.
void restartLoop(World &w, Rng &rng)
{
    std::lock_guard restart(w.loopMutex);
    qdispatchtest::LoopThread *thread;
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
    SubmitFn fn{ Token(rec), w, behaviour, rng() };
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
        handleOf(w, target).post(PostFn{ Token(rec), nullptr, 0 });
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
        handleOf(*w, target).post(PostFn{ Token(rec), w, generations, slowMs });
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
            PostFn drop{ Token(rec), nullptr, 0 }; // destroyed in the call: counted as rejected
            return;
        }
        e.ptr->postLatest(key, PostFn{ Token(rec), nullptr, 0 });
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
        if (s->accepted < seen.accepted || s->run < seen.run || s->cancelled < seen.cancelled
            || s->handedOff < seen.handedOff || s->failed < seen.failed)
            found.append(QStringLiteral("X10: a total of executor %1 went down between two "
                                        "looks from model thread %2 (accepted %3 -> %4, run %5 -> "
                                        "%6, cancelled %7 -> %8)")
                                 .arg(id).arg(t_thread)
                                 .arg(seen.accepted).arg(s->accepted)
                                 .arg(seen.run).arg(s->run)
                                 .arg(seen.cancelled).arg(s->cancelled));
        if (done(*s) > s->accepted)
            found.append(QStringLiteral("X10: executor %1 counts %2 done of %3 accepted")
                                 .arg(id).arg(done(*s)).arg(s->accepted));
        seen = *s;
    }
    if (pending > after.accepted - done(before))
        found.append(QStringLiteral("X10: executor %1: pendingCount() %2 exceeds a later "
                                    "accepted %3 minus an earlier done %4")
                             .arg(id).arg(pending).arg(after.accepted).arg(done(before)));
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

RunMode pickMode(Rng &rng)
{
    static const RunMode modes[] = { RunMode::AllEvents, RunMode::ExcludeUserInput,
                                     RunMode::ExecutorOnly };
    return modes[below(rng, 3)];
}

// One wait of the owner thread on one of its executors: for an item sent elsewhere, for a
// future that never finishes (the deadline ends it), or for one already finished.
void waitOnce(const std::shared_ptr<World> &w, Rng &rng, CurrentThreadExecutor *ex, int maxMs)
{
    QPromise<void> never;
    never.start();
    QFuture<void> future;
    const int kind = below(rng, 3);
    if (kind == 0) {
        auto rec = submitOne(w, rng, pickExecutor(*w, rng), Behaviour::Leaf, false);
        if (rec->accepted)
            future = QFuture<void>(rec->future);
        else
            future = never.future();
    } else if (kind == 1) {
        future = never.future();
    } else {
        future = qdispatch_compat::readyFuture();
    }
    // C9: any deadline a QDeadlineTimer can hold; far ones only where the future is finished.
    QDeadlineTimer deadline(below(rng, maxMs + 1));
    if (kind == 2 && below(rng, 3) == 0)
        deadline = below(rng, 2) ? QDeadlineTimer(QDeadlineTimer::Forever)
                                 : QDeadlineTimer(std::numeric_limits<qint64>::max() / 2);
    const RunMode mode = pickMode(rng);
    QElapsedTimer clock;
    clock.start();
    const qint64 deadlineAt =
            deadline.isForever() || deadline.remainingTime() > 3600 * 1000
            ? std::numeric_limits<qint64>::max()
            : g_since.elapsed() + deadline.remainingTime();
    mark();
    t_waitStarts.push_back(-1);
    const bool finished = ex->runUntilFuture(future, deadline, mode);
    const qint64 lastStart = t_waitStarts.back();
    t_waitStarts.pop_back();
    mark();
    const qint64 elapsed = clock.elapsed();
    // Only a wait that gave up: one whose future finished runs what was accepted before (C8).
    if (!finished && deadlineAt != std::numeric_limits<qint64>::max()
        && lastStart > deadlineAt + kLateStartMs) {
        std::lock_guard lock(w->recMutex);
        w->hangs.append(QStringLiteral("C9: a wait (mode %1) started an item %2 ms after its "
                                       "deadline had passed")
                                .arg(int(mode))
                                .arg(lastStart - deadlineAt));
    }
    w->stats.waits.fetch_add(1);
    if (t_quitRequested)
        w->stats.quitWaits.fetch_add(1);
    if (!finished)
        w->stats.waitTimeouts.fetch_add(1);
    if (!finished && elapsed > maxMs + kOverrunMs) {
        std::lock_guard lock(w->recMutex);
        w->hangs.append(QStringLiteral("C9: a wait with a %1 ms deadline returned after %2 ms "
                                       "(mode %3, quit requested: %4)")
                                .arg(maxMs)
                                .arg(elapsed)
                                .arg(int(mode))
                                .arg(t_quitRequested));
    }
}

// X3: an owner invokes on the main-thread executor; that item sends work back through one of
// the owner's own executors (the oldest: not the one a newest-only wait would serve) and waits
// for it. It must run while invoke() waits, unless another thread broke that executor meanwhile
// (then the work went down its chain, maybe to the blocked main thread itself).
void invokeBack(const std::shared_ptr<World> &w, OwnerState &owner)
{
    if (owner.own.size() < 2)
        return;
    CurrentThreadExecutor *target = owner.own.front().get();
    QThread *const self = QThread::currentThread();
    w->stats.invokes.fetch_add(1);
    int outcome = 0; // 1 ran here, 0 did not run, -1 could not be sent
    try {
        outcome = qdispatch::invokeOnMainThread([target, self] {
            auto ran = std::make_shared<Semaphore>();
            auto where = std::make_shared<std::atomic<QThread *>>(nullptr);
            try {
                // submit, not post: a post that never runs is reported, and counted by verify().
                (void)target->submit([ran, where] {
                    where->store(QThread::currentThread());
                    ran->release();
                });
            } catch (const ExecutorError &) {
                return -1;
            }
            if (!ran->tryAcquire(1, kInvokeBackMs))
                return target->isBroken() ? -1 : 0;
            return where->load() == self || target->isBroken() ? 1 : 0;
        });
    } catch (const ExecutorError &) {
        outcome = -1; // the application's executor is going (never during a round)
    }
    if (outcome == 0) {
        std::lock_guard lock(w->recMutex);
        w->hangs.append(QStringLiteral("X3: work sent back to model thread %1 through its oldest "
                                       "live executor did not run while it waited in invoke()")
                                .arg(t_thread));
    }
}

void behave(const std::shared_ptr<World> &w, Behaviour behaviour, std::uint64_t seed)
{
    if (behaviour == Behaviour::Leaf || !t_owner || t_depth >= kMaxDepth)
        return;
    Rng rng(seed);
    OwnerState &owner = *t_owner;
    ++t_depth;
    switch (behaviour) {
    case Behaviour::Leaf:
        break;
    case Behaviour::Wait:
        // C8: nested wait, on this or another executor of this thread.
        if (!owner.own.empty())
            waitOnce(w, rng, owner.own[size_t(below(rng, int(owner.own.size())))].get(), 6);
        break;
    case Behaviour::Scoped: {
        // asgiref's pattern: a new executor for the length of one wait, chained to an older
        // one (maybe on another thread), visible to every producer meanwhile; destroyed at the
        // end, so its queue moves down the chain (C12).
        const int id = createExecutor(*w, rng, owner);
        CurrentThreadExecutor *ex = owner.own.back().get();
        waitOnce(w, rng, ex, 8);
        if (below(rng, 4) == 0) {
            ex->shutdown();
            w->stats.shutdowns.fetch_add(1);
        }
        Q_ASSERT(owner.ids.back() == id);
        takeOwn(*w, owner, int(owner.own.size()) - 1).reset();
        w->stats.destroyed.fetch_add(1);
        break;
    }
    case Behaviour::Flood:
        // C9: a burst of self-re-posting items to one of this thread's executors, while the
        // thread goes on waiting (with deadlines) around it.
        if (!owner.own.empty()) {
            if (below(rng, 3) == 0) // slow items: a wait's deadline passes while one runs
                postReposting(w, owner.ids[size_t(below(rng, int(owner.own.size())))],
                              5 + below(rng, 30), 5 + below(rng, 10));
            else
                postReposting(w, owner.ids[size_t(below(rng, int(owner.own.size())))],
                              20 + below(rng, 200), 0);
            w->stats.floods.fetch_add(1);
        }
        break;
    case Behaviour::Send:
        for (int i = below(rng, 4); i >= 0; --i) {
            const int target = pickExecutor(*w, rng);
            if (below(rng, 3) == 0)
                postOne(*w, rng, target);
            else
                submitOne(w, rng, target, Behaviour::Leaf, false);
        }
        break;
    }
    --t_depth;
}

// ------------------------------------------------------------------------------------- threads

// A producer: no executor of its own in the registry; a private one only to wait on futures
// (ExecutorOnly wakes at once for QDispatch futures).
void producerBody(const std::shared_ptr<World> &w, int index, int ops, std::uint64_t seed)
{
    t_thread = index;
    Rng rng(seed);
    CurrentThreadExecutor waiter;
    std::vector<std::shared_ptr<ItemRec>> mine;
    for (int op = 0; op < ops; ++op) {
        const int r = below(rng, 100);
        const int target = pickExecutor(*w, rng);
        if (r < 45) {
            mine.push_back(submitOne(w, rng, target, pickBehaviour(rng), false));
        } else if (r < 52) {
            mine.push_back(submitOne(w, rng, target, pickBehaviour(rng), true));
        } else if (r < 67) {
            postOne(*w, rng, target);
        } else if (r < 77) {
            postLatestOne(*w, rng, target);
        } else if (r < 88) {
            cancelOne(mine, rng);
        } else if (r < 91) {
            // A blocking wait for one of our items (C12: it finishes, whatever happens).
            if (!mine.empty()) {
                ItemRec &rec = *mine[size_t(below(rng, int(mine.size())))];
                // After one such wait timed out, nobody waits again: fail fast, not hang.
                if (rec.accepted && !w->hung.load()
                    && !waiter.runUntilFuture(rec.future, QDeadlineTimer(kWaitMs),
                                              RunMode::ExecutorOnly)) {
                    w->hung.store(true);
                    std::lock_guard lock(w->recMutex);
                    w->hangs.append(QStringLiteral("C12: producer %1 waited %2 ms for item %3, "
                                                   "in vain")
                                            .arg(index)
                                            .arg(kWaitMs)
                                            .arg(rec.id));
                }
            }
        } else if (r < 92) {
            shutdownOne(*w, rng);
        } else if (r < 95) {
            deleteOrphan(*w, rng);
        } else if (r < 96) {
            killContext(*w, rng);
        } else if (r < 97) {
            lookAtBooks(*w, rng);
        } else if (r < 99) {
            // X9: work for a loop thread's executor, made on first use.
            const int loop = loopExecutor(*w, below(rng, int(w->loops.size())));
            if (loop >= 0)
                mine.push_back(submitOne(w, rng, loop, Behaviour::Leaf, false));
        } else if (below(rng, 4) == 0) {
            restartLoop(*w, rng);
        } else {
            mine.push_back(submitOne(w, rng, target, Behaviour::Leaf, false));
        }
    }
}

// An owner: creates executors (chained at random), serves them, sends work, destroys them,
// gives some away, and at its end leaves some for the main thread to destroy after it ended.
void ownerBody(const std::shared_ptr<World> &w, int index, std::uint64_t seed, Semaphore &ready)
{
    t_thread = index;
    t_quitRequested = false;
    Rng rng(seed);
    OwnerState owner;
    t_owner = &owner;
    createExecutor(*w, rng, owner);
    ready.release();
    std::vector<std::shared_ptr<ItemRec>> mine;
    while (!w->stop.load()) {
        const int r = below(rng, 100);
        if (owner.own.empty()) {
            createExecutor(*w, rng, owner);
            continue;
        }
        const int i = below(rng, int(owner.own.size()));
        if (r < 50) {
            waitOnce(w, rng, owner.own[size_t(i)].get(), 4);
        } else if (r < 60) {
            mine.push_back(submitOne(w, rng, pickExecutor(*w, rng), pickBehaviour(rng), false));
        } else if (r < 65) {
            postOne(*w, rng, pickExecutor(*w, rng)); // X1: allowed on the owner thread too
        } else if (r < 69) {
            postLatestOne(*w, rng, pickExecutor(*w, rng));
        } else if (r < 74) {
            if (int(owner.own.size()) < kMaxOwnExecutors)
                createExecutor(*w, rng, owner);
        } else if (r < 79) {
            takeOwn(*w, owner, i).reset(); // C13 on its own thread
            w->stats.destroyed.fetch_add(1);
        } else if (r < 81) {
            // Given away: from now on only its handle is used, and some other thread destroys it.
            auto ex = takeOwn(*w, owner, i);
            std::lock_guard lock(w->mutex);
            w->orphans.push_back(std::move(ex));
        } else if (r < 82) {
            shutdownOne(*w, rng);
        } else if (r < 86) {
            deleteOrphan(*w, rng);
        } else if (r < 92) {
            cancelOne(mine, rng);
        } else if (r < 93) {
            // C9: from here on this thread's event loop is asked to quit, as after
            // QThread::quit() in a slot: every later wait of this owner runs in that state.
            if (!t_quitRequested) {
                QThread::currentThread()->quit();
                t_quitRequested = true;
            }
        } else if (r < 94) {
            invokeBack(w, owner);
        } else if (r < 95) {
            behave(w, Behaviour::Flood, rng());
        } else if (r < 96) {
            killContext(*w, rng);
        } else if (r < 97) {
            lookAtBooks(*w, rng);
        } else {
            waitOnce(w, rng, owner.own[size_t(i)].get(), 2);
        }
    }
    // The end of the owner thread (C10): destroy some executors here, leave the rest to break
    // with the thread and be destroyed by the main thread afterwards (C13: allowed then).
    while (!owner.own.empty()) {
        auto ex = takeOwn(*w, owner, below(rng, int(owner.own.size())));
        if (below(rng, 2) == 0) {
            ex.reset();
            w->stats.destroyed.fetch_add(1);
        } else {
            std::lock_guard lock(w->mutex);
            w->leftovers.push_back(std::move(ex));
        }
    }
    t_owner = nullptr;
}

// --------------------------------------------------------------------------------- verification

QString describe(const ItemRec &r)
{
    static const char *const kinds[] = { "submit", "post", "postLatest" };
    return QStringLiteral("%1 #%2 (producer %3, seq %4, target executor %5)")
            .arg(QLatin1String(kinds[int(r.kind)]))
            .arg(r.id)
            .arg(r.producer)
            .arg(r.seq)
            .arg(r.target);
}

QStringList verify(World &w, const MessageCounts &messages)
{
    QStringList problems;
    auto problem = [&](const QString &text) {
        if (problems.size() < 20)
            problems.append(text);
    };
    // The threads an item sent to executor `t` may run on: those of t's chain (C1, C11).
    auto allowed = [&](int t) {
        std::set<int> threads;
        for (int e = t; e >= 0; e = w.execs[size_t(e)].oldId)
            threads.insert(w.execs[size_t(e)].owner);
        return threads;
    };
    std::map<std::tuple<int, int, int>, std::vector<std::pair<std::uint64_t, std::uint64_t>>> order;
    int neverRunPosts = 0;
    int threwPosts = 0;
    for (const auto &p : w.records) {
        const ItemRec &r = *p;
        const int runs = r.runs.load();
        if (runs > 1)
            problem(QStringLiteral("C3: %1 ran %2 times").arg(describe(r)).arg(runs));
        if (r.destroyed.load() != 1)
            problem(QStringLiteral("C12: the callable of %1 was destroyed %2 times")
                            .arg(describe(r))
                            .arg(r.destroyed.load()));
        if (runs > 0 && !allowed(r.target).count(r.ranOn.load()))
            problem(QStringLiteral("C1/C11: %1 ran on model thread %2, not on a thread of its "
                                   "executor's chain")
                            .arg(describe(r))
                            .arg(r.ranOn.load()));
        if (!r.accepted) {
            if (runs > 0)
                problem(QStringLiteral("C7/C11: %1 was rejected (code %2) but ran")
                                .arg(describe(r))
                                .arg(r.rejected));
            if (!r.destroyedInCall.load())
                problem(QStringLiteral("C7/C11: %1 was rejected but its callable lived on")
                                .arg(describe(r)));
            continue;
        }
        if (runs == 1 && r.kind != Kind::Latest)
            order[{ r.producer, r.target, r.ranOn.load() }].emplace_back(r.seq,
                                                                          r.startIndex.load());
        if (r.kind != Kind::Submit) {
            if (runs == 0 && !r.destroyedInCall.load())
                ++neverRunPosts; // X1: reported with qWarning
            if (runs == 0 && r.destroyedInCall.load())
                w.stats.replaced.fetch_add(1); // X2: replaced by a newer postLatest
            if (r.kind == Kind::Post && r.destroyedInCall.load())
                problem(QStringLiteral("X1: %1 was accepted but destroyed in the call")
                                .arg(describe(r)));
            if (r.threw.load())
                ++threwPosts;
            if (runs)
                w.stats.ran.fetch_add(1);
            continue;
        }
        QFuture<int> f = r.future;
        if (!f.isFinished()) {
            problem(QStringLiteral("C12: the future of %1 never finished (ran %2 times)")
                            .arg(describe(r))
                            .arg(runs));
            continue;
        }
        const std::uint64_t cancel = r.cancelStamp.load();
        const std::uint64_t contextGone = r.contextGoneStamp.load();
        if (runs && contextGone && contextGone < r.prevMark.load())
            problem(QStringLiteral("X8: %1 ran although its context object was destroyed before "
                                   "it started (destroyed at %2, previous mark on its thread %3)")
                            .arg(describe(r))
                            .arg(contextGone)
                            .arg(r.prevMark.load()));
        if (runs && cancel) {
            w.stats.c6Checked.fetch_add(1);
            if (cancel < r.prevMark.load())
                problem(QStringLiteral("C6: %1 ran although its future was cancelled before it "
                                       "started (cancel stamp %2, previous mark on its thread %3)")
                                .arg(describe(r))
                                .arg(cancel)
                                .arg(r.prevMark.load()));
        }
        // Qt 6.4 marks a future that holds an exception as cancelled too: look for the
        // exception first, then tell a plain cancel from a result.
        try {
            f.waitForFinished();
            if (f.isCanceled()) {
                w.stats.cancelled.fetch_add(1);
                if (!cancel && r.hasContext && runs == 0)
                    w.stats.contextsSkipped.fetch_add(1); // X8: skipped, its context gone
                else if (!cancel)
                    problem(QStringLiteral("C6: %1 is cancelled but nobody cancelled it")
                                    .arg(describe(r)));
            } else if (runs != 1 || r.threw.load()) {
                problem(QStringLiteral("C5: %1 has a result but ran %2 times (threw: %3)")
                                .arg(describe(r))
                                .arg(runs)
                                .arg(r.threw.load()));
            } else if (f.resultCount() != 1 || f.result() != r.id) {
                problem(QStringLiteral("C5: %1 has the wrong result").arg(describe(r)));
            } else {
                w.stats.ran.fetch_add(1);
            }
        } catch (const ExecutorError &error) {
            w.stats.broken.fetch_add(1);
            if (error.code() != ExecutorError::Code::Broken)
                problem(QStringLiteral("C12: %1 failed with ExecutorError code %2")
                                .arg(describe(r))
                                .arg(int(error.code())));
            if (runs)
                problem(QStringLiteral("C12: %1 failed as Broken but had run").arg(describe(r)));
        } catch (const ModelError &) {
            w.stats.threw.fetch_add(1);
            if (runs != 1 || !r.threw.load())
                problem(QStringLiteral("C5: %1 holds its exception but did not throw it")
                                .arg(describe(r)));
        } catch (...) {
            problem(QStringLiteral("C5: %1 holds an exception of an unexpected type")
                            .arg(describe(r)));
        }
    }
    // C4: the items of one producer, sent to one executor, that ran on one thread started in
    // the order the producer sent them.
    for (auto &[key, list] : order) {
        std::sort(list.begin(), list.end());
        for (size_t i = 1; i < list.size(); ++i) {
            if (list[i].second < list[i - 1].second) {
                problem(QStringLiteral("C4: producer %1's items to executor %2 ran out of order on "
                                       "thread %3: seq %4 started after seq %5")
                                .arg(std::get<0>(key))
                                .arg(std::get<1>(key))
                                .arg(std::get<2>(key))
                                .arg(list[i - 1].first)
                                .arg(list[i].first));
                break;
            }
        }
    }
    const int warned = messages.neverRun;
    if (warned != neverRunPosts)
        problem(QStringLiteral("X1: %1 posted items never ran but %2 were reported")
                        .arg(neverRunPosts)
                        .arg(warned));
    const int criticals = messages.postThrew;
    if (criticals != threwPosts)
        problem(QStringLiteral("X1: %1 posted items threw but %2 were reported")
                        .arg(threwPosts)
                        .arg(criticals));
    return problems;
}

std::uint64_t envNumber(const char *name, std::uint64_t fallback, bool *given = nullptr)
{
    const QByteArray value = qgetenv(name);
    bool ok = false;
    const std::uint64_t n = value.toULongLong(&ok);
    if (given)
        *given = ok;
    return ok ? n : fallback;
}

} // namespace

class TestModel : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void c1_c4_c6_c11_c12_randomisedModel();

private:
    // One round with its own seed; returns the problems found.
    QStringList runRound(std::uint64_t seed, Stats &total);

    std::unique_ptr<MessageLog> m_executorMessages;
    QStringList m_otherMessages;
};

void TestModel::initTestCase()
{
    g_since.start();
    m_executorMessages = std::make_unique<MessageLog>(MessageLog::category("qdispatch.executor"),
                                                      MessageLog::category("qdispatch.executor"));
}

void TestModel::cleanupTestCase()
{
    m_executorMessages.reset();
}

QStringList TestModel::runRound(std::uint64_t seed, Stats &total)
{
    auto w = std::make_shared<World>();
    w->seed = seed;
    Rng rng(derive(seed, 0));
    const int owners = 2 + below(rng, 2);
    const int producers = 2 + below(rng, 3);
    const int ops = 150 + below(rng, 450);
    m_executorMessages->clear();
    const long long liveBefore = g_liveCallables.load();

    // The main thread is an owner too: one executor, chainable and served while it waits.
    t_thread = 0;
    OwnerState mainOwner;
    t_owner = &mainOwner;
    auto mainEx = std::make_unique<CurrentThreadExecutor>();
    const int mainId = registerExecutor(*w, mainEx.get(), -1);
    mainOwner.own.push_back(std::move(mainEx));
    mainOwner.ids.push_back(mainId);
    CurrentThreadExecutor *mainEx2 = mainOwner.own.front().get();

    // X9: two loop threads whose executors are made on first use.
    for (int i = 0; i < 2; ++i) {
        LoopThreadRec loop;
        loop.index = 50 + i;
        loop.thread = std::make_unique<qdispatchtest::LoopThread>();
        loop.thread->start();
        w->loops.push_back(std::move(loop));
    }

    Semaphore ready;
    std::vector<std::unique_ptr<AnyThread>> ownerThreads;
    auto ownersLeft = std::make_shared<std::atomic<int>>(owners);
    auto ownersDone = std::make_shared<QPromise<void>>();
    ownersDone->start();
    for (int i = 1; i <= owners; ++i) {
        const std::uint64_t s = derive(seed, std::uint64_t(i));
        ownerThreads.push_back(std::make_unique<AnyThread>(below(rng, 3) != 0, [=, &ready] {
            ownerBody(w, i, s, ready);
            if (ownersLeft->fetch_sub(1) == 1)
                ownersDone->finish();
        }));
    }
    if (!ready.tryAcquire(owners, kJoinMs))
        qFatal("tst_model: owner threads did not start (seed %llu)", (unsigned long long)seed);

    std::vector<std::unique_ptr<AnyThread>> producerThreads;
    auto producersLeft = std::make_shared<std::atomic<int>>(producers);
    auto producersDone = std::make_shared<QPromise<void>>();
    producersDone->start();
    for (int i = 0; i < producers; ++i) {
        const int index = kProducerBase + i;
        const std::uint64_t s = derive(seed, std::uint64_t(index));
        producerThreads.push_back(std::make_unique<AnyThread>(below(rng, 2) != 0, [=] {
            producerBody(w, index, ops, s);
            if (producersLeft->fetch_sub(1) == 1)
                producersDone->finish();
        }));
    }

    QStringList problems;
    mark();
    if (!mainEx2->runUntilFuture(producersDone->future(), QDeadlineTimer(2 * kJoinMs)))
        qFatal("tst_model: producers did not finish (seed %llu)", (unsigned long long)seed);
    w->stop.store(true);
    if (!mainEx2->runUntilFuture(ownersDone->future(), QDeadlineTimer(2 * kJoinMs)))
        qFatal("tst_model: owners did not finish (seed %llu)", (unsigned long long)seed);
    for (auto &t : producerThreads)
        if (!t->join())
            qFatal("tst_model: a producer did not end (seed %llu)", (unsigned long long)seed);
    for (auto &t : ownerThreads)
        if (!t->join())
            qFatal("tst_model: an owner did not end (seed %llu)", (unsigned long long)seed);
    for (auto &loop : w->loops)
        if (!loop.thread->stop())
            qFatal("tst_model: a loop thread did not stop (seed %llu)", (unsigned long long)seed);
    mark();

    // X10, all quiet (no item runs anywhere): every executor's books add up exactly.
    {
        std::lock_guard lock(w->mutex);
        for (const ExecRec &e : w->execs) {
            const qdispatch::ExecutorStats st = e.handle.stats();
            const quint64 pending = e.handle.pendingCount();
            if (st.accepted != st.run + st.cancelled + st.handedOff + st.failed + pending)
                problems.append(QStringLiteral("X10: executor %1 at rest: accepted %2 != run %3 + "
                                               "cancelled %4 + handed off %5 + failed %6 + "
                                               "pending %7")
                                        .arg(e.id).arg(st.accepted).arg(st.run)
                                        .arg(st.cancelled).arg(st.handedOff).arg(st.failed)
                                        .arg(pending));
            if (st.peakPending < pending)
                problems.append(QStringLiteral("X10: executor %1: peakPending %2 < pending %3")
                                        .arg(e.id).arg(st.peakPending).arg(pending));
        }
    }

    // Every owner has ended: destroying their executors here is allowed (C13). Then the main
    // executor: either run what it holds first, or let its destruction fail it (C12).
    {
        std::vector<std::unique_ptr<CurrentThreadExecutor>> rest;
        {
            std::lock_guard lock(w->mutex);
            for (auto &e : w->execs) {
                e.usable = false;
                e.ptr = nullptr;
            }
            rest = std::move(w->orphans);
            for (auto &ex : w->leftovers) {
                if (!ex->isBroken())
                    problems.append(QStringLiteral("C10: an owner thread has ended but an "
                                                   "executor it left is not broken"));
                rest.push_back(std::move(ex));
            }
            w->leftovers.clear();
        }
        if (below(rng, 2) == 0)
            std::reverse(rest.begin(), rest.end());
        rest.clear();
    }
    if (below(rng, 2) == 0)
        qdispatchtest::drain(*mainEx2);
    mainOwner.own.clear();
    t_owner = nullptr;

    problems += w->hangs;
    problems += w->snapshotProblems;
    const MessageCounts messages = countMessages(m_executorMessages->texts());
    m_otherMessages += messages.other;
    problems += verify(*w, messages);
    const long long live = g_liveCallables.load() - liveBefore;
    if (live != 0)
        problems.append(QStringLiteral("C12: %1 callables were never destroyed").arg(live));

    total.add(w->stats);
    return problems;
}

void TestModel::c1_c4_c6_c11_c12_randomisedModel()
{
    bool seedGiven = false;
    bool roundsGiven = false;
    const std::uint64_t base = envNumber(
            "QDISPATCH_MODEL_SEED",
            std::uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()) % 1000000007ull,
            &seedGiven);
    const bool repeat = envNumber("QDISPATCH_MODEL_REPEAT", 0) != 0;
    const std::uint64_t rounds = envNumber("QDISPATCH_MODEL_ROUNDS", 0, &roundsGiven);
    const std::uint64_t seconds = envNumber("QDISPATCH_MODEL_SECONDS", 3);
    qInfo("tst_model: base seed %llu%s; replay a round with QDISPATCH_MODEL_SEED=<round seed> "
          "QDISPATCH_MODEL_REPEAT=1 QDISPATCH_MODEL_ROUNDS=<n>",
          (unsigned long long)base, seedGiven ? " (given)" : "");

    const bool keepGoing = envNumber("QDISPATCH_MODEL_KEEP_GOING", 0) != 0;
    std::uint64_t failedRounds = 0;
    std::map<QString, int> failuresByRule;
    QStringList failedSeeds;
    Stats total;
    QElapsedTimer clock;
    clock.start();
    std::uint64_t round = 0;
    for (;; ++round) {
        if (roundsGiven ? round >= rounds
                        : (round > 0 && clock.elapsed() >= qint64(seconds) * 1000))
            break;
        const std::uint64_t seed = repeat ? base : base + round;
        const QStringList problems = runRound(seed, total);
        if (problems.isEmpty())
            continue;
        qWarning("tst_model: round %llu, seed %llu failed:\n  %s", (unsigned long long)round,
                 (unsigned long long)seed, qPrintable(problems.join(QStringLiteral("\n  "))));
        ++failedRounds;
        for (const QString &p : problems)
            ++failuresByRule[p.section(QLatin1Char(':'), 0, 0)];
        if (failedSeeds.size() < 10)
            failedSeeds.append(QString::number(seed));
        if (!keepGoing) {
            ++round;
            break;
        }
    }
    QStringList byRule;
    for (auto it = failuresByRule.cbegin(); it != failuresByRule.cend(); ++it)
        byRule.append(QStringLiteral("%1 x%2").arg(it->first).arg(it->second));
    qInfo("tst_model: %llu rounds in %.1f s, seeds %llu..%llu: %lld items (%lld ran, %lld "
          "Broken, %lld cancelled, %lld threw, %lld replaced by postLatest; %lld submits "
          "rejected OwnThread, %lld Broken), %lld waits (%lld hit their deadline), %lld "
          "executors created, %lld destroyed on their thread, %lld destroyed by another "
          "thread, %lld shutdowns, %lld cancel-then-ran cases checked for C6, %lld waits after "
          "a quit request, %lld floods, %lld invokes with work sent back, %lld items with a "
          "context (%lld skipped, context gone), %lld looks at the books from other threads, "
          "%lld executorOf() executors of loop threads (%lld loop restarts); failed rounds: "
          "%llu %s",
          (unsigned long long)round, clock.elapsed() / 1000.0, (unsigned long long)base,
          (unsigned long long)(repeat ? base : base + round - 1), total.items.load(),
          total.ran.load(), total.broken.load(), total.cancelled.load(), total.threw.load(),
          total.replaced.load(), total.rejectedOwn.load(), total.rejectedBroken.load(),
          total.waits.load(), total.waitTimeouts.load(), total.created.load(),
          total.destroyed.load(), total.foreignDestroyed.load(), total.shutdowns.load(),
          total.c6Checked.load(), total.quitWaits.load(), total.floods.load(),
          total.invokes.load(), total.contexts.load(), total.contextsSkipped.load(),
          total.snapshots.load(), total.loopExecutors.load(), total.loopStops.load(),
          (unsigned long long)failedRounds,
          qPrintable(byRule.isEmpty() ? QString()
                                      : QStringLiteral("(") + byRule.join(QStringLiteral(", "))
                                   + QStringLiteral("; seeds ")
                                   + failedSeeds.join(QStringLiteral(" ")) + QStringLiteral(")")));
    QVERIFY2(failedRounds == 0,
             qPrintable(QStringLiteral("model invariants broken; replay a failing round with "
                                       "QDISPATCH_MODEL_SEED=%1 QDISPATCH_MODEL_REPEAT=1 "
                                       "QDISPATCH_MODEL_ROUNDS=200")
                                .arg(failedSeeds.value(0))));
    QVERIFY2(m_otherMessages.isEmpty(),
             qPrintable(QStringLiteral("unexpected library messages: ")
                        + m_otherMessages.join(QStringLiteral(" | "))));
}

QTEST_GUILESS_MAIN(TestModel)
#include "tst_model.moc"

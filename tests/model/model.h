// The randomised model test's harness, shared by tst_model.cpp and model/*.cpp: the world of one
// round (threads, executors, the record of every item handed to the library), the operations
// the threads perform at random, and the invariants checked after every round. The rules it
// guards, seeds and replay: tst_model.cpp and docs/reliability.md.
#pragma once

#include <qdispatch/currentthreadexecutor.h>

#include "messages.h"
#include "testsupport.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QFuture>
#include <QtCore/QObject>
#include <QtCore/QString>
#include <QtCore/QStringList>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace model {

using namespace qdispatch;
using namespace qdispatchtest;

using Rng = std::mt19937_64;

inline std::uint64_t splitmix(std::uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

inline std::uint64_t derive(std::uint64_t seed, std::uint64_t stream)
{
    return splitmix(seed ^ splitmix(stream + 1));
}

inline int below(Rng &rng, int n)
{
    return n <= 0 ? 0 : int(rng() % std::uint64_t(n));
}

// A logical clock shared by all threads. Every item start, item end and owner-loop step takes a
// stamp (a "mark") on its thread; a cancel takes one right after QFuture::cancel() returned. The
// library checks "cancelled?" for an item after the previous mark on that item's thread, so an
// item whose cancel stamp is older than that mark must have been skipped (C6). Sequentially
// consistent read-modify-writes on one atomic: the stamps order the events soundly.
inline std::atomic<std::uint64_t> g_clock { 0 };
inline std::uint64_t tick()
{
    return g_clock.fetch_add(1, std::memory_order_seq_cst) + 1;
}

inline std::atomic<long long> g_liveCallables { 0 };

inline thread_local int t_thread =
    -1; // the model's index of this thread (main 0, owners, producers)
inline thread_local std::uint64_t t_lastMark = 0;
inline thread_local std::uint64_t t_starts = 0; // items started on this thread so far
inline thread_local std::uint64_t t_seq = 0; // items this thread submitted or posted so far
inline thread_local bool t_inCall = false; // inside our own submit/post/postLatest call
inline thread_local int t_depth = 0; // nesting of model waits inside items

inline void mark()
{
    t_lastMark = tick();
}

constexpr int kWaitMs = 10000; // a producer's wait for one of its items
// X3: an invoked item that waits for work sent back calls it a hang once the owner has run no
// item for this long; it looks every kInvokeBackPollMs.
constexpr int kInvokeBackMs = 1000;
constexpr int kInvokeBackPollMs = 20;
// C9: how late a wait may return after its deadline. Items run inside a wait may block it
// legitimately: an invoked item waits while the owner works through what is queued ahead of the
// work it sent back, and a few owners may invoke at once.
constexpr int kOverrunMs = 5 * kInvokeBackMs;
// C9: how much later than its deadline a wait may still start an item: none is allowed, but the
// clock is read a little before the item starts, and the thread may be preempted in between.
constexpr qint64 kLateStartMs = 100;
constexpr int kProducerBase = 100; // producer threads own no executor
constexpr int kMaxDepth = 2;
constexpr int kMaxOwnExecutors = 4;
inline const char kLatestKeys[4] = {};

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

    std::atomic<int> runs { 0 };
    std::atomic<int> ranOn { -1 };
    std::atomic<std::uint64_t> startIndex { 0 };
    std::atomic<std::uint64_t> prevMark { 0 };
    std::atomic<std::uint64_t> cancelStamp { 0 };
    std::atomic<int> destroyed { 0 };
    std::atomic<bool> destroyedInCall { false }; // rejected by the call, or replaced (X2)
    std::atomic<bool> threw { false };
    bool hasContext = false; // X8: sent with a context object that some thread destroys
    std::atomic<const QObject *> contextObject { nullptr }; // its address, only compared
    std::atomic<std::uint64_t> contextGoneStamp { 0 }; // tick() right after it was destroyed

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
inline thread_local OwnerState *t_owner = nullptr;
inline thread_local bool t_quitRequested = false; // this owner asked its own thread to quit (C9)
// C9: per wait of this thread that is in progress (innermost last), when the last item that
// this wait itself started began (ms on g_since), -1 for none.
inline thread_local std::vector<qint64> t_waitStarts;
inline QElapsedTimer g_since; // started once, before the first round

struct Stats
{
    std::atomic<long long> items { 0 }, ran { 0 }, broken { 0 }, cancelled { 0 }, threw { 0 },
        rejectedOwn { 0 }, rejectedBroken { 0 }, replaced { 0 }, waits { 0 }, waitTimeouts { 0 },
        created { 0 }, destroyed { 0 }, foreignDestroyed { 0 }, shutdowns { 0 }, c6Checked { 0 },
        quitWaits { 0 }, floods { 0 }, invokes { 0 }, contexts { 0 }, contextsSkipped { 0 },
        snapshots { 0 }, loopExecutors { 0 }, loopStops { 0 };

    void add(const Stats &o)
    {
        for (auto member : { &Stats::items,
                             &Stats::ran,
                             &Stats::broken,
                             &Stats::cancelled,
                             &Stats::threw,
                             &Stats::rejectedOwn,
                             &Stats::rejectedBroken,
                             &Stats::replaced,
                             &Stats::waits,
                             &Stats::waitTimeouts,
                             &Stats::created,
                             &Stats::destroyed,
                             &Stats::foreignDestroyed,
                             &Stats::shutdowns,
                             &Stats::c6Checked,
                             &Stats::quitWaits,
                             &Stats::floods,
                             &Stats::invokes,
                             &Stats::contexts,
                             &Stats::contextsSkipped,
                             &Stats::snapshots,
                             &Stats::loopExecutors,
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
    std::atomic<bool> stop { false };
    std::atomic<bool> hung { false };
    QStringList snapshotProblems; // X10, guarded by recMutex
    std::atomic<int> nextId { 0 };
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

MessageCounts countMessages(const QStringList &texts);

// ------------------------------------------------------------------ the harness (model/*.cpp)

// The registry of executors and the records of items (model/operations.cpp).
int registerExecutor(World &w, CurrentThreadExecutor *ex, int oldId);
// Mostly a usable executor (so that work flows), sometimes any executor ever made in this
// round, destroyed or not: its handle stays safe (X7) and routes down the chain (C11).
int pickExecutor(World &w, Rng &rng);
int loopExecutor(World &w, int i);
void restartLoop(World &w, Rng &rng);
int createExecutor(World &w, Rng &rng, OwnerState &owner);
std::unique_ptr<CurrentThreadExecutor> takeOwn(World &w, OwnerState &owner, int i);
Behaviour pickBehaviour(Rng &rng);

// The operations a thread performs (model/operations.cpp).
std::shared_ptr<ItemRec> submitOne(const std::shared_ptr<World> &w, Rng &rng, int target,
                                   Behaviour behaviour, bool viaPointer);
void postOne(World &w, Rng &rng, int target);
void postReposting(const std::shared_ptr<World> &w, int target, int generations, int slowMs);
void postLatestOne(World &w, Rng &rng, int target);
void killContext(World &w, Rng &rng);
void lookAtBooks(World &w, Rng &rng);
void shutdownOne(World &w, Rng &rng);
void deleteOrphan(World &w, Rng &rng);
void cancelOne(std::vector<std::shared_ptr<ItemRec>> &mine, Rng &rng);

// Waits, what items do, and the programs of the threads (model/threads.cpp).
void waitOnce(const std::shared_ptr<World> &w, Rng &rng, CurrentThreadExecutor *ex, int maxMs);
void behave(const std::shared_ptr<World> &w, Behaviour behaviour, std::uint64_t seed);
void producerBody(const std::shared_ptr<World> &w, int index, int ops, std::uint64_t seed);
void ownerBody(const std::shared_ptr<World> &w, int index, std::uint64_t seed, Semaphore &ready);

// The invariants checked after every round (model/verify.cpp).
QStringList verify(World &w, const MessageCounts &messages);

} // namespace model

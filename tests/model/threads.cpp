// The randomised model test (tst_model.cpp): waits, what items do when they run, and the
// programs of the producer and owner threads.
#include "model.h"

#include "qtcompat.h"

#include <QtCore/QDeadlineTimer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QPromise>
#include <QtCore/QThread>

#include <chrono>
#include <limits>
#include <thread>
#include <vector>

namespace model {

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
    const qint64 deadlineAt = deadline.isForever() || deadline.remainingTime() > 3600 * 1000
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
    if (!finished && deadlineAt != std::numeric_limits<qint64>::max() &&
        lastStart > deadlineAt + kLateStartMs) {
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
// (then the work went down its chain, maybe to the blocked main thread itself). X3 says that it
// runs, not by when: it queues behind whatever that executor holds, and the owner takes turns
// with its other executors. So the item waits as long as the owner keeps running items, and
// calls it a hang when the owner ran none for kInvokeBackMs, or after kWaitMs in all.
void invokeBack(const std::shared_ptr<World> &w, OwnerState &owner)
{
    if (owner.own.size() < 2)
        return;
    CurrentThreadExecutor *target = owner.own.front().get();
    // Only this thread destroys or gives away its executors, and it is blocked in invoke().
    std::vector<CurrentThreadExecutor *> mine;
    for (const auto &ex : owner.own)
        mine.push_back(ex.get());
    QThread *const self = QThread::currentThread();
    w->stats.invokes.fetch_add(1);
    int outcome = 0; // 1 ran here, 0 did not run, -1 could not be sent
    QString waits; // X11's account of every wait, taken when the work did not run
    try {
        outcome = qdispatch::invokeOnMainThread([target, self, &mine, &waits] {
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
            // Items the owner has started or skipped, on any of its executors.
            const auto progress = [&mine] {
                quint64 total = 0;
                for (CurrentThreadExecutor *ex : mine) {
                    const ExecutorStats stats = ex->stats();
                    total += stats.run + stats.cancelled;
                }
                return total;
            };
            QElapsedTimer inAll;
            inAll.start();
            QElapsedTimer still;
            still.start();
            quint64 seen = progress();
            while (!ran->tryAcquire(1, kInvokeBackPollMs)) {
                if (target->isBroken())
                    return -1;
                if (const quint64 now = progress(); now != seen) {
                    seen = now;
                    still.restart();
                } else if (still.hasExpired(kInvokeBackMs) || inAll.hasExpired(kWaitMs)) {
                    waits = qdispatch::describeWaits();
                    return 0;
                }
            }
            return where->load() == self || target->isBroken() ? 1 : 0;
        });
    } catch (const ExecutorError &) {
        outcome = -1; // the application's executor is going (never during a round)
    }
    if (outcome == 0) {
        std::lock_guard lock(w->recMutex);
        w->hangs.append(QStringLiteral("X3: work sent back to model thread %1 through its oldest "
                                       "live executor did not run while it waited in invoke(); "
                                       "the waits then:\n%2")
                            .arg(t_thread)
                            .arg(waits));
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
                if (rec.accepted && !w->hung.load() &&
                    !waiter.runUntilFuture(rec.future, QDeadlineTimer(kWaitMs),
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

} // namespace model

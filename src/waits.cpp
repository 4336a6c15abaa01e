// How the owner thread waits (C8, C9): runUntilFuture() in a local QEventLoop (AllEvents,
// ExcludeUserInput) or running nothing but the executor's items (ExecutorOnly), and the wait of
// invoke() on a thread with an executor of its own (X3). Built on the executor's state and its
// ExecutorOnly sleep (executorstate.cpp, ownersleep.cpp).
#include "diagnostics_p.h"
#include "errors_p.h"
#include "executorstate_p.h"
#include "spinwait_p.h"
#include "testhooks_p.h"
#include "threadregistry_p.h"
#include "timeslice_p.h"
#include "trace_p.h"
#include "waitchains_p.h"
#include "waitdeadlinescope_p.h"
#include "wokenwait_p.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QEventLoop>
#include <QtCore/QFutureWatcher>
#include <QtCore/QThread>
#include <QtCore/QTimer>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <mutex>
#include <new>
#include <optional>
#include <thread>
#include <vector>

namespace qdispatch {
namespace detail {

namespace {

// A future that QDispatch did not make has no completion hook that works without an event loop
// (QFuture::then() would replace a continuation the caller may have attached), so for ExecutorOnly
// waits one poller thread looks at such futures: first after 50 µs, backing off to every 2 ms.
constexpr auto kFirstRecheck = std::chrono::microseconds(50);
constexpr auto kLongestRecheck = std::chrono::milliseconds(2);

// Which executors an ExecutorOnly wait serves.
enum class Serve {
    OneExecutor, // runUntilFuture(): the executor it was called on
    WholeThread // invoke(): every live executor of the calling thread (X3)
};

// The events a wait mode lets the thread process; none for ExecutorOnly.
std::optional<QEventLoop::ProcessEventsFlags> eventFlags(RunMode mode)
{
    switch (mode) {
    case RunMode::AllEvents:
        return QEventLoop::AllEvents;
    case RunMode::ExcludeUserInput:
        return QEventLoop::ExcludeUserInputEvents;
    case RunMode::ExecutorOnly:
        break;
    }
    return std::nullopt;
}

// The threads that wait in RunMode::ExecutorOnly, each with the future it waits for.
//
// A finished QDispatch future pokes every such waiter at once (notifyFutureFinished()); each
// one re-checks its own future. Any other future is noticed by the poller thread below. The
// waiters themselves sleep without a timeout (or until their deadline): a timed sleep costs a
// timer set-up per sleep, which on a virtual machine made an ExecutorOnly round trip several
// times slower than one in AllEvents, and an idle owner then used CPU.
struct ExclusiveWaiters
{
    struct Entry
    {
        ExecutorState *state; // the executor the wait sleeps on
        std::optional<QFuture<void>> future; // none: an invoke() signal, which pokes by itself
        const QThread *thread; // the waiting thread
        Serve serve; // Serve::WholeThread: woken when an executor is made for its thread
    };
    std::atomic<int> count { 0 };
    std::mutex mutex;
    std::vector<Entry> entries;
    std::condition_variable pollerWake; // a wait began: poll again from the shortest interval
    bool pollerStarted = false;
};

ExclusiveWaiters &exclusiveWaiters()
{
    // Never destroyed: the poller thread may still be inside it while the process exits.
    static auto *waiters = new ExclusiveWaiters;
    return *waiters;
}

// The poller: sleeps without a timeout while nobody waits; otherwise looks at every waiter's
// future, first 50 µs after a wait began, then at twice the interval each time, up to 2 ms.
void pollWaitedFutures()
{
    auto &w = exclusiveWaiters();
    std::unique_lock locker(w.mutex);
    auto interval = std::chrono::duration_cast<std::chrono::nanoseconds>(kFirstRecheck);
    for (;;) {
        if (w.entries.empty()) {
            w.pollerWake.wait(locker);
            interval = kFirstRecheck;
            continue;
        }
        if (w.pollerWake.wait_for(locker, interval) == std::cv_status::no_timeout)
            interval = kFirstRecheck;
        else
            interval = std::min<std::chrono::nanoseconds>(interval * 2, kLongestRecheck);
        for (const auto &entry : w.entries) {
            if (entry.future && entry.future->isFinished())
                entry.state->poke();
        }
    }
}

// The state of an invoke() signal (InvokeSignal), built in its storage.
struct SignalState
{
    std::mutex mutex;
    std::condition_variable changed;
    std::atomic<bool> done { false }; // signal() was called (written under the mutex)
    bool executorMade = false; // executorOf() made an executor for the waiting thread
    std::shared_ptr<ExecutorState> serving; // what the waiter sleeps on while it serves one
    std::atomic<bool> released { false }; // signal() has finished touching this object
};

// What an ExecutorOnly wait waits for: a future, or an invoke() signal.
class Awaited
{
public:
    explicit Awaited(const QFuture<void> &future) : m_future(future) { }
    explicit Awaited(const SignalState &signal) : m_signal(&signal) { }

    bool isFinished() const
    {
        return m_signal ? m_signal->done.load(std::memory_order_acquire) : m_future->isFinished();
    }
    // For the poller: a future nothing else reports finished; none for a signal.
    const std::optional<QFuture<void>> &future() const { return m_future; }
    // X11: the future, for the wait's record; nullptr for a signal (its wait records itself).
    const QFuture<void> *futureOrNull() const { return m_future ? &*m_future : nullptr; }

private:
    std::optional<QFuture<void>> m_future;
    const SignalState *m_signal = nullptr;
};

class ExclusiveWaitScope
{
public:
    ExclusiveWaitScope(ExecutorState *state, const Awaited &awaited, Serve serve) : m_state(state)
    {
        auto &w = exclusiveWaiters();
        {
            std::lock_guard locker(w.mutex);
            w.entries.push_back({ state, awaited.future(), QThread::currentThread(), serve });
            if (!std::exchange(w.pollerStarted, true))
                std::thread(pollWaitedFutures).detach();
        }
        w.pollerWake.notify_one();
        // A read-modify-write on both sides of this store-buffering pattern (here, and the
        // fetch_add(0) in notifyFutureFinished()): either that thread sees our count, or we see
        // its finished future. Not fences, which ThreadSanitizer cannot follow. Were a poke ever
        // missed, the poller would still notice the finished future within 2 ms.
        w.count.fetch_add(1, std::memory_order_seq_cst);
    }
    ~ExclusiveWaitScope()
    {
        auto &w = exclusiveWaiters();
        w.count.fetch_sub(1, std::memory_order_seq_cst);
        std::lock_guard locker(w.mutex);
        // The newest entry of this state: waits on one executor nest, innermost last.
        const auto it = std::find_if(w.entries.rbegin(), w.entries.rend(),
                                     [this](const auto &entry) { return entry.state == m_state; });
        w.entries.erase(std::next(it).base());
    }
    ExclusiveWaitScope(const ExclusiveWaitScope &) = delete;
    ExclusiveWaitScope &operator=(const ExclusiveWaitScope &) = delete;

private:
    ExecutorState *m_state;
};

// Items one executor may run in a row before an invoke() wait turns to the next executor of the
// thread, so that a flood on one cannot starve the others. A turn of invoke()'s wait also ends
// once it has used up a drain's time slice (4 ms): 64 slow items in a row (a flood of 15 ms
// items, say) would otherwise keep work sent back through another executor waiting for about a
// second, or through one made for the thread meanwhile, which the next pass takes on.
constexpr int kItemsPerTurn = 64;

// The executors an ExecutorOnly wait serves: one executor (runUntilFuture), or every live
// executor of the calling thread (invoke(), X3), kept up to date while the wait lasts, since an
// item may construct a new one. The wait sleeps on `primary`; every other served executor relays
// its "work arrived" signal to it.
class ServedExecutors
{
public:
    ServedExecutors(std::shared_ptr<ExecutorState> primary, Serve serve)
        : m_primary(std::move(primary)), m_serve(serve)
    {
        add(m_primary);
        refresh();
    }
    ~ServedExecutors()
    {
        for (size_t i = m_states.size(); i-- > 0;)
            m_states[i]->leaveExclusiveWait(std::move(m_previousRelays[i]), roleOf(m_states[i]));
    }
    ServedExecutors(const ServedExecutors &) = delete;
    ServedExecutors &operator=(const ServedExecutors &) = delete;

    void refresh()
    {
        if (m_serve != Serve::WholeThread)
            return;
        const std::uint64_t generation = executorsGeneration();
        if (generation == m_generation)
            return;
        m_generation = generation;
        for (auto &state : liveExecutorsOfThisThread()) {
            if (std::find(m_states.begin(), m_states.end(), state) == m_states.end())
                add(state);
        }
    }
    const std::vector<std::shared_ptr<ExecutorState>> &states() const { return m_states; }
    ExecutorState &primary() const { return *m_primary; }

private:
    ExclusiveRole roleOf(const std::shared_ptr<ExecutorState> &state) const
    {
        return state == m_primary ? ExclusiveRole::Primary : ExclusiveRole::Relay;
    }
    void add(const std::shared_ptr<ExecutorState> &state)
    {
        const ExclusiveRole role = roleOf(state);
        m_previousRelays.push_back(
            state->enterExclusiveWait(role == ExclusiveRole::Relay ? m_primary : nullptr, role));
        m_states.push_back(state);
    }

    std::shared_ptr<ExecutorState> m_primary;
    Serve m_serve;
    std::uint64_t m_generation = ~std::uint64_t(0);
    std::vector<std::shared_ptr<ExecutorState>> m_states;
    std::vector<std::shared_ptr<ExecutorState>> m_previousRelays;
};

// Runs nothing but the served executors' items until `future` is finished or `deadline` passed.
// `invokeTarget`: for invoke()'s wait (Serve::WholeThread), the executor the item was sent to,
// for the hang report (X10; nullptr: none).
bool waitExclusive(const std::shared_ptr<ExecutorState> &primary, Serve serve,
                   const Awaited &future, QDeadlineTimer deadline,
                   const ExecutorState *invokeTarget = nullptr)
{
    const bool invoke = serve == Serve::WholeThread;
    // X11. A signal's wait (an invoke() that took on an executor) is recorded by its caller.
    std::optional<WaitRecord> record;
    if (const QFuture<void> *awaited = future.futureOrNull()) {
        record.emplace(invoke ? WaitRecord::Kind::Invoke : WaitRecord::Kind::RunUntilFuture,
                       RunMode::ExecutorOnly,
                       invoke ? WaitServes::WholeThread : WaitServes::OneExecutor, primary.get(),
                       awaited, nullptr);
    }
    HangWatch hang(invoke ? invokeTarget : primary.get(),
                   invoke ? HangWatch::Wait::Invoke : HangWatch::Wait::RunUntilFuture,
                   RunMode::ExecutorOnly);
    // Registered before the executors are looked up: an executor that executorOf() makes for
    // this thread from now on either is found by the look-up or wakes this wait (X3).
    ExclusiveWaitScope scope(primary.get(), future, serve);
    ServedExecutors served(primary, serve);
    const bool finite = !deadline.isForever();
    const WaitDeadlineScope deadlineScope(finite ? &deadline : nullptr);

    for (;;) {
        bool ranAny;
        do {
            // X3: an executor made for this thread meanwhile (by executorOf() from another
            // thread, or by an item here) is served from the next pass, also while items keep
            // coming and the wait never gets to sleep.
            served.refresh();
            ranAny = false;
            for (const auto &state : served.states()) {
                struct Depth
                {
                    ExecutorState &state;
                    explicit Depth(ExecutorState &s) : state(s) { ++state.drainDepth; }
                    ~Depth() { --state.drainDepth; }
                } depth(*state);
                ItemBooks books(*state); // X10
                // Started with the turn's first item: a pass that finds nothing reads no clock.
                std::optional<TimeSlice> slice;
                for (int turn = 0; turn < kItemsPerTurn && !future.isFinished(); ++turn) {
                    // C9: no item starts once the deadline has passed, however fast they come.
                    if (finite && deadline.hasExpired())
                        return false;
                    ExecutorState::Walk walk;
                    WorkItem *const item = state->takeNext(&walk);
                    if (!item && walk == ExecutorState::Walk::Done)
                        break;
                    ranAny = true;
                    if (item) {
                        if (invoke && !slice)
                            slice.emplace();
                        books.run(item);
                        if (slice && slice->usedUp())
                            break;
                    }
                }
            }
        } while (ranAny && !future.isFinished());
        if (future.isFinished())
            return true;
        if (deadline.hasExpired())
            return false;

        // Spin briefly for the next item or the future before sleeping: a round trip then
        // costs no wake-up. The sleep below still looks again under the lock, so a spin that
        // misses what arrives late loses nothing.
        SpinWait spin(ownerSpinBudget());
        const bool arrived = spin.spin([&] {
            if (future.isFinished() || (finite && deadline.hasExpired()))
                return true;
            const auto &states = served.states();
            return std::any_of(states.begin(), states.end(),
                               [](const auto &state) { return state->hasWorkForOwner(); });
        });
        if (!arrived)
            served.primary().sleepUntilWork(hang.sleepLimit(deadline)); // X10: wakes to report
        spin.finished();
        hang.poll();
    }
}

// QTimer takes an int of milliseconds: a deadline further away than that (about 24.8 days) is
// armed at the largest interval and re-armed when it fires (C9: any deadline a QDeadlineTimer
// can hold; narrowing it printed "Timers cannot have negative intervals" and armed nothing).
int timerInterval(const QDeadlineTimer &deadline)
{
    return int(std::clamp<qint64>(deadline.remainingTime(), 0, std::numeric_limits<int>::max()));
}

bool waitInEventLoop(ExecutorState &state, const QFuture<void> &future, QDeadlineTimer deadline,
                     RunMode mode)
{
    QEventLoop loop;
    QFutureWatcher<void> watcher;
    QTimer timer;
    timer.setSingleShot(true);
    timer.setTimerType(Qt::PreciseTimer);
    // Woken when one of this wait's own reasons ended loop.exec(); anything else that ends it is
    // the thread's quit()/exit() (QThread or QCoreApplication), which exits every running loop.
    // Counted as woken until control is back here: a wake-up that came while a loop nested
    // inside this one ran is renewed on the way back out (wokenwait_p.h).
    WokenWait woken;
    const auto wakeUp = [&] {
        woken.wake();
        loop.quit();
    };
    QObject::connect(&watcher, &QFutureWatcherBase::finished, &loop, wakeUp);
    QObject::connect(&timer, &QTimer::timeout, &loop, wakeUp);
    watcher.setFuture(future);
    const WaitRecord record(WaitRecord::Kind::RunUntilFuture, mode, WaitServes::EventLoop, &state,
                            &future, nullptr); // X11
    HangWatch hang(&state, HangWatch::Wait::RunUntilFuture, mode); // X10
    hang.startTimer();
    // C9: the drains that run in this loop start no item once the deadline has passed.
    const WaitDeadlineScope deadlineScope(deadline.isForever() ? nullptr : &deadline);

    // When this wait is nested in one of our own items, the outer drain is paused; make sure
    // the items it had not reached yet get a wake-up that this loop will deliver.
    state.kick();

    const QEventLoop::ProcessEventsFlags flags = *eventFlags(mode);
    // Once a quit or exit was requested of this thread, and until control returns to its
    // exec(), Qt makes every new QEventLoop::exec() here return at once (the wait would spin at
    // 100 % and run nothing). The wait then processes events itself, sleeping in the
    // event dispatcher until something arrives: the watcher's and the timer's events wake it as
    // they wake the loop. Deferred deletes keep Qt's rule: processEvents() delivers none that
    // were posted at this scope level or above it. The request itself is left as it is, so the
    // thread's exec() still returns as asked once the wait is over.
    bool quitRequested = false;
    while (!future.isFinished()) {
        if (deadline.hasExpired())
            return false;
        if (!deadline.isForever())
            timer.start(timerInterval(deadline));
        if (quitRequested) {
            QCoreApplication::processEvents(flags | QEventLoop::WaitForMoreEvents);
        } else {
            loop.exec(flags);
            quitRequested = !woken.isWoken();
        }
        woken.settle();
        WokenWait::eventsLetThrough();
    }
    return true;
}

} // namespace

void waitForInvoke(const QFuture<void> &future, const ExecutorState *target)
{
    // X12: an invoke() sent to another thread is a wait, even when its item finished before
    // the wait began; one that ran here in place (X3) is not.
    std::optional<TraceWait> trace;
    if (Q_UNLIKELY(tracing()) && !(target && target->isOwnedBy(QThread::currentThreadId())))
        trace.emplace("invoke", target);
    if (future.isFinished())
        return; // it ran inline: the chain led back to this thread (X3)
    // The executor this wait sleeps on: the newest one constructed on this thread, else the one
    // executorOf() made for it (X9).
    QDISPATCH_TEST_POINT(TestPoint::InvokeWaits);
    CurrentThreadExecutor *const executor = CurrentThreadExecutor::current();
    std::shared_ptr<ExecutorState> primary =
        executor ? StateOf::get(*executor) : executorOfThisThread();
    if (!primary) {
        // invokeOn() saw a current executor, but another thread shut it down since. The wait
        // must still serve an executor that executorOf() makes for this thread while it lasts
        // (X3: the item may send work back through one), so it sleeps on a state of its own
        // that nobody else can reach: the future's finish and executorOf() wake it.
        primary = std::make_shared<ExecutorState>(QThread::currentThread());
    }
    // X3: every live executor of this thread is served, not only the newest: work sent back to
    // this thread through an older one must run too, or the two threads deadlock.
    (void)waitExclusive(primary, Serve::WholeThread, Awaited(future),
                        QDeadlineTimer(QDeadlineTimer::Forever), target);
    primary->drainAcceptedSoFar(std::nullopt);
}

// ----------------------------------------------------------------------- invoke() without executor

namespace {

// The invoke() waits of threads that have no executor to serve, so that executorOf() can wake
// them when it makes one for their thread (X3).
struct PlainWaits
{
    std::mutex mutex;
    std::vector<std::pair<const QThread *, SignalState *>> entries;
};

PlainWaits &plainWaits()
{
    static auto *waits = new PlainWaits; // never destroyed: threads may wait during exit
    return *waits;
}

SignalState &stateOf(unsigned char *storage)
{
    return *std::launder(reinterpret_cast<SignalState *>(storage));
}

// The signalling thread may still be inside signal() after `done` was set; the signal (on the
// waiting thread's stack) must outlive that. A matter of nanoseconds unless that thread was
// preempted.
void waitUntilReleased(const SignalState &s)
{
    while (!s.released.load(std::memory_order_acquire))
        std::this_thread::yield();
}

} // namespace

InvokeSignal::InvokeSignal() noexcept
{
    static_assert(sizeof(SignalState) <= sizeof(m_storage) &&
                  alignof(SignalState) <= alignof(std::max_align_t));
    new (m_storage) SignalState;
}

InvokeSignal::~InvokeSignal()
{
    stateOf(m_storage).~SignalState();
}

void InvokeSignal::signal() noexcept
{
    SignalState &s = stateOf(m_storage);
    std::shared_ptr<ExecutorState> serving;
    {
        std::lock_guard locker(s.mutex);
        s.done.store(true, std::memory_order_release);
        serving = s.serving;
    }
    // Notified after unlocking, so that the woken thread does not run straight into the mutex
    // this one still holds (one context switch per hand-off instead of two; P3).
    s.changed.notify_one();
    if (serving)
        serving->poke(); // it serves an executor of its thread meanwhile: wake that wait
    s.released.store(true, std::memory_order_release); // the last touch of this object
}

void InvokeSignal::wait(const ExecutorState *target) noexcept
{
    const TraceWait trace("invoke", target); // X12
    SignalState &s = stateOf(m_storage);
    // Spin briefly for the result before sleeping on the condition variable: the thread that
    // runs the item then finds nobody to wake, and this one does not sleep. Not listed in
    // plainWaits() meanwhile: should executorOf() make an executor for this thread during the
    // spin, the look after the listing below finds it.
    SpinWait spin(invokeSpinBudget());
    if (spin.spin([&s] { return s.done.load(std::memory_order_acquire); })) {
        spin.finished();
        waitUntilReleased(s);
        return;
    }
    QThread *const self = QThread::currentThread();
    WaitRecord record(WaitRecord::Kind::Invoke, RunMode::ExecutorOnly, WaitServes::Nothing, nullptr,
                      nullptr, this); // X11: its item's identity().awaitKey is this signal
    auto &plain = plainWaits();
    {
        std::lock_guard locker(plain.mutex);
        plain.entries.emplace_back(self, &s);
    }
    // executorOf() may have made one just before this wait was listed: it found no wait to wake,
    // so look once (its registry is written before it looks at this list).
    if (executorOfThisThread()) {
        std::lock_guard locker(s.mutex);
        s.executorMade = true;
    }
    const auto done = [&s] { return s.done.load(std::memory_order_relaxed) || s.executorMade; };
    std::unique_lock lock(s.mutex);
    // X10: with a hang threshold set, the first part of the wait is timed. `target` is kept
    // alive by invokeOn() while it is set.
    if (const std::int64_t hangNs = target ? hangThresholdNs() : 0) {
        const std::chrono::nanoseconds threshold(hangNs);
        if (!s.changed.wait_for(lock, threshold, done)) {
            lock.unlock();
            reportBlockedInvoke(target, threshold);
            lock.lock();
        }
    }
    for (;;) {
        if (!done()) {
            lock.unlock();
            QDISPATCH_TEST_POINT(TestPoint::InvokeBlocks);
            lock.lock();
        }
        s.changed.wait(lock, done);
        if (s.done.load(std::memory_order_relaxed))
            break;
        // X3: executorOf() made an executor for this thread while it waits: serve it (and any
        // other of this thread's) until the signal comes, or work sent back here would wait for
        // ever. signal() pokes `serving` from now on.
        s.executorMade = false;
        s.serving = executorOfThisThread();
        if (!s.serving)
            continue; // broken again already
        const std::shared_ptr<ExecutorState> serving = s.serving;
        lock.unlock();
        record.setServes(WaitServes::WholeThread);
        (void)waitExclusive(serving, Serve::WholeThread, Awaited(s),
                            QDeadlineTimer(QDeadlineTimer::Forever), target);
        record.setServes(WaitServes::Nothing);
        lock.lock();
    }
    lock.unlock();
    {
        std::lock_guard locker(plain.mutex);
        const auto it = std::find(plain.entries.begin(), plain.entries.end(),
                                  std::make_pair(static_cast<const QThread *>(self), &s));
        plain.entries.erase(it);
    }
    spin.finished();
    waitUntilReleased(s);
}

void wakePlainInvokeWaits(const QThread *thread)
{
    auto &plain = plainWaits();
    std::lock_guard locker(plain.mutex);
    for (const auto &[waiting, state] : plain.entries) {
        if (waiting != thread)
            continue;
        {
            std::lock_guard stateLocker(state->mutex);
            state->executorMade = true;
        }
        state->changed.notify_one();
    }
}

void wakeWholeThreadWaits(const QThread *thread)
{
    auto &w = exclusiveWaiters();
    if (w.count.fetch_add(0, std::memory_order_seq_cst) == 0)
        return;
    std::lock_guard locker(w.mutex);
    for (const auto &entry : w.entries) {
        if (entry.serve == Serve::WholeThread && entry.thread == thread)
            entry.state->poke();
    }
}

void notifyFutureFinished() noexcept
{
    auto &w = exclusiveWaiters();
    if (w.count.fetch_add(0, std::memory_order_seq_cst) == 0)
        return;
    std::lock_guard locker(w.mutex);
    for (const auto &entry : w.entries)
        entry.state->poke();
}

} // namespace detail

using detail::ExecutorState;

bool CurrentThreadExecutor::runUntil(const QFuture<void> &future, QDeadlineTimer deadline,
                                     RunMode mode)
{
    if (QThread::currentThreadId() != d->threadId || d->ownerFinished())
        detail::throwError(ExecutorError::Code::WrongThread);
    if (mode != RunMode::ExecutorOnly && !QCoreApplication::instance())
        detail::throwError(ExecutorError::Code::NoApplication);

    // Keep the state alive even if an item destroys this executor while we wait.
    const std::shared_ptr<ExecutorState> state = d;
    // C8, C9: this call may have run event loops nested in a wait further out, in which that
    // wait was woken; it must not sleep once control is back with it (wokenwait_p.h).
    struct RenewOnReturn
    {
        ~RenewOnReturn() { detail::WokenWait::renew(); }
    } renewOnReturn;
    std::optional<detail::TraceWait> trace; // X12: a wait that waits, and the drain after it
    if (!future.isFinished()) {
        trace.emplace(detail::traceWaitName(mode), state.get());
        const bool finished = mode == RunMode::ExecutorOnly
            ? detail::waitExclusive(state, detail::Serve::OneExecutor, detail::Awaited(future),
                                    deadline)
            : detail::waitInEventLoop(*state, future, deadline, mode);
        if (!finished)
            return false;
    }
    // C8: and every item accepted before it finished, within the deadline (C9).
    return state->drainAcceptedSoFar(detail::eventFlags(mode), deadline);
}

} // namespace qdispatch

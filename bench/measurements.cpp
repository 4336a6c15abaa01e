#include "measurements.h"

#include "qtcompat.h"

#include <QtCore/QEventLoop>
#include <QtCore/QFile>
#include <QtCore/QFuture>
#include <QtCore/QFutureInterface>
#include <QtCore/QObject>
#include <QtCore/QPromise>
#include <QtCore/QTimer>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <pthread.h>
#include <sched.h>

using namespace Qt::StringLiterals;

namespace bench {

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start)
{
    return std::chrono::duration<double>(Clock::now() - start).count();
}

void require(bool condition, const char *what)
{
    if (!condition)
        throw std::runtime_error(std::string("benchmark check failed: ") + what);
}

// The harness every two-thread measurement shares. The clock starts, `work` runs on a new
// thread (the producer or worker), and the calling thread (the owner) runs `serve` until the
// scenario's work is done; the figure is the time until `serve` returns. Joining the thread is
// not timed. `serve` must not return before the work is done, so the join does not wait long.
template<typename Work, typename Serve> double timeServing(Work &&work, Serve &&serve)
{
    const auto start = Clock::now();
    std::thread thread(std::forward<Work>(work));
    struct Joiner
    {
        std::thread &thread;
        ~Joiner() { thread.join(); } // also when `serve` throws: never a running std::thread
    } joiner { thread };
    serve();
    return secondsSince(start);
}

// The futures of one producer, kept until the end; reserved up front so that growing the vector
// is not part of the figure.
class Futures
{
public:
    explicit Futures(int items) { m_futures.reserve(items); }
    void keep(QFuture<int> future) { m_futures.push_back(std::move(future)); }

    // Every future must be finished and the last must hold its index: the owner ran every item.
    void requireAllDone(int expected) const
    {
        require(m_futures.size() == std::size_t(expected), "a future is missing");
        for (const QFuture<int> &future : m_futures)
            require(future.isFinished(), "an item's future is not finished");
        require(m_futures.empty() || m_futures.back().result() == expected - 1,
                "the last item's future holds the wrong result");
    }

private:
    std::vector<QFuture<int>> m_futures;
};

// The owner side of a QDispatch measurement: the executor, and a future that the producer
// finishes after its last item; runUntilFuture() on it returns once every item accepted before
// has run (C8).
class Owner
{
public:
    explicit Owner(qdispatch::RunMode mode = qdispatch::RunMode::AllEvents) : m_mode(mode)
    {
        m_done.start();
    }
    qdispatch::CurrentThreadExecutor executor;

    int itemRan() { return ++m_ran; } // owner thread only, from inside each item
    int ran() const { return m_ran; }
    void producerDone() { m_done.finish(); } // the producer, after its last item
    void serve() { executor.runUntilFuture(m_done.future(), m_mode); }

private:
    QPromise<void> m_done;
    qdispatch::RunMode m_mode;
    int m_ran = 0;
};

// The owner side of a Qt baseline, the way a Qt application runs queued calls: a context object
// that lives in the owner thread and an event loop that the last expected item quits.
class QtOwner
{
public:
    explicit QtOwner(int expected) : m_expected(expected) { }
    QObject context;

    int itemRan() // owner thread only, from inside each item
    {
        if (++m_ran == m_expected)
            m_loop.quit();
        return m_ran;
    }
    int ran() const { return m_ran; }
    void producerDone() { } // the last item ends the wait
    void serve()
    {
        if (m_ran < m_expected)
            m_loop.exec();
    }

private:
    QEventLoop m_loop;
    int m_expected;
    int m_ran = 0;
};

// The three shapes of P1..P3, for either kind of owner. In each, a producer thread sends
// `items` items through `send` while the owner serves them.

// P1: `send(i)` returns the future of an item that returns i. Items per second.
template<typename AnyOwner, typename Send> double futuresRate(int items, AnyOwner &owner, Send send)
{
    Futures futures(items);
    const double seconds = timeServing(
        [&] {
            for (int i = 0; i < items; ++i)
                futures.keep(send(i));
            owner.producerDone();
        },
        [&] { owner.serve(); });
    futures.requireAllDone(items);
    return items / seconds;
}

// P2: `send()` queues one item that calls owner.itemRan(). Items per second.
template<typename AnyOwner, typename Send> double itemsRate(int items, AnyOwner &owner, Send send)
{
    const double seconds = timeServing(
        [&] {
            for (int i = 0; i < items; ++i)
                send();
            owner.producerDone();
        },
        [&] { owner.serve(); });
    require(owner.ran() == items, "not every item ran");
    return items / seconds;
}

// P3: `call()` blocks until the owner ran owner.itemRan() and returns its result. Microseconds
// per round trip.
template<typename AnyOwner, typename Call> double roundTrip(int trips, AnyOwner &owner, Call call)
{
    int last = 0;
    const double seconds = timeServing(
        [&] {
            for (int i = 0; i < trips; ++i)
                last = call();
            owner.producerDone();
        },
        [&] { owner.serve(); });
    require(last == trips, "a round trip went missing");
    return seconds * 1e6 / trips;
}

void spinFor(std::chrono::nanoseconds duration)
{
    const auto end = Clock::now() + duration;
    while (Clock::now() < end) { }
}

constexpr auto kTimerInterval = std::chrono::milliseconds(16);
constexpr auto kFloodItemCost = std::chrono::microseconds(1);

} // namespace

// ---- P1 ----------------------------------------------------------------------------------

double submitRate(int items)
{
    Owner owner;
    return futuresRate(items, owner,
                       [&](int i) { return owner.executor.submit([i] { return i; }); });
}

double thenContextRate(int items)
{
    QtOwner owner(items);
    return futuresRate(items, owner, [&](int i) {
        return qdispatch_compat::readyFuture().then(&owner.context, [&owner, i] {
            owner.itemRan();
            return i;
        });
    });
}

double invokePromiseRate(int items)
{
    QtOwner owner(items);
    return futuresRate(items, owner, [&](int i) {
        QPromise<int> promise;
        promise.start();
        QFuture<int> future = promise.future();
        QMetaObject::invokeMethod(
            &owner.context,
            [&owner, i, promise = std::move(promise)]() mutable {
                promise.addResult(i);
                promise.finish();
                owner.itemRan();
            },
            Qt::QueuedConnection);
        return future;
    });
}

double promiseFloorRate(int items)
{
    Futures futures(items);
    const auto start = Clock::now();
    for (int i = 0; i < items; ++i) {
        QPromise<int> promise;
        promise.start();
        futures.keep(promise.future());
        promise.addResult(i);
        promise.finish();
    }
    const double seconds = secondsSince(start);
    futures.requireAllDone(items);
    return items / seconds;
}

// ---- P2 ----------------------------------------------------------------------------------

double postRate(int items)
{
    Owner owner;
    return itemsRate(items, owner, [&] { owner.executor.post([&owner] { owner.itemRan(); }); });
}

double invokeMethodRate(int items)
{
    QtOwner owner(items);
    return itemsRate(items, owner, [&] {
        QMetaObject::invokeMethod(
            &owner.context, [&owner] { owner.itemRan(); }, Qt::QueuedConnection);
    });
}

namespace {

// The lock-free floor's queue: a multi-producer stack that one consumer empties at once. Items
// are type-erased and heap-allocated, as any queue of callables must hold them; the consumer
// deletes each after running it. When the consumer finds the list empty it sleeps on a
// condition variable; a producer wakes it only when it sees it asleep, so a push in the steady
// state costs one compare-and-swap and one load.
class LockFreeQueue
{
public:
    struct Item
    {
        virtual ~Item() = default;
        virtual void run() = 0;
        Item *next = nullptr;
    };
    template<typename F> struct Callable final : Item
    {
        explicit Callable(F fn) : fn(std::move(fn)) { }
        void run() override { fn(); }
        F fn;
    };

    ~LockFreeQueue()
    {
        for (Item *item = m_head.exchange(nullptr); item;)
            delete std::exchange(item, item->next);
    }

    template<typename F> void push(F fn) // any thread
    {
        Item *item = new Callable<F>(std::move(fn));
        item->next = m_head.load(std::memory_order_relaxed);
        while (!m_head.compare_exchange_weak(item->next, item)) { }
        // seq_cst on both sides (the push above, the consumer's store of m_sleeping and its
        // re-check of m_head): either the consumer sees this item or this load sees it asleep.
        if (m_sleeping.load()) {
            std::lock_guard locker(m_mutex);
            m_wake.notify_one();
        }
    }

    // Consumer thread only: runs every item pushed so far, sleeping while there is none.
    // Returns how many it ran.
    int runBatch()
    {
        Item *batch = m_head.exchange(nullptr, std::memory_order_acquire);
        if (!batch) {
            std::unique_lock locker(m_mutex);
            m_sleeping.store(true);
            m_wake.wait(locker, [this] { return m_head.load() != nullptr; });
            m_sleeping.store(false, std::memory_order_relaxed);
            return 0;
        }
        Item *inOrder = nullptr; // the list is newest first: reverse it into push order
        while (batch) {
            Item *next = batch->next;
            batch->next = inOrder;
            inOrder = batch;
            batch = next;
        }
        int ran = 0;
        while (inOrder) {
            Item *item = std::exchange(inOrder, inOrder->next);
            item->run();
            delete item;
            ++ran;
        }
        return ran;
    }

private:
    std::atomic<Item *> m_head { nullptr };
    std::atomic<bool> m_sleeping { false };
    std::mutex m_mutex;
    std::condition_variable m_wake;
};

} // namespace

double lockFreeFloorRate(int items)
{
    LockFreeQueue queue;
    int ran = 0; // consumer thread only
    int taken = 0;
    const double seconds = timeServing(
        [&] {
            for (int i = 0; i < items; ++i)
                queue.push([&ran] { ++ran; });
        },
        [&] {
            while (taken < items)
                taken += queue.runBatch();
        });
    require(ran == items && taken == items, "not every item of the lock-free floor ran");
    return items / seconds;
}

// P1's floor on two threads: the producer makes each QPromise and keeps its future, the consumer
// fulfils it, and the promises travel through the lock-free floor's queue. What P1 costs without
// an executor: the same futures, split over two threads as QDispatch splits them.
namespace {

// The floors' producer side: makes a started QPromise, queues its fulfilment with the result `i`
// and returns its future.
QFuture<int> pushPromise(LockFreeQueue &queue, int i)
{
    QPromise<int> promise;
    promise.start();
    QFuture<int> future = promise.future();
    queue.push([promise = std::move(promise), i]() mutable {
        promise.addResult(i);
        promise.finish();
    });
    return future;
}

} // namespace

double promiseTwoThreadFloorRate(int items)
{
    LockFreeQueue queue;
    Futures futures(items);
    int taken = 0; // consumer thread only
    const double seconds = timeServing(
        [&] {
            for (int i = 0; i < items; ++i)
                futures.keep(pushPromise(queue, i));
        },
        [&] {
            while (taken < items)
                taken += queue.runBatch();
        });
    futures.requireAllDone(items);
    return items / seconds;
}

// ---- P3 ----------------------------------------------------------------------------------

double invokeRoundTrip(int trips, qdispatch::RunMode mode)
{
    Owner owner(mode);
    return roundTrip(trips, owner,
                     [&] { return owner.executor.invoke([&owner] { return owner.itemRan(); }); });
}

double blockingQueuedRoundTrip(int trips)
{
    QtOwner owner(trips);
    return roundTrip(trips, owner, [&] {
        int result = 0;
        QMetaObject::invokeMethod(
            &owner.context, [&owner] { return owner.itemRan(); }, Qt::BlockingQueuedConnection,
            &result);
        return result;
    });
}

double condVarRoundTrip(int trips)
{
    std::mutex mutex;
    std::condition_variable wake;
    int turn = 0;
    // Each side waits for its turn and hands the token to the other: one loop iteration of
    // side 0 is one round trip.
    const auto handOff = [&](int mine, int other) {
        for (int i = 0; i < trips; ++i) {
            std::unique_lock locker(mutex);
            wake.wait(locker, [&] { return turn == mine; });
            turn = other;
            locker.unlock();
            wake.notify_one();
        }
    };
    const double seconds = timeServing([&] { handOff(1, 0); }, [&] { handOff(0, 1); });
    require(turn == 0, "the token got lost");
    return seconds * 1e6 / trips;
}

double spinRoundTrip(int trips)
{
    std::atomic<int> turn { 0 };
    // With one CPU a spinning side only delays the other: it yields instead.
    const bool yield = std::thread::hardware_concurrency() < 2;
    const auto handOff = [&](int mine, int other) {
        for (int i = 0; i < trips; ++i) {
            while (turn.load(std::memory_order_acquire) != mine) {
                if (yield)
                    std::this_thread::yield();
#if defined(__x86_64__) || defined(__i386__)
                else
                    __builtin_ia32_pause();
#endif
            }
            turn.store(other, std::memory_order_release);
        }
    };
    const double seconds = timeServing([&] { handOff(1, 0); }, [&] { handOff(0, 1); });
    require(turn.load() == 0, "the token got lost");
    return seconds * 1e6 / trips;
}

// ---- P4 ----------------------------------------------------------------------------------

namespace {

// The CPUs this process may use, in order.
std::vector<int> allowedCpus()
{
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
            if (CPU_ISSET(cpu, &set))
                cpus.push_back(cpu);
        }
    }
    return cpus;
}

// Binds the calling thread to `cpus`; false when the system refused.
bool bindThreadTo(const std::vector<int> &cpus)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu : cpus)
        CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

// `producers` threads start together, each making `perProducer` futures with `send(i)`; the
// owner runs `serve(items in all)` meanwhile. The last producer to finish calls `lastDone`.
// Items per second, once every future is checked. With Pinning::OwnerAlone, the owner has the
// first CPU to itself and the producers share the others.
template<typename Send, typename LastDone, typename Serve>
double producersServing(int items, int producers, Pinning pinning, Send send, LastDone lastDone,
                        Serve serve)
{
    const int perProducer = items / producers;
    std::vector<Futures> futures;
    futures.reserve(producers);
    for (int p = 0; p < producers; ++p)
        futures.emplace_back(perProducer);
    const std::vector<int> cpus = allowedCpus();
    const bool pinned = pinning == Pinning::OwnerAlone;
    if (pinned) {
        require(cpus.size() >= 2, "pinning the owner alone needs 2 CPUs");
        require(bindThreadTo({ cpus.front() }), "could not bind the owner to its CPU");
    }
    const std::vector<int> producerCpus(cpus.begin() + (pinned ? 1 : 0), cpus.end());
    std::atomic<bool> producerUnbound { false }; // checked after the join: threads must not throw
    std::atomic<int> running { producers };
    const double seconds = timeServing(
        [&] {
            std::vector<std::thread> threads;
            threads.reserve(producers);
            for (int p = 0; p < producers; ++p) {
                threads.emplace_back([&, p] {
                    if (pinned && !bindThreadTo(producerCpus))
                        producerUnbound.store(true, std::memory_order_relaxed);
                    for (int i = 0; i < perProducer; ++i)
                        futures[p].keep(send(i));
                    if (running.fetch_sub(1, std::memory_order_acq_rel) == 1)
                        lastDone();
                });
            }
            for (std::thread &thread : threads)
                thread.join();
        },
        [&] { serve(perProducer * producers); });
    if (pinned)
        (void)bindThreadTo(cpus);
    require(!producerUnbound.load(std::memory_order_relaxed),
            "could not bind a producer to its CPUs");
    for (const Futures &own : futures)
        own.requireAllDone(perProducer);
    return double(perProducer) * producers / seconds;
}

} // namespace

bool canPinOwnerAlone()
{
    return allowedCpus().size() >= 2;
}

double producersRate(int items, int producers, Pinning pinning)
{
    Owner owner;
    return producersServing(
        items, producers, pinning, [&](int i) { return owner.executor.submit([i] { return i; }); },
        [&] { owner.producerDone(); }, [&](int) { owner.serve(); });
}

double promiseProducersFloorRate(int items, int producers)
{
    LockFreeQueue queue;
    return producersServing(
        items, producers, Pinning::None, [&](int i) { return pushPromise(queue, i); }, [] {},
        [&](int expected) {
            for (int taken = 0; taken < expected;)
                taken += queue.runBatch();
        });
}

// ---- P5 ----------------------------------------------------------------------------------

FloodResult floodLateness(int items, Flood via)
{
    Owner owner;
    QObject context;
    QEventLoop loop;

    // The timer quits the loop on its first timeout (the flood starts right then) and on its
    // first timeout after the flood: every interval recorded spans part of the flood.
    std::vector<Clock::time_point> timeouts;
    timeouts.reserve(4096);
    bool quitOnTimeout = true;
    QTimer timer;
    timer.setTimerType(Qt::PreciseTimer);
    timer.setInterval(kTimerInterval);
    QObject::connect(&timer, &QTimer::timeout, &loop, [&] {
        timeouts.push_back(Clock::now());
        if (quitOnTimeout)
            loop.quit();
    });
    timer.start();
    loop.exec();
    quitOnTimeout = false;

    int ran = 0;
    Clock::time_point floodEnd;
    const auto item = [&] {
        spinFor(kFloodItemCost);
        if (++ran == items) {
            floodEnd = Clock::now();
            if (via != Flood::PostRunUntil)
                loop.quit();
        }
    };
    const auto floodStart = Clock::now();
    timeServing(
        [&] {
            for (int i = 0; i < items; ++i) {
                if (via == Flood::InvokeMethod)
                    QMetaObject::invokeMethod(&context, item, Qt::QueuedConnection);
                else
                    owner.executor.post(item);
            }
            owner.producerDone();
        },
        [&] {
            if (via == Flood::PostRunUntil)
                owner.serve();
            else
                loop.exec();
        });
    require(ran == items, "not every flood item ran");

    quitOnTimeout = true;
    loop.exec();
    timer.stop();

    Clock::duration worst = Clock::duration::zero();
    for (std::size_t i = 1; i < timeouts.size(); ++i)
        worst = std::max(worst, timeouts[i] - timeouts[i - 1] - kTimerInterval);
    return { std::chrono::duration<double, std::milli>(worst).count(),
             std::chrono::duration<double>(floodEnd - floodStart).count(),
             static_cast<int>(timeouts.size()) };
}

// ---- P6 ----------------------------------------------------------------------------------

namespace {

// VmRSS and VmHWM of this process, in KiB.
QJsonObject memoryStatus()
{
    QFile status(u"/proc/self/status"_s);
    require(status.open(QIODevice::ReadOnly), "cannot read /proc/self/status");
    QJsonObject result;
    const QList<QByteArray> lines = status.readAll().split('\n');
    for (const QByteArray &line : lines) {
        for (const char *key : { "VmRSS", "VmHWM" }) {
            if (line.startsWith(key) && line.size() > qsizetype(qstrlen(key)) &&
                line.at(qstrlen(key)) == ':') {
                const QByteArray value = line.mid(qstrlen(key) + 1).trimmed().split(' ').front();
                result.insert(QString::fromLatin1(key), value.toDouble());
            }
        }
    }
    require(result.contains(u"VmRSS"_s) && result.contains(u"VmHWM"_s),
            "no VmRSS/VmHWM in /proc/self/status");
    return result;
}

} // namespace

QJsonObject queuedMemory(int items, Queue via)
{
    Futures futures(items); // untouched pages: they count once the futures fill them
    Owner owner;
    QtOwner qtOwner(items);
    const QJsonObject before = memoryStatus();

    // The owner runs nothing while the producer queues: every item is in the queue at once.
    const auto queue = [&] {
        for (int i = 0; i < items; ++i) {
            if (via == Queue::Submit) {
                futures.keep(owner.executor.submit([i] { return i; }));
            } else if (via == Queue::ThenContext) {
                futures.keep(qdispatch_compat::readyFuture().then(&qtOwner.context, [&qtOwner, i] {
                    qtOwner.itemRan();
                    return i;
                }));
            } else {
                QFutureInterface<int> future;
                future.reportStarted();
                future.reportResult(i);
                future.reportFinished();
                futures.keep(future.future());
            }
        }
    };
    if (via == Queue::FutureInterfaceFloor)
        queue(); // no queue, no other thread: only the futures themselves
    else
        std::thread(queue).join();
    const QJsonObject queued = memoryStatus();

    if (via == Queue::Submit)
        owner.executor.runUntilFuture(qdispatch_compat::readyFuture()); // runs what is queued (C8)
    else if (via == Queue::ThenContext)
        qtOwner.serve();
    futures.requireAllDone(items);
    const QJsonObject drained = memoryStatus();

    return { { u"rssBeforeKiB"_s, before[u"VmRSS"_s] },
             { u"rssQueuedKiB"_s, queued[u"VmRSS"_s] },
             { u"rssDrainedKiB"_s, drained[u"VmRSS"_s] },
             { u"hwmKiB"_s, drained[u"VmHWM"_s] } };
}

} // namespace bench

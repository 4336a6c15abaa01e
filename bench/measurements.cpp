#include "measurements.h"

#include <qtcompat.h>

#include <qdispatch/currentthreadexecutor.h>

#include <QtConcurrent/QtConcurrentRun>
#include <QtCore/QEventLoop>
#include <QtCore/QFile>
#include <QtCore/QFuture>
#include <QtCore/QFutureWatcher>
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
#include <vector>

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

// Every future must be finished and carry its own index: the owner really ran every item.
void requireAllDone(const std::vector<QFuture<int>> &futures, std::size_t expected)
{
    require(futures.size() == expected, "a future is missing");
    for (std::size_t i = 0; i < futures.size(); ++i)
        require(futures[i].isFinished(), "an item's future is not finished");
    require(futures.empty() || futures.back().result() == static_cast<int>(expected - 1),
            "the last item's future holds the wrong result");
}

// A producer that signals the owner through a future once it has queued its last item. The
// owner's runUntilFuture() then also runs every item accepted before (C8).
class DoneSignal {
public:
    DoneSignal() { m_promise.start(); }
    QFuture<void> future() { return m_promise.future(); }
    void finish() { m_promise.finish(); }

private:
    QPromise<void> m_promise;
};

// The owner waits in an event loop until `future` is finished, as a Qt application would.
template<typename T> void execUntilFinished(const QFuture<T> &future)
{
    QEventLoop loop;
    QFutureWatcher<T> watcher;
    QObject::connect(&watcher, &QFutureWatcherBase::finished, &loop, &QEventLoop::quit);
    watcher.setFuture(future);
    if (!future.isFinished())
        loop.exec();
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
    qdispatch::CurrentThreadExecutor executor;
    std::vector<QFuture<int>> futures;
    futures.reserve(items);
    DoneSignal done;

    const auto start = Clock::now();
    std::thread producer([&] {
        for (int i = 0; i < items; ++i)
            futures.push_back(executor.submit([i] { return i; }));
        done.finish();
    });
    executor.runUntilFuture(done.future());
    const double seconds = secondsSince(start);
    producer.join();

    requireAllDone(futures, items);
    return items / seconds;
}

double thenContextRate(int items)
{
    QObject context;
    QEventLoop loop;
    int ran = 0;
    std::vector<QFuture<int>> futures;
    futures.reserve(items);

    const auto start = Clock::now();
    std::thread producer([&] {
        for (int i = 0; i < items; ++i) {
            futures.push_back(qdispatch_compat::readyFuture().then(&context, [&, i] {
                if (++ran == items)
                    loop.quit();
                return i;
            }));
        }
    });
    loop.exec();
    const double seconds = secondsSince(start);
    producer.join();

    requireAllDone(futures, items);
    return items / seconds;
}

double invokePromiseRate(int items)
{
    QObject context;
    QEventLoop loop;
    int ran = 0;
    std::vector<QFuture<int>> futures;
    futures.reserve(items);

    const auto start = Clock::now();
    std::thread producer([&] {
        for (int i = 0; i < items; ++i) {
            QPromise<int> promise;
            promise.start();
            futures.push_back(promise.future());
            QMetaObject::invokeMethod(
                &context,
                [&, i, promise = std::move(promise)]() mutable {
                    promise.addResult(i);
                    promise.finish();
                    if (++ran == items)
                        loop.quit();
                },
                Qt::QueuedConnection);
        }
    });
    loop.exec();
    const double seconds = secondsSince(start);
    producer.join();

    requireAllDone(futures, items);
    return items / seconds;
}

double promiseFloorRate(int items)
{
    std::vector<QFuture<int>> futures;
    futures.reserve(items);

    const auto start = Clock::now();
    for (int i = 0; i < items; ++i) {
        QPromise<int> promise;
        promise.start();
        futures.push_back(promise.future());
        promise.addResult(i);
        promise.finish();
    }
    const double seconds = secondsSince(start);

    requireAllDone(futures, items);
    return items / seconds;
}

// ---- P2 ----------------------------------------------------------------------------------

double postRate(int items)
{
    qdispatch::CurrentThreadExecutor executor;
    int ran = 0;
    DoneSignal done;

    const auto start = Clock::now();
    std::thread producer([&] {
        for (int i = 0; i < items; ++i)
            executor.post([&ran] { ++ran; });
        done.finish();
    });
    executor.runUntilFuture(done.future());
    const double seconds = secondsSince(start);
    producer.join();

    require(ran == items, "not every posted item ran");
    return items / seconds;
}

double invokeMethodRate(int items)
{
    QObject context;
    QEventLoop loop;
    int ran = 0;

    const auto start = Clock::now();
    std::thread producer([&] {
        for (int i = 0; i < items; ++i) {
            QMetaObject::invokeMethod(
                &context,
                [&] {
                    if (++ran == items)
                        loop.quit();
                },
                Qt::QueuedConnection);
        }
    });
    loop.exec();
    const double seconds = secondsSince(start);
    producer.join();

    require(ran == items, "not every queued call ran");
    return items / seconds;
}

// ---- P3 ----------------------------------------------------------------------------------

double invokeRoundTrip(int trips)
{
    qdispatch::CurrentThreadExecutor executor;
    int counter = 0; // owner thread only

    const auto start = Clock::now();
    QFuture<int> worker = QtConcurrent::run([&] {
        int last = 0;
        for (int i = 0; i < trips; ++i)
            last = executor.invoke([&counter] { return ++counter; });
        return last;
    });
    executor.runUntilFuture(worker);
    const double seconds = secondsSince(start);

    require(worker.result() == trips, "a round trip went missing");
    return seconds * 1e6 / trips;
}

double blockingQueuedRoundTrip(int trips)
{
    QObject context;
    int counter = 0; // owner thread only

    const auto start = Clock::now();
    QFuture<int> worker = QtConcurrent::run([&] {
        int last = 0;
        for (int i = 0; i < trips; ++i) {
            QMetaObject::invokeMethod(
                &context, [&counter] { return ++counter; }, Qt::BlockingQueuedConnection, &last);
        }
        return last;
    });
    execUntilFinished(worker);
    const double seconds = secondsSince(start);

    require(worker.result() == trips, "a round trip went missing");
    return seconds * 1e6 / trips;
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

    const auto start = Clock::now();
    std::thread first(handOff, 0, 1);
    std::thread second(handOff, 1, 0);
    first.join();
    second.join();
    const double seconds = secondsSince(start);

    require(turn == 0, "the token got lost");
    return seconds * 1e6 / trips;
}

// ---- P4 ----------------------------------------------------------------------------------

double producersRate(int items, int producers)
{
    qdispatch::CurrentThreadExecutor executor;
    const int perProducer = items / producers;
    std::vector<std::vector<QFuture<int>>> futures(producers);
    for (auto &own : futures)
        own.reserve(perProducer);
    std::atomic<int> running { producers };
    DoneSignal done;

    const auto start = Clock::now();
    std::vector<std::thread> threads;
    threads.reserve(producers);
    for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&, p] {
            for (int i = 0; i < perProducer; ++i)
                futures[p].push_back(executor.submit([i] { return i; }));
            if (running.fetch_sub(1, std::memory_order_acq_rel) == 1)
                done.finish();
        });
    }
    executor.runUntilFuture(done.future());
    const double seconds = secondsSince(start);
    for (auto &thread : threads)
        thread.join();

    for (const auto &own : futures)
        requireAllDone(own, perProducer);
    return perProducer * producers / seconds;
}

// ---- P5 ----------------------------------------------------------------------------------

FloodResult floodLateness(int items, Flood via)
{
    qdispatch::CurrentThreadExecutor executor;
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
    DoneSignal done;
    const auto floodStart = Clock::now();
    std::thread producer([&] {
        for (int i = 0; i < items; ++i) {
            if (via == Flood::InvokeMethod)
                QMetaObject::invokeMethod(&context, item, Qt::QueuedConnection);
            else
                executor.post(item);
        }
        done.finish();
    });
    if (via == Flood::PostRunUntil)
        executor.runUntilFuture(done.future());
    else
        loop.exec();
    producer.join();
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
    std::vector<QFuture<int>> futures;
    futures.reserve(items); // untouched pages: they count once the producer fills them
    qdispatch::CurrentThreadExecutor executor;
    QObject context;
    QEventLoop loop;
    int ran = 0;
    const QJsonObject before = memoryStatus();

    // The owner runs nothing while the producer queues: every item is in the queue at once.
    std::thread producer([&] {
        for (int i = 0; i < items; ++i) {
            if (via == Queue::Submit) {
                futures.push_back(executor.submit([i] { return i; }));
            } else {
                futures.push_back(qdispatch_compat::readyFuture().then(&context, [&, i] {
                    if (++ran == items)
                        loop.quit();
                    return i;
                }));
            }
        }
    });
    producer.join();
    const QJsonObject queued = memoryStatus();

    if (via == Queue::Submit)
        executor.runUntilFuture(qdispatch_compat::readyFuture()); // runs what is queued (C8)
    else
        loop.exec();
    requireAllDone(futures, items);
    const QJsonObject drained = memoryStatus();

    return { { u"rssBeforeKiB"_s, before[u"VmRSS"_s] },
             { u"rssQueuedKiB"_s, queued[u"VmRSS"_s] },
             { u"rssDrainedKiB"_s, drained[u"VmRSS"_s] },
             { u"hwmKiB"_s, drained[u"VmHWM"_s] } };
}

} // namespace bench

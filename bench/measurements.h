// The measurements behind docs/contract.md, "What is measured" (P1..P6). Each function runs one
// measurement and returns its figure. Unless said otherwise it must be called on the
// QCoreApplication's thread, which plays the owner thread; the producers and workers are threads of
// its own. A measurement whose work did not complete as the scenario demands throws
// std::runtime_error, so that a broken library fails the benchmark instead of reporting a fast
// number.
#pragma once

#include <qdispatch/currentthreadexecutor.h>

#include <QtCore/QJsonObject>

namespace bench {

// P1: one producer thread submits `items` tiny items returning int, and keeps every future; the
// owner waits until all of them are finished. Items per second.
double submitRate(int items); // executor.submit(); the owner in runUntilFuture()
double thenContextRate(int items); // readyFuture().then(context, fn); the owner in a QEventLoop
double invokePromiseRate(int items); // invokeMethod(Qt::QueuedConnection) + a QPromise per item
double promiseFloorRate(int items); // one thread makes and fulfils the QPromises itself
// The same QPromises made on one thread and fulfilled on another, handed over through
// lockFreeFloorRate()'s queue (for information: P1's target is against the one-thread floor).
double promiseTwoThreadFloorRate(int items);

// P2: one producer posts `items` tiny items with no result; the owner runs them. Items per second.
double postRate(int items); // executor.post(); the owner in runUntilFuture()
double invokeMethodRate(int items); // invokeMethod(Qt::QueuedConnection); the owner in a QEventLoop
// The floor: two plain threads, no Qt. The producer pushes heap-allocated items onto an atomic
// singly-linked list (one compare-and-swap per push); the consumer takes the whole list with one
// exchange, reverses it into push order and runs each item.
double lockFreeFloorRate(int items);

// P3: a worker makes `trips` blocking calls in a row to the owner. Microseconds per round trip.
double invokeRoundTrip(int trips, qdispatch::RunMode mode); // executor.invoke(); the owner in
                                                            // runUntilFuture(…, mode)
double blockingQueuedRoundTrip(int trips); // invokeMethod(Qt::BlockingQueuedConnection)
double condVarRoundTrip(int trips); // two threads, a token, std::mutex + condition_variable
double spinRoundTrip(int trips); // two threads, a token, an atomic both spin on

// P4: `producers` threads submit `items` / `producers` each, all at once. Items per second.
// Pinning::OwnerAlone gives the owner one CPU to itself and the producers the others (for
// information: on a machine with fewer cores than threads, the scheduler otherwise gives the
// owner only its fair share of a core while the producers run).
enum class Pinning { None, OwnerAlone };
double producersRate(int items, int producers, Pinning pinning = Pinning::None);
bool canPinOwnerAlone(); // at least 2 CPUs
// The floor: the same QPromises as promiseTwoThreadFloorRate(), made by `producers` threads.
double promiseProducersFloorRate(int items, int producers);

// P5: `items` items of about 1 µs each flood the owner while a 16 ms precise QTimer runs there.
enum class Flood {
    Post, // executor.post(); the owner in a plain QEventLoop, as an application's exec()
    PostRunUntil, // executor.post(); the owner in runUntilFuture() on the producer's future
    InvokeMethod // invokeMethod(Qt::QueuedConnection); the owner in a plain QEventLoop
};
struct FloodResult
{
    double worstLatenessMs; // the longest interval between two timeouts, minus 16 ms
    double floodSeconds; // from the first post to the last item run
    int timeouts;
};
FloodResult floodLateness(int items, Flood via);

// P6, run in a child process of its own: `items` futures made and kept, with the process's VmRSS
// and VmHWM at each stage. Submit and ThenContext queue every item while the owner runs nothing,
// then drain them; FutureInterfaceFloor only makes the futures: each QFutureInterface<int> is
// started, given its result and finished on the calling thread.
enum class Queue { Submit, ThenContext, FutureInterfaceFloor };
QJsonObject queuedMemory(int items, Queue via);

} // namespace bench

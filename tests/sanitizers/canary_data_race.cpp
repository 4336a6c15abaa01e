// Canary for the ThreadSanitizer build: a planted data race that goes through QDispatch. A
// producer QThread submits an item that writes a plain int on the owner thread, and then reads
// that int itself without waiting for the item's future. Nothing orders the two accesses, in
// either interleaving, so ThreadSanitizer must report them. The producer is a QThread, so
// QThread::start() (libQt6Core) is in its thread-creation stack as in the real tests: a
// suppression as broad as race:libQt6Core.so hides this race, and the canary fails. The CTest
// test runs with the suppressions file of the test suite and passes only when the race is
// reported (tests/sanitizers/CMakeLists.txt).
//
// The owner waits in RunMode::ExecutorOnly on purpose. In an event-loop mode the producer's
// producerDone.finish() wakes the owner through the event dispatcher's eventfd, which TSan does
// see (a write and a read of the same fd): in the runs where the item runs after that wake-up,
// the read really is ordered before the write, and TSan rightly stays quiet.

#include <qdispatch/currentthreadexecutor.h>

#include <QtCore/QFuture>
#include <QtCore/QPromise>
#include <QtCore/QThread>

#include <cstdio>
#include <memory>

int main()
{
    qdispatch::CurrentThreadExecutor executor;
    int progress = 0; // plain int, no lock, no atomic
    int seenByProducer = -1;

    QPromise<void> producerDone;
    producerDone.start();
    const QFuture<void> done = producerDone.future();
    std::unique_ptr<QThread> producer(QThread::create([&] {
        const QFuture<void> item = executor.submit([&progress] { progress = 100; });
        seenByProducer = progress; // the planted bug: item.waitForFinished() is missing
        producerDone.finish();
    }));
    producer->start();
    executor.runUntilFuture(done, qdispatch::RunMode::ExecutorOnly);
    producer->wait();
    std::printf("canary: the producer saw %d and nobody noticed\n", seenByProducer);
    return 0;
}

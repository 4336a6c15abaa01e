// Built against an installed (or add_subdirectory'd) QDispatch; exits 0 when an item submitted
// from a worker ran on the main thread. Built as C++20, it also checks that the coroutine
// header <qdispatch/coro.h> was installed and works (X6).
#include <qdispatch/currentthreadexecutor.h>
#if __cplusplus >= 202002L
#include <qdispatch/coro.h>

#include "../support/testcoro.h"
#endif

#include <QtCore/QPromise>
#include <QtCore/QThread>

#include <cstdio>
#include <thread>

#if __cplusplus >= 202002L
namespace {
using qdispatchtest::Detached;

// Hops from a worker to the executor's thread and reports where it arrived.
Detached hop(qdispatch::CurrentThreadExecutor &executor, QPromise<bool> &arrived)
{
    co_await qdispatch::resumeOn(executor);
    arrived.addResult(QThread::currentThread() == executor.thread());
    arrived.finish();
}
} // namespace
#endif

int main()
{
    qdispatch::CurrentThreadExecutor executor;
    QFuture<bool> ranHere;
    std::thread worker([&] {
        ranHere = executor.submit([&] { return QThread::currentThread() == executor.thread(); });
    });
    worker.join();
    executor.runUntilFuture(ranHere, qdispatch::RunMode::ExecutorOnly);
    std::printf("consumer: item ran on the owner thread: %s\n", ranHere.result() ? "yes" : "no");
    bool ok = ranHere.result();

#if __cplusplus >= 202002L
    QPromise<bool> arrived;
    arrived.start();
    std::thread hopper([&] { hop(executor, arrived); });
    hopper.join();
    executor.runUntilFuture(arrived.future(), qdispatch::RunMode::ExecutorOnly);
    std::printf("consumer: coroutine resumed on the owner thread: %s\n",
                arrived.future().result() ? "yes" : "no");
    ok = ok && arrived.future().result();
#endif
    return ok ? 0 : 1;
}

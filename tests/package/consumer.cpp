// Built against an installed (or add_subdirectory'd) QDispatch; exits 0 when an item submitted
// from a worker ran on the main thread.
#include <qdispatch/currentthreadexecutor.h>

#include <QtCore/QThread>

#include <cstdio>
#include <thread>

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
    return ranHere.result() ? 0 : 1;
}

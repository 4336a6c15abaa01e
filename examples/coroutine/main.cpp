// A coroutine that hops between threads (C++20, <qdispatch/coro.h>): it starts on the GUI
// thread, moves to a worker thread for the slow part, and comes back to the GUI thread to show
// the result in a label. No thread blocks: each co_await queues the rest of the coroutine on
// the executor of the thread it moves to.
//
// resumeOn() and resultOf() ask nothing of the coroutine type, so any will do: QCoro's Task,
// your own, or the plainest one, below.

#include <qdispatch/coro.h>
#include <qdispatch/currentthreadexecutor.h>

#include <QtCore/QPromise>
#include <QtCore/QThread>
#include <QtWidgets/QApplication>
#include <QtWidgets/QLabel>

#include <coroutine>
#include <cstdio>
#include <exception>

namespace {

// A coroutine type that starts at once and frees itself when it ends.
struct FireAndForget
{
    struct promise_type
    {
        FireAndForget get_return_object() noexcept { return {}; }
        std::suspend_never initial_suspend() noexcept { return {}; }
        std::suspend_never final_suspend() noexcept { return {}; }
        void return_void() noexcept { }
        void unhandled_exception() noexcept { std::terminate(); }
    };
};

struct Hops
{
    bool summedOnWorker = false;
    bool labelSetOnGui = false;
};

FireAndForget sumAndShow(qdispatch::CurrentThreadExecutor &gui, qdispatch::ExecutorHandle worker,
                         QThread *workerThread, QLabel &label, Hops &hops, QPromise<void> &done)
{
    co_await qdispatch::resumeOn(worker); // from here on, on the worker thread
    int sum = 0;
    for (int i = 1; i <= 100; ++i)
        sum += i; // the slow work
    hops.summedOnWorker = QThread::currentThread() == workerThread;

    co_await qdispatch::resumeOn(gui); // back on the GUI thread, where the label lives
    label.setText(QString::number(sum));
    hops.labelSetOnGui = QThread::currentThread() == gui.thread();
    done.finish();
}

} // namespace

int main(int argc, char *argv[])
{
    QApplication app(argc, argv);
    QLabel label;
    label.show();

    QThread workerThread; // runs its event loop, which serves its executor
    workerThread.start();
    qdispatch::CurrentThreadExecutor gui; // made on the GUI thread, so its items run there

    Hops hops;
    QPromise<void> done;
    done.start();
    sumAndShow(gui, qdispatch::executorOf(&workerThread), &workerThread, label, hops, done);
    gui.runUntilFuture(done.future()); // the GUI thread runs the coroutine's last part here

    workerThread.quit();
    workerThread.wait();
    std::printf("coroutine: summed on the worker thread: %s, label set on the GUI thread: %s, "
                "the label shows %s\n",
                hops.summedOnWorker ? "yes" : "no", hops.labelSetOnGui ? "yes" : "no",
                qPrintable(label.text()));
    return hops.summedOnWorker && hops.labelSetOnGui && label.text() == QStringLiteral("5050") ? 0
                                                                                               : 1;
}

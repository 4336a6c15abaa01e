// What describeWaits() (X11) says about two frozen programs: a chain of three threads that will
// end by itself, and a deadlock that nothing but a deadline ends, with the hang reports it makes.
// docs/diagnostics.md quotes its output.
#include <qdispatch/currentthreadexecutor.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QThread>

#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

using namespace std::chrono_literals;

namespace {

// The callables are named types, so that the description names them the same way with every
// compiler (a lambda is named after the function that wrote it).
struct SlowReport // runs on the database thread for a while
{
    void operator()() const { std::this_thread::sleep_for(600ms); }
};
struct FetchCustomer // what worker 2 asks of the database thread
{
    int operator()() const { return 42; }
};
struct BuildInvoice // runs on worker 2; the GUI thread waits for it
{
    qdispatch::ExecutorHandle database;
    int operator()() const { return database.invoke(FetchCustomer {}); }
};
struct RefreshCache // runs on worker 1 and calls back into the GUI thread's main executor
{
    int operator()() const
    {
        return qdispatch::invokeOnMainThread([] { return 1; });
    }
};

std::unique_ptr<QThread> loopThread(const char *name)
{
    auto thread = std::make_unique<QThread>();
    thread->setObjectName(QString::fromLatin1(name));
    thread->start();
    return thread;
}

// Prints describeWaits() once `delay` has passed, from a thread of its own.
std::thread describeAfter(std::chrono::milliseconds delay)
{
    return std::thread([delay] {
        std::this_thread::sleep_for(delay);
        std::printf("%s\n", qPrintable(qdispatch::describeWaits()));
        std::fflush(stdout);
    });
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QThread::currentThread()->setObjectName(QStringLiteral("GUI"));
    qdispatch::CurrentThreadExecutor &gui = *qdispatch::mainThreadExecutor();
    // Hang reports after 700 ms: the deadlock below makes two. With a threshold set, running
    // items also carry their start, so the description says for how long they have run.
    qdispatch::setHangThreshold(700ms);

    // 1. The GUI thread waits for an invoice that worker 2 builds; worker 2 waits in invoke()
    //    on the database thread, which is busy with a slow report.
    auto database = loopThread("database");
    auto worker2 = loopThread("worker 2");
    const qdispatch::ExecutorHandle onDatabase = qdispatch::executorOf(database.get());
    onDatabase.post(SlowReport {});
    std::this_thread::sleep_for(100ms); // let the report start first
    std::thread observer = describeAfter(300ms);
    const QFuture<int> invoice =
        qdispatch::executorOf(worker2.get()).submit(BuildInvoice { onDatabase });
    gui.runUntilFuture(invoice, qdispatch::RunMode::AllEvents);
    observer.join();
    std::printf("chain: the invoice came back: %d\n\n", invoice.result());

    // 2. A deadlock: the GUI thread waits in ExecutorOnly mode on an executor of its own for
    //    worker 1, which invoke()s on the main-thread executor: that wait never runs it.
    auto worker1 = loopThread("worker 1");
    qdispatch::CurrentThreadExecutor dialog; // a second executor of the GUI thread
    observer = describeAfter(300ms);
    const QFuture<int> refresh = qdispatch::executorOf(worker1.get()).submit(RefreshCache {});
    const bool ended =
        dialog.runUntilFuture(refresh, QDeadlineTimer(1000ms), qdispatch::RunMode::ExecutorOnly);
    observer.join();
    gui.runUntilFuture(refresh); // the deadline broke it; the main executor now runs the item
    std::printf("deadlock: the wait %s\n", ended ? "ended" : "gave up at its deadline");

    for (auto *thread : { database.get(), worker2.get(), worker1.get() }) {
        thread->quit();
        thread->wait();
    }
    return 0;
}

// Noticing that a QFuture finished without taking its continuation slot (X6). QFuture keeps one
// continuation, so a then() of QDispatch's would replace one the caller attached, or be replaced
// by it. A QFutureWatcher takes no slot, but it reports through an event loop; these watchers
// live in one thread of QDispatch's own that runs nothing else, so that they report also while
// the awaiting thread waits in RunMode::ExecutorOnly or has no event loop at all.
#include <qdispatch/currentthreadexecutor.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QFutureWatcher>
#include <QtCore/QThread>

#include <list>
#include <mutex>
#include <thread>

namespace qdispatch::detail {

namespace {

// Lives in the watch thread; every member is touched only there, or after that thread ended.
class WatchHub final : public QObject
{
public:
    struct Watch
    {
        QFuture<void> future;
        std::function<void()> onFinished;
        QFutureWatcher<void> *watcher = nullptr;
    };

    void add(QFuture<void> future, std::function<void()> onFinished)
    {
        auto it = m_watches.insert(m_watches.end(), { std::move(future), std::move(onFinished) });
        it->watcher = new QFutureWatcher<void>(this);
        QObject::connect(it->watcher, &QFutureWatcherBase::finished, this, [this, it] {
            const std::function<void()> onFinished = std::move(it->onFinished);
            it->watcher->deleteLater();
            m_watches.erase(it);
            onFinished();
        });
        it->watcher->setFuture(it->future); // reports at once when already finished
    }

    // After the watch thread has ended: the futures still running are waited for by threads of
    // their own, so that no awaiting coroutine is left behind.
    void handOver()
    {
        for (Watch &watch : m_watches) {
            std::thread([future = watch.future, onFinished = std::move(watch.onFinished)]() mutable {
                future.waitForFinished();
                onFinished();
            }).detach();
        }
        m_watches.clear();
    }

private:
    std::list<Watch> m_watches;
};

std::mutex g_mutex;
QThread *g_thread = nullptr; // guarded by g_mutex, like g_hub
WatchHub *g_hub = nullptr;

// Runs in the QCoreApplication's destructor: the watch thread must not outlive it.
void stopWatchThread()
{
    QThread *thread;
    WatchHub *hub;
    {
        std::lock_guard locker(g_mutex);
        thread = std::exchange(g_thread, nullptr);
        hub = std::exchange(g_hub, nullptr);
    }
    if (!thread)
        return;
    thread->quit();
    thread->wait();
    hub->handOver();
    delete hub;
    delete thread;
}

} // namespace

bool watchFuture(const QFuture<void> &future, std::function<void()> onFinished)
{
    std::lock_guard locker(g_mutex);
    if (!g_hub) {
        // A thread with an event loop needs the application; without one, the caller uses the
        // continuation slot instead.
        if (!QCoreApplication::instance())
            return false;
        g_thread = new QThread;
        g_thread->setObjectName(QStringLiteral("qdispatch future watch"));
        g_hub = new WatchHub;
        g_hub->moveToThread(g_thread);
        g_thread->start();
        qAddPostRoutine(stopWatchThread);
    }
    QMetaObject::invokeMethod(
            g_hub,
            [hub = g_hub, future, onFinished = std::move(onFinished)]() mutable {
                hub->add(std::move(future), std::move(onFinished));
            },
            Qt::QueuedConnection);
    return true;
}

} // namespace qdispatch::detail

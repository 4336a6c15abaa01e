// Noticing that a QFuture finished without taking its continuation slot (X6). QFuture keeps one
// continuation, so a then() of QDispatch's would replace one the caller attached, or be replaced
// by it. A QFutureWatcher takes no slot, but it reports through an event loop; these watchers
// live in one thread of QDispatch's own that runs nothing else, so that they report also while
// the awaiting thread waits in RunMode::ExecutorOnly or has no event loop at all.
#include <qdispatch/currentthreadexecutor.h>

#include "postevent_p.h"
#include "tsan_p.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QEvent>
#include <QtCore/QFutureWatcher>
#include <QtCore/QThread>

#include <list>
#include <mutex>
#include <thread>
#include <vector>

namespace qdispatch::detail {

namespace {

struct Watch
{
    QFuture<void> future;
    std::function<void()> onFinished;
    QFutureWatcher<void> *watcher = nullptr;
};

std::mutex g_mutex;
QThread *g_thread = nullptr; // guarded by g_mutex, like g_hub and g_arrivals
class WatchHub;
WatchHub *g_hub = nullptr;
// Watches asked for and not yet taken up by the watch thread. Handed over under g_mutex rather
// than inside a queued call, so that ThreadSanitizer sees the hand-over (it cannot see Qt's).
std::vector<Watch> g_arrivals;

QEvent::Type arrivalEventType()
{
    static const auto type = static_cast<QEvent::Type>(QEvent::registerEventType());
    return type;
}

// Lives in the watch thread; m_watches is touched only there, or after that thread ended.
class WatchHub final : public QObject
{
public:
    bool event(QEvent *event) override
    {
        if (event->type() != arrivalEventType())
            return QObject::event(event);
        const TsanChecked checked;
        std::vector<Watch> arrivals;
        {
            std::lock_guard locker(g_mutex);
            arrivals.swap(g_arrivals);
        }
        for (Watch &watch : arrivals)
            add(std::move(watch));
        return true;
    }

    // After the watch thread has ended: the futures still running are waited for by threads of
    // their own, so that no awaiting coroutine is left behind.
    void handOver(std::vector<Watch> notTakenUp)
    {
        for (Watch &watch : notTakenUp)
            m_watches.push_back(std::move(watch));
        for (Watch &watch : m_watches) {
            std::thread([future = watch.future,
                         onFinished = std::move(watch.onFinished)]() mutable {
                future.waitForFinished();
                onFinished();
            }).detach();
        }
        m_watches.clear();
    }

private:
    void add(Watch watch)
    {
        auto it = m_watches.insert(m_watches.end(), std::move(watch));
        it->watcher = new QFutureWatcher<void>(this);
        QObject::connect(it->watcher, &QFutureWatcherBase::finished, this, [this, it] {
            const TsanChecked checked;
            const std::function<void()> onFinished = std::move(it->onFinished);
            it->watcher->deleteLater();
            m_watches.erase(it);
            onFinished();
        });
        it->watcher->setFuture(it->future); // reports at once when already finished
    }

    std::list<Watch> m_watches;
};

// Runs in the QCoreApplication's destructor: the watch thread must not outlive it.
void stopWatchThread()
{
    QThread *thread;
    WatchHub *hub;
    std::vector<Watch> notTakenUp;
    {
        std::lock_guard locker(g_mutex);
        thread = std::exchange(g_thread, nullptr);
        hub = std::exchange(g_hub, nullptr);
        notTakenUp.swap(g_arrivals);
    }
    if (!thread)
        return;
    thread->quit();
    thread->wait();
    hub->handOver(std::move(notTakenUp));
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
        // Under ThreadSanitizer the watch thread records only what QDispatch's code does there
        // (TsanChecked above). The rest is Qt handing a future's state and its call-out events
        // between the finishing thread and the watchers, ordered by locks and reference counts
        // inside libQt6Core that TSan cannot see: a QFutureCallOutEvent deleted after delivery,
        // a finished future's state freed with its watcher (docs/sanitizers.md).
        QObject::connect(g_thread, &QThread::started, g_thread, &tsanIgnoreAccessesBegin,
                         Qt::DirectConnection);
        QObject::connect(g_thread, &QThread::finished, g_thread, &tsanIgnoreAccessesEnd,
                         Qt::DirectConnection);
        g_thread->start();
        qAddPostRoutine(stopWatchThread);
    }
    const bool wakeHub = g_arrivals.empty(); // otherwise a wake-up is on its way already
    g_arrivals.push_back({ future, std::move(onFinished) });
    if (wakeHub)
        postEvent(g_hub, arrivalEventType());
    return true;
}

} // namespace qdispatch::detail

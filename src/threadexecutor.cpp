// The executor of any QThread (X9): made from outside on first use, one per thread, broken when
// the thread finishes. Built on the executor's state (executorstate.cpp); the main thread's is
// mainthread.cpp's.
#include "errors_p.h"
#include "executorstate_p.h"
#include "threadregistry_p.h"
#include "waitchains_p.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QThread>

#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace qdispatch {
namespace detail {

namespace {

// The executors made by executorOf(), by thread. An entry is dropped when its thread finishes
// or, never started, is destroyed, both before the QThread's memory can be reused: a new
// QThread at the same address never finds its predecessor's executor (and a broken one found
// there is replaced anyway). Never destroyed: threads may finish during static destruction.
struct Registry
{
    std::mutex mutex;
    std::unordered_map<const QThread *, std::shared_ptr<ExecutorState>> executors;
    // How many entries there are, readable without the mutex: while it is zero, asking for the
    // calling thread's executor costs one load (and never makes Qt adopt a plain thread).
    std::atomic<int> count { 0 };
};

Registry &registry()
{
    static auto *const instance = new Registry;
    return *instance;
}

// What the thread's finished() and destroyed() handlers share. Whichever comes first ends the
// executor and disconnects both; the other does nothing. The handlers are connected without a
// context object, so nothing they use is deleted under them.
struct ThreadLink
{
    ThreadLink(const QThread *key, std::shared_ptr<ExecutorState> state)
        : key(key), state(std::move(state))
    { }

    // Keeps a handler's connection, to be cut when the executor ends (at once if it has).
    void keep(const QMetaObject::Connection &connection)
    {
        {
            std::lock_guard locker(mutex);
            if (!ended) {
                connections.push_back(connection);
                return;
            }
        }
        QObject::disconnect(connection);
    }

    // C10, C12: breaks the executor (its queued items fail with Broken on this thread: it has
    // no chain) and forgets it, and deletes the receiver at once. From finished() this runs on
    // the finishing thread after its event loop has returned; from destroyed(), the thread
    // never ran. Either way nothing is delivering an event to the receiver.
    //
    // The handlers are disconnected, so that they (and this link, and the executor it holds) go
    // now rather than with the QThread object. Qt never deletes the QThread it adopted for a
    // plain std::thread while connections to it remain, and neither its destroyed() nor the
    // receiver's deleteLater() ever comes there: without this, such an executor leaked.
    void end()
    {
        std::vector<QMetaObject::Connection> cut;
        {
            std::lock_guard locker(mutex);
            if (std::exchange(ended, true))
                return;
            cut.swap(connections);
        }
        for (const QMetaObject::Connection &connection : cut)
            QObject::disconnect(connection);
        state->markOwnerFinished();
        std::shared_ptr<ExecutorState> dropped; // released after unlocking
        {
            Registry &r = registry();
            std::lock_guard locker(r.mutex);
            const auto it = r.executors.find(key);
            if (it != r.executors.end() && it->second == state) {
                dropped = std::move(it->second);
                r.executors.erase(it);
                r.count.fetch_sub(1, std::memory_order_relaxed);
            }
        }
        delete state->takeReceiver();
    }

    const QThread *const key;
    const std::shared_ptr<ExecutorState> state;
    std::mutex mutex;
    bool ended = false; // guarded by mutex
    std::vector<QMetaObject::Connection> connections; // guarded by mutex
};

std::shared_ptr<ExecutorState> mainThreadStateOr(QThread *thread)
{
    const QCoreApplication *app = QCoreApplication::instance();
    if (!app || thread != app->thread())
        return nullptr;
    try {
        return requireMainThreadState();
    } catch (const ExecutorError &) {
        throwError(ExecutorError::Code::Broken); // the application is being destroyed
    }
}

} // namespace

std::shared_ptr<ExecutorState> executorOfThisThread()
{
    Registry &r = registry();
    if (r.count.load(std::memory_order_relaxed) == 0)
        return nullptr;
    const QThread *self = QThread::currentThread();
    std::lock_guard locker(r.mutex);
    const auto found = r.executors.find(self);
    if (found == r.executors.end() || found->second->broken.load(std::memory_order_acquire))
        return nullptr;
    return found->second;
}

} // namespace detail

using detail::ExecutorState;

ExecutorHandle executorOf(QThread *thread)
{
    if (!thread)
        detail::throwError(ExecutorError::Code::Broken);
    // Qt delivers events to a thread's event loop only while an application exists: without
    // one, items sent here might never run (a future would wait for the thread's end).
    if (!QCoreApplication::instance())
        detail::throwError(ExecutorError::Code::NoApplication);
    if (auto state = detail::mainThreadStateOr(thread))
        return ExecutorHandle(std::move(state)); // X5: one executor for the main thread

    detail::Registry &r = detail::registry();
    std::shared_ptr<ExecutorState> stale; // a finished run's, released after unlocking
    std::unique_lock locker(r.mutex);
    const auto found = r.executors.find(thread);
    if (found != r.executors.end()) {
        if (!found->second->broken.load(std::memory_order_acquire))
            return ExecutorHandle(found->second);
        stale = std::move(found->second);
        r.executors.erase(found);
        r.count.fetch_sub(1, std::memory_order_relaxed);
    }

    auto state = std::make_shared<ExecutorState>(thread);
    detail::listExecutor(state.get()); // X11
    auto link = std::make_shared<detail::ThreadLink>(thread, state);
    // Connected before isFinished() is asked: QThread marks itself finishing (isFinished() is
    // true from then on) before it emits finished(), so either the handler runs later or the
    // check below sees it. Direct: the handler runs on the finishing thread itself.
    link->keep(QObject::connect(thread, &QThread::finished, [link] { link->end(); }));
    link->keep(QObject::connect(thread, &QObject::destroyed, [link] { link->end(); }));
    if (thread->isFinished()) {
        locker.unlock(); // end() takes it
        link->end(); // nothing was queued, no receiver attached yet: breaks it and cuts the links
        detail::throwError(ExecutorError::Code::Broken);
    }

    auto *receiver = new detail::Receiver(state);
    receiver->moveToThread(thread); // made here, so this thread may push it there
    state->attachReceiver(receiver);
    r.executors.emplace(thread, state);
    r.count.fetch_add(1, std::memory_order_relaxed);
    locker.unlock();
    // X3: a thread waiting in invoke() right now serves it from now on.
    detail::executorMadeFor(thread);
    return ExecutorHandle(std::move(state));
}

} // namespace qdispatch

// The executor of any QThread (X9): made from outside on first use, one per thread, broken when
// the thread finishes. Built on the queue (queue.cpp); the main thread's is mainthread.cpp's.
#include "errors_p.h"
#include "executorstate_p.h"
#include "threadregistry_p.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QThread>

#include <unordered_map>

namespace qdispatch {
namespace detail {

ExecutorState::ExecutorState(QThread *target)
    : thread(target), threadId(nullptr), executor(nullptr)
{
}

bool ExecutorState::isOwnedByLearnt(Qt::HANDLE self) const noexcept
{
    if (const Qt::HANDLE learnt = m_learntThreadId.load(std::memory_order_relaxed))
        return learnt == self;
    // Not seen on its thread yet: compare the QThread itself, and remember the answer when it
    // is yes. Only the owner thread ever stores, so every thread reads a right answer. (Not
    // learnt by a queued call at creation: Qt hands that over inside libQt6Core, out of
    // ThreadSanitizer's sight, and it saved no more than this one call.)
    if (QThread::currentThread() != thread)
        return false;
    m_learntThreadId.store(self, std::memory_order_relaxed);
    return true;
}

namespace {

// The executors made by executorOf(), by thread. An entry is dropped when its thread finishes
// or, never started, is destroyed, both before the QThread's memory can be reused: a new
// QThread at the same address never finds its predecessor's executor (and a broken one found
// there is replaced anyway). Never destroyed: threads may finish during static destruction.
struct Registry {
    std::mutex mutex;
    std::unordered_map<const QThread *, std::shared_ptr<ExecutorState>> executors;
    // How many entries there are, readable without the mutex: while it is zero, asking for the
    // calling thread's executor costs one load (and never makes Qt adopt a plain thread).
    std::atomic<int> count{0};
};

Registry &registry()
{
    static auto *const instance = new Registry;
    return *instance;
}

// What the thread's finished() and destroyed() handlers share. Whichever comes first ends the
// executor; the other does nothing. The handlers are connected without a context object, so
// they live as long as the QThread object and nothing they use is deleted under them.
struct ThreadLink {
    ThreadLink(const QThread *key, std::shared_ptr<ExecutorState> state)
        : key(key), state(std::move(state))
    {
    }

    // C10, C12: breaks the executor (its queued items fail with Broken on this thread: it has
    // no chain) and forgets it. From finished(), on the finishing thread, the receiver is
    // deleted by that thread's last deferred deletions; from destroyed(), the thread never
    // ran, so nothing can be delivering to the receiver and it is deleted at once.
    void end(bool viaDeleteLater)
    {
        if (ended.exchange(true))
            return;
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
        if (Receiver *receiver = state->takeReceiver()) {
            if (viaDeleteLater)
                receiver->deleteLater(); // QThread's finish deletes it right after finished()
            else
                delete receiver; // the thread never ran: nothing can be delivering to it
        }
    }

    const QThread *const key;
    const std::shared_ptr<ExecutorState> state;
    std::atomic<bool> ended { false };
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
    auto link = std::make_shared<detail::ThreadLink>(thread, state);
    // Connected before isFinished() is asked: QThread marks itself finishing (isFinished() is
    // true from then on) before it emits finished(), so either the handler runs later or the
    // check below sees it. Direct: the handler runs on the finishing thread itself.
    QObject::connect(thread, &QThread::finished, [link] { link->end(true); });
    QObject::connect(thread, &QObject::destroyed, [link] { link->end(false); });
    if (thread->isFinished()) {
        link->ended.exchange(true); // nothing was queued, no receiver attached: nothing to do
        state->breakAndHandOff();
        locker.unlock();
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

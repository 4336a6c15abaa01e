// The main-thread executor (X5): made when the QCoreApplication is constructed, destroyed with
// it, and the free functions that use it.
#include "errors_p.h"
#include "executorstate_p.h"
#include "waitchains_p.h"

#include <QtCore/QCoreApplication>

#include <atomic>
#include <mutex>

namespace qdispatch {

using detail::ExecutorState;

namespace {

// The main-thread executor (X5). The pointer serves mainThreadExecutor(); the free functions
// take a shared reference to the state under the mutex, so that an application destroyed
// while a worker is between the look-up and its submit cannot free what the worker uses.
std::atomic<CurrentThreadExecutor *> g_mainThreadExecutor { nullptr };
std::mutex g_mainThreadMutex;
std::shared_ptr<ExecutorState> g_mainThreadState;

void destroyMainThreadExecutor()
{
    {
        std::lock_guard locker(g_mainThreadMutex);
        g_mainThreadState.reset();
    }
    delete g_mainThreadExecutor.exchange(nullptr, std::memory_order_acq_rel);
}

// Runs on the application's thread when the QCoreApplication is constructed (or at once, if
// it already exists when the library is loaded); the post routine runs in its destructor.
void createMainThreadExecutor()
{
    auto *executor = new CurrentThreadExecutor;
    {
        std::lock_guard locker(g_mainThreadMutex);
        g_mainThreadState = detail::StateOf::get(*executor);
    }
    g_mainThreadExecutor.store(executor, std::memory_order_release);
    qAddPostRoutine(destroyMainThreadExecutor);
}

} // namespace

Q_COREAPP_STARTUP_FUNCTION(createMainThreadExecutor)

CurrentThreadExecutor *mainThreadExecutor()
{
    return g_mainThreadExecutor.load(std::memory_order_acquire);
}

std::shared_ptr<ExecutorState> detail::requireMainThreadState()
{
    std::lock_guard locker(g_mainThreadMutex);
    if (!g_mainThreadState)
        throwError(ExecutorError::Code::NoApplication);
    return g_mainThreadState;
}

bool detail::isMainThreadState(const ExecutorState *state) noexcept
{
    std::lock_guard locker(g_mainThreadMutex);
    return state && g_mainThreadState.get() == state;
}

} // namespace qdispatch

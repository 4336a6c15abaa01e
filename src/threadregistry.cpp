// Which executors each thread has: current() (X4), and breaking a thread's executors when the
// thread ends (C10), newest first so that their items hand down the chain in one pass (C12).
// Built on the queue (queue.cpp).
#include "threadregistry_p.h"

#include <algorithm>
#include <vector>

namespace qdispatch {
namespace detail {

namespace {

// Every executor constructed on a thread, oldest first. When the thread ends, its executors
// break (newest first, so that items hand down the chain in one pass) and nothing waits forever.
struct ThreadRecord
{
    std::vector<std::shared_ptr<ExecutorState>> executors;
    ~ThreadRecord();
};

thread_local bool t_recordDestroyed = false; // trivially destructible: readable at thread exit
thread_local ThreadRecord t_record;

ThreadRecord::~ThreadRecord()
{
    t_recordDestroyed = true;
    for (auto it = executors.rbegin(); it != executors.rend(); ++it) {
        (*it)->markOwnerFinished();
        delete (*it)->takeParkedReceiver(); // on its own thread, which is about to end
    }
}

// nullptr once the calling thread is past its thread-local teardown (an executor destroyed
// by a static destructor after main() returned, say).
ThreadRecord *threadRecord()
{
    return t_recordDestroyed ? nullptr : &t_record;
}

} // namespace

void registerExecutor(const std::shared_ptr<ExecutorState> &state)
{
    if (auto *record = threadRecord())
        record->executors.push_back(state);
}

void unregisterExecutor(const std::shared_ptr<ExecutorState> &state)
{
    if (auto *record = threadRecord()) {
        auto &list = record->executors;
        list.erase(std::remove(list.begin(), list.end(), state), list.end());
    }
}

bool hasCurrentExecutor() noexcept
{
    return CurrentThreadExecutor::current() != nullptr;
}

} // namespace detail

CurrentThreadExecutor *CurrentThreadExecutor::current()
{
    detail::ThreadRecord *record = detail::threadRecord();
    if (!record)
        return nullptr;
    const auto &list = record->executors;
    for (auto it = list.rbegin(); it != list.rend(); ++it) {
        if (!(*it)->broken.load(std::memory_order_acquire))
            return (*it)->executor.load(std::memory_order_acquire);
    }
    return nullptr;
}

} // namespace qdispatch

// Which executors each thread has: current() (X4), and breaking a thread's executors when the
// thread ends (C10), newest first so that their items hand down the chain in one pass (C12).
// Built on the executor's state (executorstate.cpp).
#include "threadregistry_p.h"

#include "waitchains_p.h"

#include <atomic>
#include <cstdint>
#include <map>
#include <vector>

namespace qdispatch {
namespace detail {

namespace {

// Every executor constructed on a thread, oldest first. When the thread ends, its executors
// break (newest first, so that items hand down the chain in one pass) and nothing waits forever.
// Keyed by the order of construction, so that removing one of a million executors costs a
// look-up, not a pass over all of them (a vector with std::remove made a teardown of a
// million-long chain quadratic).
struct ThreadRecord
{
    std::map<std::uint64_t, std::shared_ptr<ExecutorState>> executors;
    std::uint64_t nextKey = 0;
    ~ThreadRecord();
};

std::atomic<std::uint64_t> g_executorsGeneration { 0 };

thread_local bool t_recordDestroyed = false; // trivially destructible: readable at thread exit
thread_local ThreadRecord t_record;

ThreadRecord::~ThreadRecord()
{
    t_recordDestroyed = true;
    for (auto it = executors.rbegin(); it != executors.rend(); ++it) {
        it->second->markOwnerFinished();
        delete it->second->takeParkedReceiver(); // on its own thread, which is about to end
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
    listExecutor(state.get()); // X11
    if (auto *record = threadRecord()) {
        state->recordKey = record->nextKey++;
        record->executors.emplace_hint(record->executors.end(), state->recordKey, state);
    }
    // Only this thread can be waiting for itself here, and it looks again after the item that
    // constructed the executor: nothing to wake.
    g_executorsGeneration.fetch_add(1, std::memory_order_seq_cst);
}

void executorMadeFor(const QThread *thread)
{
    // Sequentially consistent, as the waits' count is: either a wait that begins now finds the
    // new generation, or this sees the wait and wakes it.
    g_executorsGeneration.fetch_add(1, std::memory_order_seq_cst);
    wakeWholeThreadWaits(thread);
    wakePlainInvokeWaits(thread);
}

void unregisterExecutor(const std::shared_ptr<ExecutorState> &state)
{
    if (auto *record = threadRecord()) {
        const auto it = record->executors.find(state->recordKey);
        if (it != record->executors.end() && it->second == state)
            record->executors.erase(it);
    }
}

std::vector<std::shared_ptr<ExecutorState>> liveExecutorsOfThisThread()
{
    std::vector<std::shared_ptr<ExecutorState>> live;
    if (auto *record = threadRecord()) {
        for (const auto &entry : record->executors) {
            if (!entry.second->broken.load(std::memory_order_acquire))
                live.push_back(entry.second);
        }
    }
    if (auto state = executorOfThisThread())
        live.push_back(std::move(state));
    return live;
}

std::uint64_t executorsGeneration()
{
    return g_executorsGeneration.load(std::memory_order_seq_cst);
}

bool hasCurrentExecutor() noexcept
{
    // X3: also an executor that executorOf() made for this thread, so that invoke() serves it.
    return CurrentThreadExecutor::current() != nullptr || executorOfThisThread() != nullptr;
}

} // namespace detail

CurrentThreadExecutor *CurrentThreadExecutor::current()
{
    detail::ThreadRecord *record = detail::threadRecord();
    if (!record)
        return nullptr;
    const auto &list = record->executors;
    for (auto it = list.rbegin(); it != list.rend(); ++it) {
        if (!it->second->broken.load(std::memory_order_acquire))
            return it->second->executor.load(std::memory_order_acquire);
    }
    return nullptr;
}

} // namespace qdispatch

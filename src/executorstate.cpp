// What remains of an executor's state once its parts have their own files: construction, whose
// thread owns it (C1, X9), routing an item along the chain (C7, C11, X3) and the exported
// functions the public templates call.
#include "diagnostics_p.h"
#include "errors_p.h"
#include "executorstate_p.h"

#include <QtCore/QThread>

namespace qdispatch::detail {

ExecutorState::ExecutorState(CurrentThreadExecutor *owner, std::shared_ptr<ExecutorState> oldState)
    : thread(QThread::currentThread()),
      threadId(QThread::currentThreadId()),
      executor(owner),
      m_old(std::move(oldState)),
      m_givenOld(m_old)
{
    applySlowItemEnvironment(*this); // X10
}

ExecutorState::~ExecutorState()
{
    // Every path that drops the last reference has broken the executor first, so nothing is
    // queued here; this is a guard against a future change forgetting that.
    Q_ASSERT(m_inbox.load(std::memory_order_relaxed) == nullptr
             || m_inbox.load(std::memory_order_relaxed) == closedInbox());
    releaseLink(std::move(m_old));
}

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

void ExecutorState::route(std::unique_ptr<WorkItem> item, OnOwnThread onOwnThread)
{
    const Qt::HANDLE self = QThread::currentThreadId();
    // C7, X3 and C11 in one pass: what happens when the executor that would accept the item is
    // the caller's own is decided where that executor is found. A broken executor is not
    // skipped unlocked: its push() fails only once a hand-off in progress there is complete
    // (see breakAndHandOff()); links skip only executors already seen dead that way
    // (skipDeadLinks()).
    ExecutorState *state = this;
    std::shared_ptr<ExecutorState> hold; // the link being followed (links may change meanwhile)
    for (int hops = 0; state; ++hops) {
        if (onOwnThread != OnOwnThread::Queue && state->isOwnedBy(self)
            && !state->broken.load(std::memory_order_acquire)) {
            if (onOwnThread == OnOwnThread::Reject)
                throwError(ExecutorError::Code::OwnThread);
            // X3: invoke() would wait for itself; it runs here instead. A push that failed on
            // the way left its link set: cleared, as the item holds no claim (begin()).
            item->m_next = nullptr;
            runItem(item.release());
            return;
        }
        WorkItem *raw = item.get();
        state->stampIfTimed(raw); // X10
        std::shared_ptr<ExecutorState> next;
        if (state->push(raw, &next)) {
            item.release();
            if (hops > 1) // dead links on the way: the next route from here skips them
                skipDeadLinks();
            return;
        }
        hold = std::move(next);
        state = hold.get();
    }
    throwError(ExecutorError::Code::Broken);
}

void ExecutorState::runItem(WorkItem *item) noexcept
{
    item->run();
    delete item; // C12: the callable is destroyed on the thread that ran it
}

void routeItem(ExecutorState *state, std::unique_ptr<WorkItem> item, OnOwnThread onOwnThread)
{
    if (!state)
        throwError(ExecutorError::Code::Broken);
    state->route(std::move(item), onOwnThread);
}

void routeLatest(ExecutorState *state, const void *key, std::unique_ptr<WorkItem> item)
{
    ExecutorState *const start = state;
    std::shared_ptr<ExecutorState> hold; // the link being followed (links may change meanwhile)
    for (int hops = 0; state; ++hops) {
        auto fresh = std::make_unique<LatestItem>(state->shared_from_this(), key);
        state->stampIfTimed(fresh.get()); // X10
        std::shared_ptr<ExecutorState> next;
        if (state->pushLatest(key, item, fresh.get(), &next)) {
            if (!item) // queued as a new item; otherwise `item` holds the replaced callable
                fresh.release();
            if (hops > 1)
                start->skipDeadLinks();
            return;
        }
        hold = std::move(next);
        state = hold.get();
    }
    throwError(ExecutorError::Code::Broken);
}

bool isOwnerThread(const ExecutorState *state) noexcept
{
    return state && state->isOwnedBy(QThread::currentThreadId());
}

bool isBroken(const ExecutorState *state) noexcept
{
    return !state || state->broken.load(std::memory_order_acquire);
}

} // namespace qdispatch::detail

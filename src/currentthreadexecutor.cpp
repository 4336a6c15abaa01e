// The executor's own members: construction on the owner thread (C1), destruction and shutdown
// (C10, C13), and the accessors. The queue, the waits and the thread registry do the work.
#include "errors_p.h"
#include "executorstate_p.h"
#include "threadregistry_p.h"

#include <QtCore/QThread>

namespace qdispatch {

using detail::ExecutorState;

CurrentThreadExecutor::CurrentThreadExecutor(CurrentThreadExecutor *oldExecutor)
    : d(std::make_shared<ExecutorState>(this, oldExecutor ? oldExecutor->d : nullptr))
{
    auto *receiver = new detail::Receiver(d);
    // A QThread announces its end before its thread-local storage is torn down, and
    // QThread::wait() may return in between; break right at the announcement so that an
    // executor destroyed after wait() sees a finished owner. Plain threads are covered by
    // the thread record below.
    QObject::connect(
        d->thread, &QThread::finished, receiver,
        [weak = std::weak_ptr<ExecutorState>(d)] {
            if (auto state = weak.lock())
                state->markOwnerFinished();
        },
        Qt::DirectConnection);
    d->attachReceiver(receiver);
    detail::registerExecutor(d);
    d->skipDeadLinks(); // C11: an old executor already dead is no link at all
}

CurrentThreadExecutor::~CurrentThreadExecutor()
{
    const bool finished = d->ownerFinished();
    const bool onOwner = !finished && QThread::currentThreadId() == d->threadId;
    if (!onOwner && !finished) {
        qCCritical(lcExecutor,
                   "QDispatch: a CurrentThreadExecutor was destroyed on another thread while its "
                   "owner thread still runs. Destroy it on its own thread (or after that thread "
                   "has finished). It was shut down instead: its queued items moved down the "
                   "chain or failed with ExecutorError::Broken.");
    }
    d->executor.store(nullptr, std::memory_order_release);
    d->breakAndHandOff();

    detail::Receiver *receiver = d->takeReceiver();
    if (onOwner && d->drainDepth == 0)
        delete receiver;
    else if (onOwner)
        receiver->deleteLater(); // it is running one of our items right now
    else
        delete d->parkReceiver(receiver); // foreign thread: only once the owner has finished

    if (onOwner)
        detail::unregisterExecutor(d);
}

void CurrentThreadExecutor::shutdown()
{
    d->breakAndHandOff();
}

ExecutorHandle CurrentThreadExecutor::handle() const
{
    return ExecutorHandle(d);
}

bool CurrentThreadExecutor::isBroken() const
{
    return d->broken.load(std::memory_order_acquire);
}

QThread *CurrentThreadExecutor::thread() const
{
    return d->thread;
}

CurrentThreadExecutor *CurrentThreadExecutor::oldExecutor() const
{
    return d->givenOldExecutor();
}

} // namespace qdispatch

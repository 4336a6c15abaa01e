// Context objects (X8): an item that belongs to a QObject is skipped when that object is gone by
// the time the item would start, as Qt skips a queued call whose context object was destroyed.
// Built on the work items (workitem.cpp): a context item wraps the one the templates made.
#include "executorstate_p.h"

#include <QtCore/QFuture>
#include <QtCore/QObject>
#include <QtCore/QPointer>

namespace qdispatch::detail {

namespace {

// Watches the context through a QPointer: made on the submitting thread (QPointer may be made
// from any thread while the object lives), read and destroyed on the thread that runs or fails
// the item. A second allocation, paid only by the context forms.
class ContextItem final : public WorkItem
{
public:
    ContextItem(const QObject *context, std::unique_ptr<WorkItem> item,
                std::optional<QFuture<void>> future)
        : m_context(context), m_item(std::move(item)), m_future(std::move(future))
    { }

    void run() noexcept override
    {
        // Right before the call, on the thread that makes it: when the context lives in this
        // thread, nothing can destroy it between this check and the end of fn (Qt's rule: a
        // QObject is destroyed in its own thread, and this thread is busy here).
        if (m_context.isNull()) {
            skip();
        } else {
            passClaimTo(*m_item); // it starts, or skips when its future was cancelled (C6)
            m_item->run();
        }
    }

    CallableName callableName() const noexcept override { return m_item->callableName(); }
    ItemIdentity identity() const noexcept override
    {
        ItemIdentity id = m_item->identity();
        id.sameForItsClass = false; // this one class wraps items of every kind
        return id;
    }

    void fail(const std::exception_ptr &error) noexcept override
    {
        // Nobody is left to care about an item whose context is gone: it is skipped as if it
        // had reached its turn, so a post says nothing and a future is cancelled, not failed.
        if (m_context.isNull())
            skip();
        else
            m_item->fail(error);
    }

private:
    // X10 counts a skip as cancelled, as C6 does.
    void skip() noexcept
    {
        if (m_future) {
            // The item's own C6 path: a cancelled future skips the callable and is finished.
            m_future->cancel();
            passClaimTo(*m_item);
            m_item->run();
        } else {
            // A post just ends here; its callable is destroyed with this item, on this thread.
            begin(true);
        }
    }

    const QPointer<const QObject> m_context;
    const std::unique_ptr<WorkItem> m_item;
    std::optional<QFuture<void>> m_future;
};

} // namespace

std::unique_ptr<WorkItem> withContext(const QObject *context, std::unique_ptr<WorkItem> item)
{
    return std::make_unique<ContextItem>(context, std::move(item), std::nullopt);
}

std::unique_ptr<WorkItem> withContext(const QObject *context, std::unique_ptr<WorkItem> item,
                                      const QFuture<void> &future)
{
    return std::make_unique<ContextItem>(context, std::move(item), future);
}

} // namespace qdispatch::detail

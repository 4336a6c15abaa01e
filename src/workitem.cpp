// The out-of-line parts of the work items the public templates build (the impl header): the
// destructor every item shares, and what a posted item does with an exception (X1, C5).
#include "errors_p.h"

#include <qdispatch/currentthreadexecutor.h>

namespace qdispatch::detail {

WorkItem::~WorkItem() = default;

void PostItemBase::run() noexcept
{
    begin(false); // not skipped: a post has no future to cancel
    try {
        call();
    } catch (const std::exception &error) {
        qCCritical(lcExecutor, "QDispatch: an item passed to post() threw: %s", error.what());
    } catch (...) {
        qCCritical(lcExecutor,
                   "QDispatch: an item passed to post() threw an exception that is not a "
                   "std::exception");
    }
}

void PostItemBase::fail(const std::exception_ptr &error) noexcept
{
    // There is no future to carry the error, so say it: a posted item is never dropped silently.
    try {
        std::rethrow_exception(error);
    } catch (const std::exception &e) {
        qCWarning(lcExecutor, "QDispatch: a posted item will never run: %s", e.what());
    } catch (...) {
        qCWarning(lcExecutor, "QDispatch: a posted item will never run");
    }
}

} // namespace qdispatch::detail

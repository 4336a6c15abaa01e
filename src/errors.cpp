// ExecutorError and the messages of its codes (C7, C8, C9, C11, X5).
#include "errors_p.h"

namespace qdispatch {

Q_LOGGING_CATEGORY(lcExecutor, "qdispatch.executor")

ExecutorError::ExecutorError(Code code, const std::string &message)
    : std::runtime_error(message), m_code(code)
{ }

namespace detail {

void throwError(ExecutorError::Code code)
{
    switch (code) {
    case ExecutorError::Code::OwnThread:
        throw ExecutorError(code,
                            "QDispatch: submit() was called on the thread that would have to run "
                            "the item; waiting for it there would deadlock. Call the function "
                            "directly instead (nothing was queued).");
    case ExecutorError::Code::Broken:
        throw ExecutorError(code,
                            "QDispatch: the executor is broken (shut down, being destroyed, or its "
                            "thread has finished) and no executor down its chain is alive; nothing "
                            "was queued.");
    case ExecutorError::Code::WrongThread:
        throw ExecutorError(code,
                            "QDispatch: runUntilFuture() and runPending() must be called on the "
                            "executor's own thread (see thread()); it was called from another "
                            "thread and did nothing.");
    case ExecutorError::Code::NoApplication:
        throw ExecutorError(code,
                            "QDispatch: there is no QCoreApplication. RunMode::AllEvents and "
                            "RunMode::ExcludeUserInput run a QEventLoop, an executorOf() executor "
                            "is served by its thread's event loop, and the main-thread executor "
                            "lives as long as the application: create one first (or wait with "
                            "RunMode::ExecutorOnly).");
    }
    Q_UNREACHABLE();
}

std::exception_ptr brokenError()
{
    try {
        throwError(ExecutorError::Code::Broken);
    } catch (...) {
        return std::current_exception();
    }
}

} // namespace detail
} // namespace qdispatch

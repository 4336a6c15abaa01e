// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// The errors QDispatch throws and the logging category it reports in: one sentence per
// ExecutorError code, so that every throw site says the same thing.
#pragma once

#include <qdispatch/currentthreadexecutor.h>

#include <QtCore/QLoggingCategory>

#include <exception>

namespace qdispatch {

Q_DECLARE_LOGGING_CATEGORY(lcExecutor)

namespace detail {

// Throws ExecutorError{code} with the message that explains it.
[[noreturn]] void throwError(ExecutorError::Code code);
// ExecutorError{Broken} as an exception_ptr, for the futures of items that will never run (C12).
std::exception_ptr brokenError();

} // namespace detail
} // namespace qdispatch

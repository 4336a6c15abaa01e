// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// The per-thread list of executors: what current() answers (X4), and what breaks the executors
// of a thread when it ends (C10).
#pragma once

#include "executorstate_p.h"

#include <memory>

namespace qdispatch::detail {

// Records an executor constructed on the calling thread. Owner thread only.
void registerExecutor(const std::shared_ptr<ExecutorState> &state);
// Forgets it again (its destructor, on the owner thread).
void unregisterExecutor(const std::shared_ptr<ExecutorState> &state);

} // namespace qdispatch::detail

// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// The per-thread list of executors: what current() answers (X4), and what breaks the executors
// of a thread when it ends (C10).
#pragma once

#include "executorstate_p.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace qdispatch::detail {

// Records an executor constructed on the calling thread. Owner thread only.
void registerExecutor(const std::shared_ptr<ExecutorState> &state);
// Forgets it again (its destructor, on the owner thread).
void unregisterExecutor(const std::shared_ptr<ExecutorState> &state);

// The live (not broken) executors constructed on the calling thread, oldest first (X3: what an
// invoke() wait serves).
std::vector<std::shared_ptr<ExecutorState>> liveExecutorsOfThisThread();
// The live executor that executorOf() made for the calling thread, or nullptr (threadexecutor.cpp).
// Not current() (X4: that is an executor constructed on the thread), but served by invoke() (X3).
std::shared_ptr<ExecutorState> executorOfThisThread();
// Wakes the ExecutorOnly waits of `thread` that serve all its executors (invoke(), X3), so that
// they look at its executors again (waits.cpp).
void wakeWholeThreadWaits(const QThread *thread);
// Wakes the invoke() waits of `thread` that serve no executor yet, so that they serve the one
// executorOf() just made for it (waits.cpp).
void wakePlainInvokeWaits(const QThread *thread);
// Changes whenever an executor comes to exist for some thread: constructed there, or made for it
// by executorOf(). A wait that serves every executor of its thread (X3) looks again when it
// changed.
std::uint64_t executorsGeneration();
// executorOf() made an executor for `thread` from another thread: the waits of that thread that
// serve all its executors are woken to take it on (waits.cpp). Call after it is registered.
void executorMadeFor(const QThread *thread);

} // namespace qdispatch::detail

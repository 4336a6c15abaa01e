// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// Points in the library where a test can stop a thread on purpose, to reach an interleaving that
// the scheduler finds only rarely (for example the owner thread preempted between taking an item
// and starting it, C4). Compiled in only when the library is built with QDISPATCH_TEST_HOOKS
// (the dev, clang, asan and tsan presets); otherwise a test point is nothing at all.
#pragma once

#include <qdispatch/qdispatch_export.h>

namespace qdispatch::detail {

enum class TestPoint {
    ItemClaimed, // the owner thread has taken an item off the queue and not yet started it
    InboxTaken, // the owner thread has put what producers queued behind its batch (under the
                // state lock, which may have made it wait) and claimed nothing yet
    HandOffWaitsForClaim, // a thread breaking the executor waits for such an item to start
    OwnerSleeps, // an ExecutorOnly wait (runUntilFuture(), invoke()) is about to sleep
    InvokeBlocks, // an invoke() from a thread with no executor is about to block
    InvokeWaits // an invoke() from a thread with an executor sent its item, and is about to look
                // up the executor its wait sleeps on
};

// Called on the thread that reaches the point. Set it before the threads it concerns start.
using TestHook = void (*)(TestPoint point);

#if defined(QDISPATCH_TEST_HOOKS)
QDISPATCH_EXPORT void setTestHook(TestHook hook);
void reachTestPoint(TestPoint point);
#define QDISPATCH_TEST_POINT(point) ::qdispatch::detail::reachTestPoint(point)
#else
#define QDISPATCH_TEST_POINT(point) static_cast<void>(0)
#endif

} // namespace qdispatch::detail

// The test points of testhooks_p.h, when the library is built with QDISPATCH_TEST_HOOKS.
#include "testhooks_p.h"

#if defined(QDISPATCH_TEST_HOOKS)

#include <atomic>

namespace qdispatch::detail {

namespace {
std::atomic<TestHook> g_hook { nullptr };
} // namespace

void setTestHook(TestHook hook)
{
    g_hook.store(hook, std::memory_order_release);
}

void reachTestPoint(TestPoint point)
{
    if (const TestHook hook = g_hook.load(std::memory_order_acquire))
        hook(point);
}

} // namespace qdispatch::detail

#endif

// The deadline of the calling thread's innermost wait (C9): set by the waits (waits.cpp), read
// by the drains of the owner's event loop (executorstate.cpp).
#include "waitdeadlinescope_p.h"

#include <utility>

namespace qdispatch::detail {

namespace {

thread_local const QDeadlineTimer *t_waitDeadline = nullptr;

} // namespace

WaitDeadlineScope::WaitDeadlineScope(const QDeadlineTimer *deadline) noexcept
    : m_outer(std::exchange(t_waitDeadline, deadline))
{ }

WaitDeadlineScope::~WaitDeadlineScope()
{
    t_waitDeadline = m_outer;
}

const QDeadlineTimer *WaitDeadlineScope::innermost() noexcept
{
    return t_waitDeadline;
}

} // namespace qdispatch::detail

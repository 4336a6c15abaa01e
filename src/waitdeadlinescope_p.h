// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// The deadline of the calling thread's innermost wait, for the drains that run inside it (C9).
#pragma once

#include <QtCore/QDeadlineTimer>

namespace qdispatch::detail {

// C9: the deadline of the innermost wait of the calling thread (runUntilFuture(), or invoke()'s),
// while it lasts; nullptr when that wait has none. A drain that runs in the wait's event loop
// starts no item once it has passed.
class WaitDeadlineScope
{
public:
    explicit WaitDeadlineScope(const QDeadlineTimer *deadline) noexcept;
    ~WaitDeadlineScope();
    WaitDeadlineScope(const WaitDeadlineScope &) = delete;
    WaitDeadlineScope &operator=(const WaitDeadlineScope &) = delete;

    static const QDeadlineTimer *innermost() noexcept;

private:
    const QDeadlineTimer *m_outer;
};

} // namespace qdispatch::detail

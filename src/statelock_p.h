// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// Proof that the calling thread holds an executor's state mutex: the parameter type of every
// function that may only be called with that mutex held.
#pragma once

#include <mutex>

namespace qdispatch::detail {

// Holds an executor's state mutex (ExecutorState::m_mutex) for as long as it lives. A function
// whose caller must hold that mutex takes a `const StateLock &`, so that the compiler checks at
// every call what would otherwise be a comment. It does not say which executor's mutex it holds:
// a hand-off holds two at once, nested down the chain (docs/architecture.md, "Locks"), and every
// part of an executor is called with the lock of the executor it belongs to.
class StateLock
{
public:
    explicit StateLock(std::mutex &mutex) : m_lock(mutex) { }
    StateLock(const StateLock &) = delete;
    StateLock &operator=(const StateLock &) = delete;

    // For a condition variable, which lets go of the mutex while it sleeps and holds it again
    // before it returns (OwnerSleep::sleep()).
    std::unique_lock<std::mutex> &forWait() noexcept { return m_lock; }

private:
    std::unique_lock<std::mutex> m_lock;
};

} // namespace qdispatch::detail

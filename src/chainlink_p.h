// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// An executor's link down the chain of older executors (C11).
#pragma once

#include "statelock_p.h"

#include <memory>

namespace qdispatch::detail {

class ExecutorState;

// C11: the link from an executor to the older executor that its work goes to once it is broken.
// The link moves past executors that are dead (ExecutorState::skipDeadLinks()); the executor
// given at construction is also remembered weakly, for oldExecutor() only. Read and moved under
// the state lock of the executor that holds it.
class ChainLink
{
public:
    explicit ChainLink(std::shared_ptr<ExecutorState> old);
    // Drops the link without recursing down a chain of states that die with it (release()).
    ~ChainLink();
    ChainLink(const ChainLink &) = delete;
    ChainLink &operator=(const ChainLink &) = delete;

    // The next executor down the chain; nullptr at its end.
    std::shared_ptr<ExecutorState> next(const StateLock &) const { return m_old; }
    // Moves the link from `seen` on to `live`, unless another thread has moved it meanwhile (as
    // far or further). Returns the link it dropped, for release() once the lock is let go.
    std::shared_ptr<ExecutorState> moveOn(const StateLock &,
                                          const std::shared_ptr<ExecutorState> &seen,
                                          std::shared_ptr<ExecutorState> live);
    // The state given at construction, while it exists.
    std::shared_ptr<ExecutorState> given() const { return m_givenOld.lock(); }

    // Drops a link. Dropping the last reference to a state drops that state's own link, and so
    // on down the chain: this keeps the recursion flat, however long the chain.
    static void release(std::shared_ptr<ExecutorState> link);

private:
    std::shared_ptr<ExecutorState> m_old;
    const std::weak_ptr<ExecutorState> m_givenOld;
};

} // namespace qdispatch::detail

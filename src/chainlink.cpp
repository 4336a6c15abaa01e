// The chain link of an executor (C11): the link to the older executor its work goes to once it is
// broken, moved past dead executors, and dropped without a recursion as deep as the chain.
#include "chainlink_p.h"

#include "executorstate_p.h"

#include <utility>
#include <vector>

namespace qdispatch::detail {

ChainLink::ChainLink(std::shared_ptr<ExecutorState> old) : m_old(std::move(old)), m_givenOld(m_old)
{ }

ChainLink::~ChainLink()
{
    release(std::move(m_old));
}

std::shared_ptr<ExecutorState> ChainLink::moveOn(const StateLock &,
                                                 const std::shared_ptr<ExecutorState> &seen,
                                                 std::shared_ptr<ExecutorState> live)
{
    if (m_old != seen)
        return nullptr; // someone else moved it meanwhile, as far or further
    return std::exchange(m_old, std::move(live));
}

void ChainLink::release(std::shared_ptr<ExecutorState> link)
{
    // Dropping the last reference to a state drops its own link, and so on down the chain: a
    // recursion as deep as the chain, which overflowed the stack (20,000 executors were enough
    // on a 1 MiB stack). The outermost call on a thread releases them one by one;
    // the calls nested in it only hand their link over.
    thread_local std::vector<std::shared_ptr<ExecutorState>> *t_pending = nullptr;
    if (!link)
        return;
    if (t_pending) {
        t_pending->push_back(std::move(link));
        return;
    }
    std::vector<std::shared_ptr<ExecutorState>> pending;
    t_pending = &pending;
    pending.push_back(std::move(link));
    while (!pending.empty()) {
        std::shared_ptr<ExecutorState> last = std::move(pending.back());
        pending.pop_back();
        last.reset(); // may destroy it, which pushes its own link
    }
    t_pending = nullptr;
}

} // namespace qdispatch::detail

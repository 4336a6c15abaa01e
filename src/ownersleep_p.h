// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// The owner thread's sleep in an ExecutorOnly wait (C9), and what wakes it.
#pragma once

#include "statelock_p.h"

#include <QtCore/QDeadlineTimer>

#include <atomic>
#include <condition_variable>
#include <memory>

namespace qdispatch::detail {

class ExecutorState;

// The part an executor plays in an ExecutorOnly wait. A wait sleeps on one executor; invoke()'s
// wait serves every executor of its thread (X3), and the others relay their wake-ups to it.
enum class ExclusiveRole {
    Primary, // the wait sleeps on this executor
    Relay // this executor pokes the one the wait sleeps on
};

// The owner thread asleep in an ExecutorOnly wait until there is work for it: woken by a producer
// that fills the empty queue (signal()), by a poke (a future finished, a relayed wake-up, a
// break), or by its deadline. Everything here is changed under the state lock.
class OwnerSleep
{
public:
    OwnerSleep() = default;
    OwnerSleep(const OwnerSleep &) = delete;
    OwnerSleep &operator=(const OwnerSleep &) = delete;

    // Producers, right after filling an empty queue: whether an owner may be asleep here.
    // Sequentially consistent, against the count the wait makes before it looks at the queue
    // (ExecutorState::wakeAfterEmptyPush()).
    bool mayBeAsleep() const noexcept { return m_sleepers.load(std::memory_order_seq_cst) > 0; }
    // The executor that a wait serving several sleeps on, to be poked as well (nullptr: none).
    std::shared_ptr<ExecutorState> relay(const StateLock &) const { return m_relay; }
    // Wakes the sleeping owner. Best done without the state lock: the woken owner takes it first.
    void signal() noexcept { m_wake.notify_all(); }

    // A wait begins or ends. With ExclusiveRole::Relay, `relay` becomes this executor's relay:
    // enter() returns the relay it replaced, and leave() puts that one back, returning the one
    // this wait had set (to be released once the lock is let go).
    std::shared_ptr<ExecutorState> enter(const StateLock &, std::shared_ptr<ExecutorState> relay,
                                         ExclusiveRole role);
    std::shared_ptr<ExecutorState> leave(const StateLock &,
                                         std::shared_ptr<ExecutorState> previousRelay,
                                         ExclusiveRole role);
    // Any thread: wakes the wait so that it looks at its future again.
    void poke(const StateLock &);
    // Sleeps unless poked, letting go of the lock meanwhile, at most until `deadline`; it may
    // also wake for no reason. Either way the poke is used up.
    void sleep(StateLock &lock, QDeadlineTimer deadline);
    // There is work already: the owner does not sleep, and a poke is used up all the same.
    void forgetPoke(const StateLock &) noexcept { m_poked = false; }

private:
    std::condition_variable m_wake;
    bool m_poked = false;
    // Read by every producer that fills an empty queue, and written only as waits begin and end:
    // on a cache line apart from what each sleep writes (m_wake, m_poked).
    alignas(64) std::atomic<int> m_sleepers { 0 };
    std::shared_ptr<ExecutorState> m_relay;
};

} // namespace qdispatch::detail

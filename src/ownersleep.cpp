// The owner thread's sleep in an ExecutorOnly wait (C9): entering and leaving it, the relays of a
// wait that serves every executor of its thread (X3), pokes, and the sleep itself.
#include "ownersleep_p.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace qdispatch::detail {

std::shared_ptr<ExecutorState> OwnerSleep::enter(const StateLock &,
                                                 std::shared_ptr<ExecutorState> relay,
                                                 ExclusiveRole role)
{
    m_sleepers.fetch_add(1, std::memory_order_seq_cst);
    if (role == ExclusiveRole::Relay)
        std::swap(m_relay, relay);
    return relay; // the replaced relay (or, for the primary, nullptr as given)
}

std::shared_ptr<ExecutorState> OwnerSleep::leave(const StateLock &,
                                                 std::shared_ptr<ExecutorState> previousRelay,
                                                 ExclusiveRole role)
{
    m_sleepers.fetch_sub(1, std::memory_order_seq_cst);
    if (role == ExclusiveRole::Relay)
        std::swap(m_relay, previousRelay);
    return previousRelay; // now the relay this wait had set
}

void OwnerSleep::poke(const StateLock &)
{
    m_poked = true;
    m_wake.notify_all();
}

void OwnerSleep::sleep(StateLock &lock, QDeadlineTimer deadline)
{
    // A deadline years away would overflow wait_for()'s arithmetic on the clock: sleep at most a
    // day at a time (the caller looks again and sleeps on).
    constexpr qint64 kLongestSleepNs = 24 * 3600 * qint64(1000000000);
    if (!m_poked) {
        if (deadline.isForever()) {
            m_wake.wait(lock.forWait());
        } else {
            const qint64 ns = std::clamp<qint64>(deadline.remainingTimeNSecs(), 0, kLongestSleepNs);
            m_wake.wait_for(lock.forWait(), std::chrono::nanoseconds(ns));
        }
    }
    m_poked = false;
}

} // namespace qdispatch::detail

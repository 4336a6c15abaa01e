// The spin before a sleep: the longest budget, and how a thread's budget learns from its waits.
#include "spinwait_p.h"

#include <QtCore/QByteArray>
#include <QtCore/QThread>
#include <QtCore/QtGlobal>

#include <algorithm>

namespace qdispatch::detail {

namespace {

constexpr std::int64_t kDefaultLongestUs = 50;
constexpr std::int64_t kMostUs = 1000;

std::int64_t longestSpinFromEnvironment()
{
    static const char variable[] = "QDISPATCH_SPIN_US";
    if (QThread::idealThreadCount() < 2)
        return 0;
    // Off unless asked for, for now: with the spin on, ThreadSanitizer reports races inside Qt's
    // event posting (tst_load, 2 runs in 6) that it did not see when every hand-off went through
    // the state lock, and under CPU contention the budget does not yet learn to stop (P3 in
    // ExecutorOnly 1.57x the condition-variable floor with both CPUs busy, against 0.019x on
    // a quiet machine).
    if (!qEnvironmentVariableIsSet(variable))
        return 0;
    const QByteArray value = qgetenv(variable).trimmed();
    bool ok = false;
    const qint64 us = value.toLongLong(&ok);
    if (!ok || us < 0 || us > kMostUs) {
        qWarning("QDispatch: ignoring %s=\"%s\": expected a whole number of microseconds from 0 "
                 "(never spin before sleeping) to %lld, such as %lld; not spinning.",
                 variable, value.constData(), static_cast<long long>(kMostUs),
                 static_cast<long long>(kDefaultLongestUs));
        return 0;
    }
    return us * 1000;
}

} // namespace

std::int64_t longestSpinNs() noexcept
{
    static const std::int64_t ns = longestSpinFromEnvironment();
    return ns;
}

std::int64_t SpinBudget::ns() const noexcept
{
    const std::int64_t longest = longestSpinNs();
    return m_ns < 0 ? longest : std::min(m_ns, longest);
}

void SpinBudget::learn(std::int64_t neededNs, std::int64_t spentNs, bool served) noexcept
{
    const std::int64_t longest = longestSpinNs();
    if (longest == 0)
        return;
    if (m_ns < 0)
        m_ns = longest;
    if (served) {
        // Halfway towards twice what it needed: room for a slower one next time.
        const std::int64_t wanted = std::clamp<std::int64_t>(2 * neededNs, kMinNs, longest);
        m_ns = (m_ns + wanted + 1) / 2;
    } else if (spentNs > 0) {
        // It spun for nothing: spin half as long next time, and below the least, not at all.
        m_ns /= 2;
        if (m_ns < kMinNs)
            m_ns = 0;
    } else if (neededNs <= longest) {
        // It did not spin, and the sleep ended within the longest spin, wake-up included: a
        // spin would have served it.
        m_ns = std::clamp<std::int64_t>(2 * neededNs, kMinNs, longest);
    }
}

SpinBudget &invokeSpinBudget() noexcept
{
    thread_local SpinBudget budget;
    return budget;
}

SpinBudget &ownerSpinBudget() noexcept
{
    thread_local SpinBudget budget;
    return budget;
}

} // namespace qdispatch::detail

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
    if (!qEnvironmentVariableIsSet(variable))
        return kDefaultLongestUs * 1000;
    const QByteArray value = qgetenv(variable).trimmed();
    bool ok = false;
    const qint64 us = value.toLongLong(&ok);
    if (!ok || us < 0 || us > kMostUs) {
        qWarning("QDispatch: ignoring %s=\"%s\": expected a whole number of microseconds from 0 "
                 "(never spin before sleeping) to %lld, such as %lld (the default); not spinning.",
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

namespace {

// The average of a kind of wait: each new one counts an eighth.
void average(std::int64_t &mean, std::int64_t sample) noexcept
{
    mean = mean < 0 ? sample : mean + (sample - mean) / 8;
}

} // namespace

std::int64_t SpinBudget::next() noexcept
{
    const std::int64_t longest = longestSpinNs();
    const std::int64_t ns = m_ns < 0 ? longest : std::min(m_ns, longest);
    // Now and then the other way, since what either costs may have changed: a sleep while
    // spinning, a spin (as long as a sleep takes on average) while not.
    const bool probe = longest > 0 && ++m_waits % kProbeEvery == 0;
    if (!probe)
        return ns;
    if (ns > 0)
        return 0;
    return m_sleptNs < 0 ? 0 : std::clamp<std::int64_t>(2 * m_sleptNs, kMinNs, longest);
}

void SpinBudget::learn(std::int64_t neededNs, std::int64_t spentNs, bool served) noexcept
{
    const std::int64_t longest = longestSpinNs();
    if (longest == 0)
        return;
    if (m_ns < 0)
        m_ns = longest;
    if (served) {
        average(m_spunNs, neededNs);
        if (spinningLoses()) {
            m_ns = 0;
            return;
        }
        // Halfway towards twice what it needed: room for a slower one next time.
        const std::int64_t wanted = std::clamp<std::int64_t>(2 * neededNs, kMinNs, longest);
        m_ns = (m_ns + wanted + 1) / 2;
    } else if (spentNs > 0) {
        // It spun for nothing: spin half as long next time, and below the least, not at all.
        m_ns /= 2;
        if (m_ns < kMinNs)
            m_ns = 0;
    } else if (neededNs <= longest) {
        // It slept (not spinning, or a probe), and a spin could have served it: start spinning
        // again, unless spinning was seen to lose.
        average(m_sleptNs, neededNs);
        if (m_ns == 0 && !spinningLoses())
            m_ns = std::clamp<std::int64_t>(2 * neededNs, kMinNs, longest);
    }
}

bool SpinBudget::spinningLoses() const noexcept
{
    return m_spunNs >= 0 && m_sleptNs >= 0 && m_spunNs > m_sleptNs;
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

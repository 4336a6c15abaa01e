// X10, hang reports: a wait (runUntilFuture(), invoke()) that lasts longer than the process-wide
// hang threshold says once, in qdispatch.hang, who waits, on what, for how long and how much is
// pending there. The threshold: setHangThreshold() or QDISPATCH_HANG_MS; off by default.
#include "diagnostics_p.h"

#include "errors_p.h"

#include <QtCore/QThread>
#include <QtCore/QTimer>

#include <array>

namespace qdispatch {
namespace detail {

using std::chrono::nanoseconds;

namespace {

std::int64_t hangFromEnvironment()
{
    static const char variable[] = "QDISPATCH_HANG_MS";
    if (!qEnvironmentVariableIsSet(variable))
        return 0;
    const QByteArray value = qgetenv(variable);
    const std::optional<qint64> ms = parseMs(value);
    if (!ms) {
        warnMalformed(lcHang(), variable, value, "one value such as 2000");
        return 0;
    }
    return *ms * 1'000'000;
}

std::atomic<std::int64_t> &hangThresholdStore()
{
    static std::atomic<std::int64_t> ns { hangFromEnvironment() };
    return ns;
}

} // namespace

// --- Hangs ------------------------------------------------------------------------------------

HangWatch::HangWatch(const ExecutorState *target, Wait wait, RunMode mode)
    : m_target(target), m_wait(wait), m_mode(mode), m_thresholdNs(target ? hangThresholdNs() : 0)
{
    if (m_thresholdNs != 0)
        m_clock.start();
}

HangWatch::~HangWatch() = default;

const char *runModeName(RunMode mode) noexcept
{
    switch (mode) {
    case RunMode::AllEvents:
        return "AllEvents";
    case RunMode::ExcludeUserInput:
        return "ExcludeUserInput";
    case RunMode::ExecutorOnly:
        break;
    }
    return "ExecutorOnly";
}

const char *traceWaitName(RunMode mode) noexcept
{
    // Made once from the modes' names: a trace keeps a pointer to it per wait. Never destroyed:
    // a trace may be written at exit, after the statics made later than its handler are gone.
    static const auto *const names = [] {
        auto *result = new std::array<QByteArray, 3>;
        for (const RunMode each :
             { RunMode::AllEvents, RunMode::ExcludeUserInput, RunMode::ExecutorOnly })
            (*result)[std::size_t(each)] = QByteArray("runUntilFuture (") + runModeName(each) + ')';
        return result;
    }();
    return (*names)[std::size_t(mode)].constData();
}

void HangWatch::startTimer()
{
    if (m_thresholdNs == 0)
        return;
    m_timer = std::make_unique<QTimer>();
    m_timer->setSingleShot(true);
    m_timer->setTimerType(Qt::PreciseTimer); // a coarse timer may fire 5% early
    QObject::connect(m_timer.get(), &QTimer::timeout, m_timer.get(), [this] {
        if (!m_reported)
            report();
    });
    // Rounded up, so that the report says at least the threshold.
    m_timer->start(int((m_thresholdNs + 999'999) / 1'000'000));
}

namespace {

void writeHangReport(const ExecutorState *target, const QString &what, std::int64_t waitedNs,
                     std::int64_t thresholdNs)
{
    const quint64 pending = target ? target->pendingCount() : 0;
    const QString executor = target ? QStringLiteral("the executor of %1, which has %2 item%3 "
                                                     "pending")
                                          .arg(target->ownerLabel())
                                          .arg(pending)
                                          .arg(pending == 1 ? QLatin1String() : QLatin1String("s"))
                                    : QStringLiteral("no executor");
    // X11: the chain of this wait, from thread to thread.
    const QString chain = describeOwnWaitChain();
    qCWarning(lcHang, "QDispatch: %s has waited %s in %s on %s (hang threshold %s).%s%s",
              qUtf8Printable(currentThreadLabel()), qUtf8Printable(msText(waitedNs)),
              qUtf8Printable(what), qUtf8Printable(executor),
              qUtf8Printable(thresholdText(thresholdNs)),
              chain.isEmpty() ? "" : "\n  Wait chain: ", qUtf8Printable(chain));
}

} // namespace

void HangWatch::report()
{
    m_reported = true;
    const QString what = m_wait == Wait::Invoke
        ? QStringLiteral("invoke() (running its own executor's items meanwhile)")
        : QStringLiteral("runUntilFuture() in %1 mode").arg(QLatin1String(runModeName(m_mode)));
    writeHangReport(m_target, what, m_clock.nsecsElapsed(), m_thresholdNs);
}

std::int64_t hangThresholdNs() noexcept
{
#if QDISPATCH_DIAGNOSTICS
    return hangThresholdStore().load(std::memory_order_relaxed);
#else
    return 0;
#endif
}

std::shared_ptr<ExecutorState> hangReportTarget(ExecutorState *state)
{
    // While tracing (X12) too: the wait's event names the executor it waits on.
    if (!state || (hangThresholdNs() == 0 && !tracing()))
        return nullptr;
    return state->shared_from_this();
}

void reportBlockedInvoke(const ExecutorState *target, nanoseconds waited) noexcept
{
    try {
        writeHangReport(target, QStringLiteral("invoke() (this thread has no executor: it blocks)"),
                        waited.count(), hangThresholdNs());
    } catch (...) {
        // A report is not worth an exception escaping a wait.
    }
}

} // namespace detail

void setHangThreshold(std::chrono::milliseconds threshold)
{
    detail::hangThresholdStore().store(detail::clampedNs(threshold), std::memory_order_relaxed);
    detail::diagnosticsSettingsChanged(); // drains under way stamp their items' start or stop
}

std::chrono::milliseconds hangThreshold()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::nanoseconds(detail::hangThresholdNs()));
}

} // namespace qdispatch

// X10, seeing inside: the API of pendingCount(), runPending() and stats(); slow-item reports
// (after Android's Looper: an item's run time and its delivery lateness against thresholds); the
// names of threads and items in reports; the environment variables that switch them on. An
// executor's books are executorbooks.cpp's, hang reports hangreports.cpp's. Everything here is
// off by default and costs no clock reading until a threshold is set.
#include "diagnostics_p.h"

#include "errors_p.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QSet>
#include <QtCore/QThread>
#include <QtCore/QTimer>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

#if __has_include(<cxxabi.h>)
#include <cxxabi.h>
#define QDISPATCH_HAVE_CXXABI 1
#endif

namespace qdispatch {

Q_LOGGING_CATEGORY(lcSlow, "qdispatch.slow")
Q_LOGGING_CATEGORY(lcHang, "qdispatch.hang")

namespace detail {

namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

// The largest threshold the environment may set: one day. Anything longer is a typo.
constexpr qint64 kMaxThresholdMs = 24 * 60 * 60 * 1000;

// --- Names of threads -------------------------------------------------------------------------

QString idText(Qt::HANDLE id)
{
    return QStringLiteral("0x") + QString::number(quintptr(id), 16);
}

bool isMainThread(const QThread *thread)
{
    const QCoreApplication *app = QCoreApplication::instance();
    return app && app->thread() == thread;
}

} // namespace

namespace {

// Reading a QThread's objectName() on another thread races with a setObjectName() on it (by the
// thread naming itself, or by the thread the QThread object lives in renaming it): QObject is
// reentrant, not thread-safe, and the reports and wait chains name threads from anywhere. So a
// thread's name is read once, when QDispatch first needs it, and kept here; from then on the
// QThread's objectNameChanged signal, which carries a copy made by the renaming thread, keeps it
// current, and its destroyed signal removes it (a later QThread may have the same address).
class ThreadNames
{
public:
    static ThreadNames &instance()
    {
        static auto *names = new ThreadNames; // never destroyed: threads may end after main()
        return *names;
    }

    // `thread` must be alive (its QThread not yet destroyed) for the call.
    QString of(const QThread *thread)
    {
        std::lock_guard locker(m_mutex);
        const auto it = m_names.find(thread);
        if (it != m_names.end())
            return it->second;
        // Connected before the name is read, under the lock: a rename from now on waits for the
        // lock in its handler and then stores the newer name over the one read here.
        auto *sender = const_cast<QThread *>(thread);
        QObject::connect(sender, &QObject::objectNameChanged,
                         [thread](const QString &name) { instance().set(thread, name); });
        QObject::connect(sender, &QObject::destroyed, [thread] { instance().forget(thread); });
        return m_names.emplace(thread, thread->objectName()).first->second;
    }

private:
    void set(const QThread *thread, const QString &name)
    {
        std::lock_guard locker(m_mutex);
        m_names[thread] = name;
    }
    void forget(const QThread *thread)
    {
        std::lock_guard locker(m_mutex);
        m_names.erase(thread);
    }

    std::mutex m_mutex;
    std::unordered_map<const QThread *, QString> m_names;
};

} // namespace

ThreadName ThreadName::of(const QThread *thread)
{
    return { ThreadNames::instance().of(thread), isMainThread(thread) };
}

QString escaped(const QString &text, QLatin1String special)
{
    QString result;
    result.reserve(text.size());
    for (const QChar c : text) {
        const QChar::Category category = c.category();
        if (special.contains(c)) {
            result += QLatin1Char('\\') + c;
        } else if (c == QLatin1Char('\n')) {
            result += QLatin1String("\\n");
        } else if (c == QLatin1Char('\t')) {
            result += QLatin1String("\\t");
        } else if (category == QChar::Other_Control || category == QChar::Separator_Line ||
                   category == QChar::Separator_Paragraph) {
            // C0 and C1 controls (U+0085 ends a line too), U+2028 and U+2029.
            // As a number: Qt 6.11's arg() takes a char16_t for a character, not a number.
            const uint code = c.unicode();
            result += code <= 0xff ? QStringLiteral("\\x%1").arg(code, 2, 16, QLatin1Char('0'))
                                   : QStringLiteral("\\u%1").arg(code, 4, 16, QLatin1Char('0'));
        } else {
            result += c;
        }
    }
    return result;
}

QString ThreadName::label(Qt::HANDLE id) const
{
    QString label = name.isEmpty()
        ? QStringLiteral("thread ") + idText(id)
        : QStringLiteral("thread \"%1\"").arg(escaped(name, QLatin1String("\"\\")));
    if (isMain)
        label += QStringLiteral(" (main)");
    return label;
}

QString currentThreadLabel()
{
    return ThreadName::of(QThread::currentThread()).label(QThread::currentThreadId());
}

namespace {

// The threads that submitted stamped items, by a serial number that is never reused (a thread
// id is, once its thread has ended): a report names the submitter after the fact, when it may
// have ended. A thread enters on its first stamped submit, with its objectName() then. Ended
// threads are kept for the reports of the items they left queued, the newest kEndedKept of them.
constexpr std::size_t kEndedKept = 256;

struct Submitter
{
    ThreadName thread;
    Qt::HANDLE id = nullptr;
    bool ended = false;
};

struct Submitters
{
    std::mutex mutex;
    std::uint64_t lastSerial = 0;
    std::map<std::uint64_t, Submitter> bySerial;
    std::size_t ended = 0;
};

Submitters &submitters()
{
    static auto *registry = new Submitters; // never destroyed: threads may end after main()
    return *registry;
}

struct SubmitterEntry
{
    std::uint64_t serial = 0;
    ~SubmitterEntry()
    {
        if (serial == 0)
            return;
        auto &registry = submitters();
        std::lock_guard locker(registry.mutex);
        registry.bySerial[serial].ended = true;
        ++registry.ended;
        for (auto it = registry.bySerial.begin();
             registry.ended > kEndedKept && it != registry.bySerial.end();) {
            if (it->second.ended) {
                it = registry.bySerial.erase(it);
                --registry.ended;
            } else {
                ++it;
            }
        }
    }
};

// Ends the thread's entry with the thread. The serial the stamps read is t_submitterSerial
// (diagnostics_p.h), trivially destructible, so reading it needs no thread-local guard (P7).
thread_local SubmitterEntry t_submitter;

} // namespace

std::uint64_t enterSubmitter()
{
    SubmitterEntry &entry = t_submitter;
    QThread *const self = QThread::currentThread();
    Submitter submitter;
    submitter.thread = ThreadName::of(self);
    submitter.id = QThread::currentThreadId();
    auto &registry = submitters();
    std::lock_guard locker(registry.mutex);
    entry.serial = ++registry.lastSerial;
    registry.bySerial.emplace(entry.serial, std::move(submitter));
    t_submitterSerial = entry.serial;
    return entry.serial;
}

QString submitterLabel(std::uint64_t serial, bool markEnded)
{
    if (serial == 0)
        return QStringLiteral("a thread not recorded (no threshold was set when it was accepted)");
    Submitter submitter;
    {
        auto &registry = submitters();
        std::lock_guard locker(registry.mutex);
        const auto it = registry.bySerial.find(serial);
        if (it == registry.bySerial.end())
            return QStringLiteral("a thread that has ended");
        submitter = it->second;
    }
    QString label = submitter.thread.label(submitter.id);
    if (submitter.ended && markEnded)
        label += QStringLiteral(" (ended since)");
    return label;
}

namespace {

// --- Names of items ---------------------------------------------------------------------------

// The type out of nameOf<Fn>()'s signature: GCC "... [with Fn = T]", Clang "... [Fn = T]".
QString typeFromSignature(const char *signature)
{
    const QString text = QString::fromUtf8(signature);
    const QLatin1String markers[] = { QLatin1String("[with Fn = "), QLatin1String("[Fn = ") };
    for (const QLatin1String &marker : markers) {
        const qsizetype at = text.indexOf(marker);
        if (at >= 0 && text.endsWith(QLatin1Char(']')))
            return text.mid(at + marker.size(), text.size() - at - marker.size() - 1);
    }
    return text;
}

QString unescapedItemName(CallableName name)
{
    const QString fromSignature = name.signature ? typeFromSignature(name.signature) : QString();
    // Clang's signature names a lambda by its file and line, which says more than its type.
    if (fromSignature.contains(QLatin1String("(lambda at ")))
        return fromSignature;
#ifdef QDISPATCH_HAVE_CXXABI
    if (name.type) {
        int status = 0;
        char *demangled = abi::__cxa_demangle(name.type->name(), nullptr, nullptr, &status);
        if (status == 0 && demangled) {
            QString result = QString::fromUtf8(demangled);
            std::free(demangled);
            return result;
        }
        std::free(demangled);
    }
#endif
    if (!fromSignature.isEmpty())
        return fromSignature;
    if (name.type)
        return QString::fromUtf8(name.type->name());
    return QStringLiteral("(an item without a name)");
}

} // namespace

QString itemName(CallableName name)
{
    // A wait chain quotes an item's name in backticks; Clang's name of a lambda holds a file
    // path, which may hold anything.
    return escaped(unescapedItemName(name), QLatin1String("`"));
}

QString msText(std::int64_t ns)
{
    // Rounded up to a tenth of a millisecond: a time over a threshold never reads as equal to it
    // ("ran 20.0 ms (run threshold 20 ms)" for 20.01 ms).
    const std::int64_t tenths = ns <= 0 ? 0 : (ns + 99'999) / 100'000;
    return QString::number(double(tenths) / 10, 'f', 1) + QStringLiteral(" ms");
}

QString thresholdText(std::int64_t ns)
{
    return ns == 0 ? QStringLiteral("off")
                   : QString::number(ns / 1'000'000) + QStringLiteral(" ms");
}

// --- The environment --------------------------------------------------------------------------

// A whole number of milliseconds, 0 to kMaxThresholdMs: digits only, spaces around allowed.
std::optional<qint64> parseMs(const QByteArray &text)
{
    const QByteArray part = text.trimmed();
    if (part.isEmpty() || part.size() > 9)
        return std::nullopt;
    for (const char c : part) {
        if (c < '0' || c > '9')
            return std::nullopt;
    }
    const qint64 value = part.toLongLong();
    if (value > kMaxThresholdMs)
        return std::nullopt;
    return value;
}

// One warning per malformed value, however many executors read it.
void warnMalformed(const QLoggingCategory &category, const char *variable, const QByteArray &value,
                   const char *expected)
{
    static std::mutex mutex;
    static QSet<QByteArray> warned;
    {
        std::lock_guard locker(mutex);
        const QByteArray key = QByteArray(variable) + '=' + value;
        if (warned.contains(key))
            return;
        warned.insert(key);
    }
    qCWarning(category,
              "QDispatch: ignoring %s=\"%s\": expected %s, each a whole number of "
              "milliseconds from 0 (off) to %lld; %s stay off.",
              variable, value.constData(), expected, static_cast<long long>(kMaxThresholdMs),
              &category == &lcSlow() ? "slow-item reports" : "hang reports");
}

std::int64_t clampedNs(milliseconds ms)
{
    return ms.count() <= 0 ? 0 : std::chrono::duration_cast<nanoseconds>(ms).count();
}

void applySlowItemEnvironment(ExecutorState &state)
{
    if (!QDISPATCH_DIAGNOSTICS)
        return;
    static const char variable[] = "QDISPATCH_SLOW_ITEM_MS";
    if (!qEnvironmentVariableIsSet(variable))
        return;
    const QByteArray value = qgetenv(variable);
    const QList<QByteArray> parts = value.split(',');
    std::optional<qint64> run = parseMs(parts.value(0));
    std::optional<qint64> delivery = parts.size() == 2 ? parseMs(parts.at(1)) : qint64(0);
    if (parts.size() > 2 || !run || !delivery) {
        warnMalformed(lcSlow(), variable, value, "run[,delivery] such as 50 or 50,100");
        return;
    }
    state.setSlowItemThresholds(milliseconds(*run), milliseconds(*delivery));
}

void ItemBooks::updateAlerts() noexcept
{
#if QDISPATCH_DIAGNOSTICS
    // Records: the owner thread is their only writer, so it reads them without the lock.
    const auto alert = [](std::int64_t record, std::int64_t threshold) {
        return threshold == 0 ? record : std::min(record, threshold);
    };
    m_runAlertNs = alert(m_books.m_longestRun.ns(), m_runNs);
    m_deliveryAlertNs = alert(m_books.m_longestDelivery.ns(), m_deliveryNs);
#endif
}

void ItemBooks::afterTimedRun(WorkItem *item, std::int64_t runNs, std::int64_t deliveryNs) noexcept
{
#if QDISPATCH_DIAGNOSTICS
    if (m_coarse) {
        runNs = diagclock::wholeSteps(runNs);
        deliveryNs = diagclock::wholeSteps(deliveryNs);
    }
    if (runNs > m_books.m_longestRun.ns())
        m_books.m_longestRun.set(runNs, item->callableName());
    if (deliveryNs > m_books.m_longestDelivery.ns())
        m_books.m_longestDelivery.set(deliveryNs, item->callableName());
    updateAlerts();

    const bool slow = m_runNs != 0 && runNs > m_runNs;
    bool late = false;
    if (m_deliveryNs != 0 && deliveryNs >= 0) {
        // As Android's Looper does: after one late delivery is reported, the items queued
        // behind it are late too; say nothing more until one starts on time (the backlog is gone).
        if (deliveryNs <= m_deliveryNs)
            m_books.m_lateReported = false;
        else if (!std::exchange(m_books.m_lateReported, true))
            late = true;
    }
    if (!slow && !late)
        return;

    const QString runText =
        QStringLiteral("it ran %1 (run threshold %2)").arg(msText(runNs), thresholdText(m_runNs));
    const QString deliveryText = deliveryNs < 0
        ? QStringLiteral("its delivery was not measured (no delivery threshold was set when it was "
                         "accepted, or thresholds or a trace switched the clock since)")
        : QStringLiteral("it started %1 after it was accepted (delivery threshold %2)")
              .arg(msText(deliveryNs), thresholdText(m_deliveryNs));
    const char *what = slow && late ? "slow and late item" : slow ? "slow item" : "late item";
    QString message =
        QStringLiteral("QDispatch: %1 on %2: %3, %4. Item: %5; submitted by %6.")
            .arg(QLatin1String(what), currentThreadLabel(), slow ? runText : deliveryText,
                 slow ? deliveryText : runText, itemName(item->callableName()),
                 submitterLabel(submitterSerialOf(item->m_submitter)));
    if (m_coarse)
        message += QStringLiteral(" Times are read in steps of %1 ms.")
                       .arg(double(diagclock::coarseStepNs()) / 1e6);
    if (late)
        message += QStringLiteral(" Later late items go unreported until one starts on time.");
    qCWarning(lcSlow, "%s", qUtf8Printable(message));
#else
    Q_UNUSED(item);
    Q_UNUSED(runNs);
    Q_UNUSED(deliveryNs);
#endif
}

} // namespace detail

// --- The API ----------------------------------------------------------------------------------

quint64 CurrentThreadExecutor::pendingCount() const
{
    return d->pendingCount();
}

void CurrentThreadExecutor::runPending()
{
    if (QThread::currentThreadId() != d->threadId || d->ownerFinished())
        detail::throwError(ExecutorError::Code::WrongThread);
    // Keep the state alive even if an item destroys this executor meanwhile.
    const std::shared_ptr<detail::ExecutorState> state = d;
    state->drainAcceptedSoFar(std::nullopt);
}

ExecutorStats CurrentThreadExecutor::stats() const
{
    return d->stats();
}

quint64 ExecutorHandle::pendingCount() const
{
    return d ? d->pendingCount() : 0;
}

ExecutorStats ExecutorHandle::stats() const
{
    return d ? d->stats() : ExecutorStats {};
}

void CurrentThreadExecutor::setSlowItemThresholds(std::chrono::milliseconds run,
                                                  std::chrono::milliseconds delivery)
{
#if QDISPATCH_DIAGNOSTICS
    d->setSlowItemThresholds(std::chrono::nanoseconds(detail::clampedNs(run)),
                             std::chrono::nanoseconds(detail::clampedNs(delivery)));
#else
    Q_UNUSED(run);
    Q_UNUSED(delivery);
#endif
}

std::chrono::milliseconds CurrentThreadExecutor::slowRunThreshold() const
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(d->slowRunThreshold());
}

std::chrono::milliseconds CurrentThreadExecutor::slowDeliveryThreshold() const
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(d->slowDeliveryThreshold());
}

std::chrono::nanoseconds CurrentThreadExecutor::slowItemTimeResolution() const
{
    return d->slowItemTimeResolution();
}

} // namespace qdispatch

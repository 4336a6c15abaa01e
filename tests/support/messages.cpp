#include "messages.h"

#include "testsupport.h"

#include <cstring>
#include <utility>

namespace qdispatchtest {

namespace {

// The logs alive, newest first, and the handler installed before the oldest of them.
std::mutex g_logsMutex;
MessageLog *g_newest = nullptr;
QtMessageHandler g_previous = nullptr;

} // namespace

MessageLog::MessageLog(Filter keep, Filter swallow)
    : m_keep(std::move(keep)), m_swallow(std::move(swallow))
{
    std::lock_guard lock(g_logsMutex);
    m_older = g_newest;
    g_newest = this;
    if (!m_older)
        g_previous = qInstallMessageHandler(&MessageLog::handle);
}

MessageLog::~MessageLog()
{
    std::lock_guard lock(g_logsMutex);
    // Logs end in the reverse order of their start (they are scoped).
    g_newest = m_older;
    if (!g_newest)
        qInstallMessageHandler(std::exchange(g_previous, nullptr));
}

void MessageLog::handle(QtMsgType type, const QMessageLogContext &context, const QString &text)
{
    const LoggedMessage message { type, QString::fromUtf8(context.category ? context.category : ""),
                                  text };
    QtMessageHandler previous = nullptr;
    {
        std::lock_guard lock(g_logsMutex);
        bool swallowed = false;
        for (MessageLog *log = g_newest; log && !swallowed; log = log->m_older)
            swallowed = log->offer(message);
        if (!swallowed)
            previous = g_previous;
    }
    if (previous)
        previous(type, context, text);
}

bool MessageLog::offer(const LoggedMessage &message)
{
    if (m_keep(message)) {
        std::lock_guard lock(m_mutex);
        m_messages.append(message);
        if (m_release && m_releaseWhen(message))
            m_release->release();
    }
    return m_swallow(message);
}

MessageLog::Filter MessageLog::warnings()
{
    return [](const LoggedMessage &m) {
        return m.type == QtWarningMsg || m.type == QtCriticalMsg || m.type == QtFatalMsg;
    };
}

MessageLog::Filter MessageLog::category(const char *name)
{
    return [name](const LoggedMessage &m) { return m.category == QLatin1String(name); };
}

MessageLog::Filter MessageLog::categoryPrefix(const char *prefix)
{
    return
        [prefix](const LoggedMessage &m) { return m.category.startsWith(QLatin1String(prefix)); };
}

MessageLog::Filter MessageLog::all()
{
    return [](const LoggedMessage &) { return true; };
}

MessageLog::Filter MessageLog::none()
{
    return [](const LoggedMessage &) { return false; };
}

QList<LoggedMessage> MessageLog::messages() const
{
    std::lock_guard lock(m_mutex);
    return m_messages;
}

QStringList MessageLog::texts(const char *category) const
{
    QStringList result;
    for (const LoggedMessage &m : messages()) {
        if (!category || m.category == QLatin1String(category))
            result.append(m.text);
    }
    return result;
}

int MessageLog::count() const
{
    std::lock_guard lock(m_mutex);
    return int(m_messages.size());
}

int MessageLog::count(const QString &part) const
{
    std::lock_guard lock(m_mutex);
    int n = 0;
    for (const LoggedMessage &m : m_messages)
        n += m.text.contains(part) ? 1 : 0;
    return n;
}

QString MessageLog::last() const
{
    std::lock_guard lock(m_mutex);
    return m_messages.isEmpty() ? QString() : m_messages.last().text;
}

QList<LoggedMessage> MessageLog::take()
{
    std::lock_guard lock(m_mutex);
    return std::exchange(m_messages, {});
}

void MessageLog::releaseOn(Filter when, Semaphore *semaphore)
{
    std::lock_guard lock(m_mutex);
    m_releaseWhen = std::move(when);
    m_release = m_releaseWhen ? semaphore : nullptr;
}

} // namespace qdispatchtest

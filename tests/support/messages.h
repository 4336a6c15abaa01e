// MessageLog: the one capture of the messages that Qt and the library log (qDebug() to qFatal(),
// from any thread), for the tests that count or read them. Where QTest's own tools say it as
// well, tests use those instead: QTest::ignoreMessage() for a message that must come, and
// QTest::failOnWarning() for "no warning at all".
#pragma once

#include <QtCore/QList>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QtGlobal>

#include <functional>
#include <mutex>

namespace qdispatchtest {

class Semaphore;

struct LoggedMessage
{
    QtMsgType type;
    QString category;
    QString text;
};

// While it lives, keeps every message that `keep` accepts, and hands each message on to the
// handler that was installed before (QTest's, so that QTest::ignoreMessage() and
// QTest::failOnWarning() still see it) unless `swallow` accepts it: a message logged on purpose
// by the hundred is then counted here instead of printed. Logs may nest; the newest sees a
// message first, and one that swallows it hides it from the older ones. Every thread that logs
// must have finished logging before the log is destroyed.
class MessageLog
{
public:
    using Filter = std::function<bool(const LoggedMessage &)>;

    explicit MessageLog(Filter keep = warnings(), Filter swallow = none());
    ~MessageLog();
    MessageLog(const MessageLog &) = delete;
    MessageLog &operator=(const MessageLog &) = delete;

    // Filters: qWarning(), qCritical() and qFatal(); messages of a logging category, or of the
    // categories starting with a prefix ("qdispatch."); everything; nothing.
    static Filter warnings();
    static Filter category(const char *name);
    static Filter categoryPrefix(const char *prefix);
    static Filter all();
    static Filter none();

    QList<LoggedMessage> messages() const;
    // The texts of the messages kept, of those in `category` (null: of every category).
    QStringList texts(const char *category = nullptr) const;
    int count() const;
    // How many messages kept contain `part`.
    int count(const QString &part) const;
    QString last() const;
    // The texts of the messages kept, one a line: for a failure message.
    QString joined() const { return texts().join(QLatin1Char('\n')); }
    // Takes the messages kept so far: the log starts again, empty.
    QList<LoggedMessage> take();
    void clear() { (void)take(); }
    // Releases `semaphore` for every message kept from now on that `when` accepts (null: none).
    void releaseOn(Filter when, Semaphore *semaphore);

private:
    static void handle(QtMsgType type, const QMessageLogContext &context, const QString &text);
    bool offer(const LoggedMessage &message);

    const Filter m_keep;
    const Filter m_swallow;
    MessageLog *m_older = nullptr;
    mutable std::mutex m_mutex;
    QList<LoggedMessage> m_messages;
    Filter m_releaseWhen;
    Semaphore *m_release = nullptr;
};

} // namespace qdispatchtest

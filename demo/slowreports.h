// QDispatch demo: the slow-item reports (X10) that the library writes in the logging category
// "qdispatch.slow", collected for the window's panel and the self-test.
#pragma once

#include <QtCore/QList>
#include <QtCore/QObject>
#include <QtCore/QString>

// The message handler (main.cpp) hands every "qdispatch.slow" message to add(), from whatever
// thread wrote it; reported() is emitted on the GUI thread. Everything else: GUI thread only.
class SlowReports final : public QObject
{
    Q_OBJECT

public:
    static constexpr int kKept = 20;

    // Any thread.
    void add(const QString &text);

    const QList<QString> &last() const { return m_last; } // oldest first, at most kKept
    int count() const { return m_count; } // every report so far

Q_SIGNALS:
    void reported(const QString &text);

private:
    void append(const QString &text);

    QList<QString> m_last;
    int m_count = 0;
};

// The one instance, living in the GUI thread.
SlowReports &slowReports();

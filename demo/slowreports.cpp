#include "slowreports.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QMetaObject>

void SlowReports::add(const QString &text)
{
    // Queued, so that the panel is updated by the GUI thread's event loop, never from inside the
    // message handler (which runs in the middle of the library's drain).
    QMetaObject::invokeMethod(
        this, [this, text] { append(text); }, Qt::QueuedConnection);
}

void SlowReports::append(const QString &text)
{
    m_last.append(text);
    if (m_last.size() > kKept)
        m_last.removeFirst();
    ++m_count;
    Q_EMIT reported(text);
}

SlowReports &slowReports()
{
    static SlowReports *reports = [] {
        auto *r = new SlowReports;
        r->moveToThread(QCoreApplication::instance()->thread());
        r->setParent(QCoreApplication::instance()); // destroyed with the application
        return r;
    }();
    return *reports;
}

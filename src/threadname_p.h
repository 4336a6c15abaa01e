// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// X10, X11: how reports and wait chains name a thread. Implemented in diagnostics.cpp.
#pragma once

#include <QtCore/QString>

QT_BEGIN_NAMESPACE
class QThread;
QT_END_NAMESPACE

namespace qdispatch::detail {

// How a report names a thread: `thread "name"`, or `thread 0x7f..` when it has no objectName(),
// and " (main)" for the thread of the QCoreApplication, which is seldom named and is the one a
// GUI developer looks for. Taken while the QThread exists; the label may be made after it is gone.
struct ThreadName
{
    QString name;
    bool isMain = false;

    static ThreadName of(const QThread *thread);
    QString label(Qt::HANDLE id) const;
};

} // namespace qdispatch::detail

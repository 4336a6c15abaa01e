// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// How QDispatch posts its wake-up events to Qt, so that ThreadSanitizer checks what it can see.
#pragma once

#include <QtCore/QCoreApplication>
#include <QtCore/QEvent>

#include "tsan_p.h"

namespace qdispatch::detail {

// QCoreApplication::postEvent(receiver, event). Under ThreadSanitizer, the memory that Qt touches
// inside the call (its per-thread list of posted events, grown with realloc and shifted with
// memmove) is not recorded: Qt guards that list with a QMutex locked inside libQt6Core, which is
// not instrumented, so TSan cannot see the lock and would report the list's own bookkeeping as
// racing with the receiving thread's event loop (docs/sanitizers.md, "Posting events"). Only the
// accesses are ignored, never synchronisation, and only for the duration of the call; the event
// is allocated before it, and everything QDispatch does on either side is still checked.
inline void postEvent(QObject *receiver, QEvent::Type type)
{
    QEvent *const event = new QEvent(type);
    tsanIgnoreAccessesBegin();
    QCoreApplication::postEvent(receiver, event);
    tsanIgnoreAccessesEnd();
}

} // namespace qdispatch::detail

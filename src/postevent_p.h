// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// How QDispatch posts its wake-up events to Qt, so that ThreadSanitizer checks what it can see.
#pragma once

#include <QtCore/QCoreApplication>
#include <QtCore/QEvent>

#if defined(__SANITIZE_THREAD__)
#define QDISPATCH_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define QDISPATCH_TSAN 1
#endif
#endif

#if defined(QDISPATCH_TSAN)
// ThreadSanitizer's dynamic annotations (exported by its runtime).
extern "C" void AnnotateIgnoreReadsBegin(const char *file, int line);
extern "C" void AnnotateIgnoreReadsEnd(const char *file, int line);
extern "C" void AnnotateIgnoreWritesBegin(const char *file, int line);
extern "C" void AnnotateIgnoreWritesEnd(const char *file, int line);
#endif

namespace qdispatch::detail {

// Under ThreadSanitizer, the calling thread's memory accesses (reads, writes, frees) are not
// recorded from begin to end; its synchronisation still is. Elsewhere, nothing.
inline void tsanIgnoreAccessesBegin()
{
#if defined(QDISPATCH_TSAN)
    AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
#endif
}

inline void tsanIgnoreAccessesEnd()
{
#if defined(QDISPATCH_TSAN)
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
    AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
#endif
}

// The other way round: a scope of QDispatch's own code inside a thread whose accesses are
// otherwise ignored (the future watch thread's) is checked again.
class TsanChecked
{
public:
    TsanChecked() { tsanIgnoreAccessesEnd(); }
    ~TsanChecked() { tsanIgnoreAccessesBegin(); }
    TsanChecked(const TsanChecked &) = delete;
    TsanChecked &operator=(const TsanChecked &) = delete;
};

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

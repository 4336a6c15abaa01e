// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// ThreadSanitizer's view of what Qt does out of its sight (docs/sanitizers.md): where QDispatch
// tells it to ignore memory accesses, and where it checks them again. Nothing in other builds.
#pragma once

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

} // namespace qdispatch::detail

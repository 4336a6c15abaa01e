/// \file
/// QDispatch coroutine support (X6), for C++20 consumers only; everything else in QDispatch
/// works in C++17.
///
/// \code
///   co_await qdispatch::resumeOn(executor);   // continue on the executor's thread
///   T value = co_await qdispatch::resultOf(f); // wait for a QFuture<T>, blocking no thread
/// \endcode
///
/// The awaitables ask nothing of the coroutine's promise type, so they work in any coroutine
/// (a task type of your own, QCoro's QCoro::Task, ...), and this header adds no global
/// operator co_await that could clash with another library's.
#pragma once

#if __cplusplus < 202002L || !defined(__cpp_impl_coroutine)
#error                                                                                             \
    "<qdispatch/coro.h> needs C++20 coroutines: compile this file as C++20 (CMake: CXX_STANDARD 20). The rest of QDispatch works in C++17."
#endif

#include <qdispatch/currentthreadexecutor.h>

#include <stdexcept>

namespace qdispatch {

/// Thrown at `co_await resultOf(future)` when the future was cancelled without producing a
/// result or an exception (for example a submitted item cancelled before it ran, C6), so there
/// is nothing to yield.
class FutureCanceled : public std::runtime_error
{
public:
    /// The exception that `co_await resultOf(future)` throws for a cancelled future.
    FutureCanceled()
        : std::runtime_error("QDispatch: the awaited QFuture was cancelled before it produced a "
                             "result")
    { }
};

namespace detail {
class ResumeOnAwaiter;
template<typename T> class ResultOfAwaiter;
} // namespace detail

///@{
/// X6: `co_await resumeOn(executor)` continues the coroutine on the executor's thread: at once
/// when it already runs there, else as an item queued like post() (X1). When the executor is
/// broken the coroutine moves down its chain (C11); with no live executor left it resumes with
/// ExecutorError{Broken} thrown at the co_await.
inline detail::ResumeOnAwaiter resumeOn(const CurrentThreadExecutor &executor);
inline detail::ResumeOnAwaiter resumeOn(const ExecutorHandle &handle);
///@}

/// X6: `co_await resultOf(future)` continues when `future` is finished and yields its result,
/// rethrows its exception, or throws FutureCanceled when it was cancelled without either. The
/// coroutine resumes on the awaiting thread when that thread has a current executor (X4),
/// queued there like post(); otherwise on the thread that finished the future. The awaiting
/// thread is never blocked. When the awaiting thread's executor chain is broken by then, the
/// coroutine resumes with ExecutorError{Broken} at the co_await.
///
/// The future's continuation slot: with a current executor and a QCoreApplication, resultOf()
/// leaves it alone, so the caller may chain then(), whenAll() or whenAny() on the same future
/// before or after the co_await. Without either, it attaches a then() continuation: then do not
/// await a future you have already chained with .then() (Qt keeps one continuation per future,
/// so that one would be replaced); await the future .then() returned instead. A then() attached
/// after the co_await is harmless in both cases.
template<typename T> detail::ResultOfAwaiter<T> resultOf(QFuture<T> future);

} // namespace qdispatch

// The awaiters behind resumeOn() and resultOf(): not API.
#include <qdispatch/coro_impl.h>

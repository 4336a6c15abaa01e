// Every public header of QDispatch, and every public template instantiated once, so that a
// warning in template code shows up too. Compiled by tests/headers/run.cmake with
// -Werror -Wall -Wextra -Wpedantic as C++17 and as C++20 (then with <qdispatch/coro.h>), with
// GCC and with Clang. Never run: compiling it warning-free is the test.
#include <qdispatch/currentthreadexecutor.h>
#if __cplusplus >= 202002L
#include <qdispatch/coro.h>

#include "../support/testcoro.h"
#endif

#include <QtCore/QFuture>
#include <QtCore/QString>

#include <memory>
#include <string>

namespace {

int useEveryTemplate(qdispatch::CurrentThreadExecutor &executor, const QFuture<int> &future)
{
    QFuture<int> value = executor.submit([](int a, int b) { return a + b; }, 1, 2);
    QFuture<void> nothing = executor.submit([] {});
    QFuture<std::unique_ptr<int>> moveOnly =
        executor.submit([](std::unique_ptr<int> p) { return p; }, std::make_unique<int>(1));
    executor.post([] {});
    static const int key = 0;
    executor.postLatest(&key, [] {});
    executor.runUntilFuture(future);
    executor.runUntilFuture(nothing, qdispatch::RunMode::ExecutorOnly);
    const bool inTime =
        executor.runUntilFuture(value, QDeadlineTimer(10), qdispatch::RunMode::ExcludeUserInput);
    const std::string text = executor.invoke([] { return std::string("x"); });
    qdispatch::ExecutorHandle handle = executor.handle();
    QFuture<QString> viaHandle = handle.submit([] { return QString(); });
    handle.post([] {});
    QFuture<int> onMain = qdispatch::runOnMainThread([] { return 1; });
    const int fromMain = qdispatch::invokeOnMainThread([] { return 2; });
    return inTime + int(text.size()) + fromMain + int(viaHandle.isFinished()) +
        int(moveOnly.isFinished()) + int(onMain.isFinished()) + int(handle.isBroken());
}

#if __cplusplus >= 202002L
using qdispatchtest::Detached;

Detached useEveryAwaitable(qdispatch::CurrentThreadExecutor &executor, QFuture<int> number,
                           QFuture<void> done, QFuture<std::unique_ptr<int>> moveOnly)
{
    co_await qdispatch::resumeOn(executor);
    co_await qdispatch::resumeOn(executor.handle());
    const int n = co_await qdispatch::resultOf(number);
    co_await qdispatch::resultOf(done);
    std::unique_ptr<int> p = co_await qdispatch::resultOf(moveOnly);
    static_cast<void>(n + *p);
}
#endif

} // namespace

// Referenced so that the compiler cannot drop the functions above unchecked.
int qdispatchHeaderCheck(qdispatch::CurrentThreadExecutor &executor, const QFuture<int> &future)
{
#if __cplusplus >= 202002L
    useEveryAwaitable(executor, future, QFuture<void>(), QFuture<std::unique_ptr<int>>());
#endif
    return useEveryTemplate(executor, future);
}

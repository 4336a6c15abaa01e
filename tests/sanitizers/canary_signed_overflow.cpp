// Canary for the UndefinedBehaviorSanitizer build: a planted signed integer overflow inside an
// item that a worker thread submits to the main thread's executor. The operands come from the
// command line so that the compiler cannot fold the overflow away. The CTest test passes only
// when UBSan reports it (tests/sanitizers/CMakeLists.txt).

#include <qdispatch/currentthreadexecutor.h>

#include <QtCore/QFuture>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <thread>

int main(int argc, char *argv[])
{
    const int step = argc > 1 ? std::atoi(argv[1]) : 1;
    qdispatch::CurrentThreadExecutor executor;
    QFuture<int> total;
    std::thread producer([&] {
        total = executor.submit([step] {
            int balance = INT_MAX - step + 1;
            balance += step; // the planted bug: INT_MAX + 1
            return balance;
        });
    });
    producer.join();
    executor.runUntilFuture(total, qdispatch::RunMode::ExecutorOnly);
    std::printf("canary: the item returned %d and nobody noticed\n", total.result());
    return 0;
}

// Canary for the AddressSanitizer build: a planted heap-use-after-free that goes through
// QDispatch. An item posted to the executor captures a raw pointer to an object; the object is
// deleted before the owner thread runs the item, so the item reads freed memory. The CTest test
// passes only when AddressSanitizer reports exactly that (tests/sanitizers/CMakeLists.txt).

#include <qdispatch/currentthreadexecutor.h>

#include "qtcompat.h"

#include <QtCore/QFuture>

#include <cstdio>

namespace {

struct Settings
{
    int retries = 3;
};

} // namespace

int main()
{
    qdispatch::CurrentThreadExecutor executor;
    auto *settings = new Settings;
    int seen = 0;
    executor.post(
        [settings, &seen] { seen = settings->retries; }); // the planted bug: a raw pointer
    delete settings; // ... to an object that is gone before the item runs
    executor.runUntilFuture(qdispatch_compat::readyFuture(), qdispatch::RunMode::ExecutorOnly);
    std::printf("canary: the item read %d from a deleted object and nobody noticed\n", seen);
    return 0;
}

// Long executor chains (C11: "an old executor destroyed before a newer one is simply
// skipped: the chain never dangles"; C10, C12, C13): a million replacements of a thread's
// executor (asgiref's pattern, `ex = new executor(current())`), and chains a million long built
// live and torn down newest first, oldest first and in random order, all on a thread with a
// small stack (256 KiB), with memory checked: a dead link must cost nothing, so the heap stays
// flat over the replacements and comes back to where it started after a teardown.
//
// Sizes: QDISPATCH_CHAIN_LENGTH (default 1,000,000). Under AddressSanitizer and ThreadSanitizer
// the memory checks are skipped (their allocators keep freed memory on purpose; see tst_load).

#include <qdispatch/currentthreadexecutor.h>

#include "testsupport.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QFile>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <algorithm>
#include <atomic>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

constexpr unsigned kSmallStack = 256 * 1024;
// A whole chain's life may take a while in the sanitizer builds.
constexpr int kChainMs = 240000;

int chainLength()
{
    bool ok = false;
    const int n = qEnvironmentVariableIntValue("QDISPATCH_CHAIN_LENGTH", &ok);
    return ok && n > 0 ? n : 1000000;
}

// Runs `body` on a QThread with a small stack, joined with a time limit. A recursion as deep as
// the chain overflows such a stack long before a million.
bool runOnSmallStack(std::function<void()> body)
{
    Semaphore returned;
    std::unique_ptr<QThread> thread(QThread::create([&] {
        body();
        returned.release();
    }));
    thread->setStackSize(kSmallStack);
    thread->start();
    const bool ok = returned.tryAcquire(1, kChainMs) && thread->wait(QDeadlineTimer(kJoinMs));
    if (!ok)
        qFatal("tst_chains: the chain thread did not finish within %d ms", kChainMs);
    return ok;
}

// Sends one item through `handle` from another thread and reports where it ran: the owner
// thread of the nearest live executor down the chain (C11), or Broken when there is none.
struct Sent
{
    QFuture<int> future;
    bool broken = false;
};

Sent sendFromAnotherThread(const ExecutorHandle &handle, std::atomic<QThread *> &ranOn)
{
    Sent sent;
    AnyThread producer(false, [&] {
        try {
            sent.future = handle.submit([&ranOn] {
                ranOn = QThread::currentThread();
                return 7;
            });
        } catch (const ExecutorError &error) {
            sent.broken = error.code() == ExecutorError::Code::Broken;
        }
    });
    (void)producer.join();
    return sent;
}

} // namespace

class TestChains : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void c11_millionReplacementsOnASmallStack();
    void c11_millionLongLiveChain_data();
    void c11_millionLongLiveChain();
};

// C11, C12, C13: a thread replaces its executor a million times,
// each new one chained to the one it replaces (which is then destroyed), above an anchor
// executor that lives throughout. Checked: no stack overflow when the last one goes; the heap
// stays flat (a dead link costs nothing); a handle kept to an executor that died long ago still
// routes to the anchor, and oldExecutor() says what it must.
void TestChains::c11_millionReplacementsOnASmallStack()
{
    const int n = chainLength();
    qint64 heapStart = -1, heapAtTenth = -1, heapAtEnd = -1, heapAfter = -1;
    bool oldExecutorOk = true;
    bool routedToAnchor = false;
    bool ranOnAnchorThread = false;
    QThread *chainThread = nullptr;
    runOnSmallStack([&] {
        chainThread = QThread::currentThread();
        heapStart = heapInUseKb();
        {
            CurrentThreadExecutor anchor;
            ExecutorHandle keptHandle;
            std::unique_ptr<CurrentThreadExecutor> ex;
            for (int i = 0; i < n; ++i) {
                CurrentThreadExecutor *previous = CurrentThreadExecutor::current();
                ex = std::make_unique<CurrentThreadExecutor>(previous);
                // The old one was alive at construction; it has just been destroyed.
                if (i > 0 && ex->oldExecutor() != nullptr)
                    oldExecutorOk = false;
                if (i == std::min(1000, n / 2))
                    keptHandle = ex->handle();
                if (i == n / 10)
                    heapAtTenth = heapInUseKb();
            }
            heapAtEnd = heapInUseKb();
            // The kept handle's executor died long ago: its work goes down to the anchor.
            ex.reset();
            std::atomic<QThread *> ranOn { nullptr };
            Sent sent = sendFromAnotherThread(keptHandle, ranOn);
            if (!sent.broken && sent.future.isValid()) {
                routedToAnchor = anchor.runUntilFuture(sent.future, QDeadlineTimer(kJoinMs),
                                                       RunMode::ExecutorOnly) &&
                    sent.future.result() == 7;
                ranOnAnchorThread = ranOn.load() == chainThread;
            }
        }
        heapAfter = heapInUseKb();
    });
    qInfo("tst_chains: %d replacements: heap in use %lld kB at start, %lld kB after a tenth, "
          "%lld kB at the end, %lld kB after the teardown",
          n, heapStart, heapAtTenth, heapAtEnd, heapAfter);
    QVERIFY2(oldExecutorOk, "C11: oldExecutor() must be nullptr once that executor is destroyed");
    QVERIFY2(routedToAnchor, "C11: work through a long-dead executor did not reach the anchor");
    QVERIFY(ranOnAnchorThread);
    if (kHeapCounted) {
        // Flat: 4 MB over 90 % of the replacements (each dead executor cost ~290 bytes before).
        QVERIFY2(heapAtEnd - heapAtTenth < 4096,
                 qPrintable(QStringLiteral("the heap grew by %1 kB over %2 replacements")
                                .arg(heapAtEnd - heapAtTenth)
                                .arg(n - n / 10)));
        QVERIFY2(heapAfter - heapStart < 1024,
                 qPrintable(QStringLiteral("%1 kB still in use after the teardown")
                                .arg(heapAfter - heapStart)));
    }
}

// C11, C13: a chain of live executors, each constructed with the previous one, all alive at
// once, then destroyed newest first, oldest first, or in random order, on a small stack.
// Checked: no crash; while half is destroyed, work sent through a dead executor's handle runs on
// the nearest live executor down its chain (or is Broken when there is none); in the oldest
// first teardown the memory of the dead half is given back while the newer half still lives;
// after the teardown the heap is back where it started.
void TestChains::c11_millionLongLiveChain_data()
{
    addRows<int>("order", { { "newestFirst", 0 }, { "oldestFirst", 1 }, { "random", 2 } });
}

void TestChains::c11_millionLongLiveChain()
{
    QFETCH(int, order);
    const int n = chainLength();
    qint64 heapStart = -1, heapBuilt = -1, heapHalf = -1, heapAfter = -1;
    bool routedOk = true;
    runOnSmallStack([&] {
        heapStart = heapInUseKb();
        {
            std::vector<std::unique_ptr<CurrentThreadExecutor>> chain;
            std::vector<ExecutorHandle> handles;
            chain.reserve(size_t(n));
            handles.reserve(size_t(n));
            for (int i = 0; i < n; ++i) {
                chain.push_back(
                    std::make_unique<CurrentThreadExecutor>(i == 0 ? nullptr : chain.back().get()));
                handles.push_back(chain.back()->handle());
            }
            heapBuilt = heapInUseKb();
            std::vector<int> victims(static_cast<size_t>(n));
            std::iota(victims.begin(), victims.end(), 0);
            if (order == 0)
                std::reverse(victims.begin(), victims.end());
            else if (order == 2)
                std::shuffle(victims.begin(), victims.end(), std::mt19937(20240611));
            for (int k = 0; k < n; ++k) {
                chain[size_t(victims[size_t(k)])].reset();
                if (k == n / 2 - 1) {
                    handles.clear(); // the handles would keep every state alive
                    heapHalf = heapInUseKb();
                    break;
                }
            }
            // Half is dead. Work sent through the newest executor's chain from another thread
            // lands on the nearest live one of it (C11) or is Broken when none is left.
            int nearest = -1;
            for (int i = n - 1; i >= 0; --i) {
                if (chain[size_t(i)]) {
                    nearest = i;
                    break;
                }
            }
            if (nearest >= 0) {
                std::atomic<QThread *> ranOn { nullptr };
                const ExecutorHandle h = chain[size_t(nearest)]->handle();
                Sent sent = sendFromAnotherThread(h, ranOn);
                routedOk = !sent.broken && sent.future.isValid() &&
                    chain[size_t(nearest)]->runUntilFuture(sent.future, QDeadlineTimer(kJoinMs),
                                                           RunMode::ExecutorOnly) &&
                    ranOn.load() == QThread::currentThread();
            }
            for (int k = n / 2; k < n; ++k)
                chain[size_t(victims[size_t(k)])].reset();
        }
        heapAfter = heapInUseKb();
    });
    qInfo("tst_chains: a chain of %d, order %d: heap in use %lld kB at start, %lld kB built, "
          "%lld kB with half destroyed, %lld kB after the teardown",
          n, order, heapStart, heapBuilt, heapHalf, heapAfter);
    QVERIFY(routedOk);
    if (kHeapCounted) {
        QVERIFY2(heapAfter - heapStart < 1024,
                 qPrintable(QStringLiteral("%1 kB still in use after the teardown")
                                .arg(heapAfter - heapStart)));
        if (order == 1) {
            // The oldest half is dead: what it used is given back although newer executors
            // still link to it. At least a third of the rise must be gone.
            const qint64 rise = heapBuilt - heapStart;
            QVERIFY2(heapBuilt - heapHalf > rise / 3,
                     qPrintable(QStringLiteral("the dead half still holds memory: %1 kB of a "
                                               "%2 kB rise given back")
                                    .arg(heapBuilt - heapHalf)
                                    .arg(rise)));
        }
    }
}

QTEST_GUILESS_MAIN(TestChains)

#include "tst_chains.moc"

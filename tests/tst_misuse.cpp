// Misuse, in one place: every ExecutorError path (WrongThread, OwnThread, Broken, NoApplication)
// and every programming error the contract names (C7, C8, C9, C11, C12, C13, X1, X5, X7). Each
// test shows the error's code(), that what() says what went wrong and what to do instead, and
// that nothing was lost: the items already queued still run (or fail with Broken), and no future
// is left unfinished. Other files test some of these paths in more depth (tst_submiterrors C7,
// tst_rununtil C8, tst_noapp C9, tst_lifecycle C11, tst_shutdown C12-C13, tst_post X1/X2,
// tst_mainthread X5, tst_handle X7); this file is the list docs/reliability.md points at.
//
// Two misuses are refused at compile time and so cannot be run here: a callable that returns a
// reference (static_assert in submitTo: "a QFuture cannot hold one") and post()/postLatest()
// with arguments (static_assert in makePostItem).
//
// This binary has its own main(): the NoApplication paths run before a QCoreApplication exists.

#include <qdispatch/currentthreadexecutor.h>

#include "lifecycle.h"
#include "testsupport.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QFuture>
#include <QtCore/QPromise>
#include <QtCore/QRegularExpression>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

using Code = ExecutorError::Code;

// Empty when `t` is ExecutorError{code} and its message contains every phrase, else why not.
QString check(const Thrown &t, Code code, const QStringList &phrases)
{
    if (!t.executorError)
        return t.other ? QStringLiteral("threw something other than ExecutorError")
                       : QStringLiteral("threw nothing");
    if (t.code != code)
        return QStringLiteral("code %1 instead of %2").arg(int(t.code)).arg(int(code));
    for (const QString &phrase : phrases)
        if (!t.message.contains(phrase, Qt::CaseInsensitive))
            return QStringLiteral("the message \"%1\" does not say \"%2\"").arg(t.message, phrase);
    return {};
}

// The phrases each code's message must carry: what went wrong, and what to do instead.
const QStringList kOwnThreadPhrases = { QStringLiteral("thread that would have to run"),
                                        QStringLiteral("deadlock"),
                                        QStringLiteral("Call the function directly"),
                                        QStringLiteral("nothing was queued") };
const QStringList kWrongThreadPhrases = { QStringLiteral("runUntilFuture()"),
                                          QStringLiteral("executor's own thread"),
                                          QStringLiteral("did nothing") };
const QStringList kBrokenPhrases = { QStringLiteral("broken"),
                                     QStringLiteral("no executor down its chain is alive"),
                                     QStringLiteral("nothing was queued") };
const QStringList kNoApplicationPhrases = { QStringLiteral("no QCoreApplication"),
                                            QStringLiteral("create one first"),
                                            QStringLiteral("RunMode::ExecutorOnly") };

// A callable that records whether it was called and where it was destroyed.
struct Tracked
{
    std::shared_ptr<std::atomic<int>> calls;
    std::shared_ptr<std::atomic<int>> alive;
    Tracked(std::shared_ptr<std::atomic<int>> c, std::shared_ptr<std::atomic<int>> a)
        : calls(std::move(c)), alive(std::move(a))
    {
        alive->fetch_add(1);
    }
    Tracked(Tracked &&o) noexcept : calls(std::move(o.calls)), alive(std::move(o.alive)) { }
    Tracked(const Tracked &) = delete;
    ~Tracked()
    {
        if (alive)
            alive->fetch_sub(1);
    }
    int operator()()
    {
        calls->fetch_add(1);
        return 7;
    }
};

struct CallableProbe
{
    std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
    std::shared_ptr<std::atomic<int>> alive = std::make_shared<std::atomic<int>>(0);
    Tracked make() const { return Tracked(calls, alive); }
};

// Three items queued on `ex` from another thread: they must survive the misuse under test.
std::vector<QFuture<int>> queueThree(CurrentThreadExecutor &ex)
{
    std::vector<QFuture<int>> futures;
    onWorker([&] {
        for (int i = 0; i < 3; ++i)
            futures.push_back(ex.submit([i] { return i; }));
    });
    return futures;
}

// Empty when the three queued items ran, in order, with their results.
QString ranInOrder(const std::vector<QFuture<int>> &futures)
{
    for (int i = 0; i < int(futures.size()); ++i) {
        QFuture<int> f = futures[size_t(i)];
        if (!f.isFinished())
            return QStringLiteral("queued item %1 was left unfinished").arg(i);
        try {
            if (f.result() != i)
                return QStringLiteral("queued item %1 has the wrong result").arg(i);
        } catch (...) {
            return QStringLiteral("queued item %1 failed").arg(i);
        }
    }
    return {};
}

// Empty when every future finished with ExecutorError{Broken} and its clear message (C12).
QString allBroken(const std::vector<QFuture<int>> &futures)
{
    for (const auto &f : futures) {
        if (!f.isFinished())
            return QStringLiteral("a queued item's future was left unfinished");
        const QString problem = check(thrownBy([&] { QFuture<int>(f).waitForFinished(); }),
                                      Code::Broken, { QStringLiteral("broken") });
        if (!problem.isEmpty())
            return problem;
    }
    return {};
}

} // namespace

// ----------------------------------------------------------------- without a QCoreApplication

class TestMisuseNoApp : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { QVERIFY(!QCoreApplication::instance()); }
    void c9_noApplication_eventLoopModes_data();
    void c9_noApplication_eventLoopModes();
    void x5_noApplication_mainThreadFunctions();
};

void TestMisuseNoApp::c9_noApplication_eventLoopModes_data()
{
    addEventLoopModeRows();
}

// C9: an event-loop wait mode without a QCoreApplication throws NoApplication, changes
// nothing, and ExecutorOnly then runs what was queued.
void TestMisuseNoApp::c9_noApplication_eventLoopModes()
{
    QFETCH(RunMode, mode);
    CurrentThreadExecutor ex;
    const auto queued = queueThree(ex);
    StartedPromise<void> never;
    VERIFY_NO_PROBLEM(check(thrownBy([&] { ex.runUntilFuture(never.future(), mode); }),
                            Code::NoApplication, kNoApplicationPhrases));
    const auto withDeadline = [&] { ex.runUntilFuture(never.future(), QDeadlineTimer(0), mode); };
    VERIFY_NO_PROBLEM(check(thrownBy(withDeadline), Code::NoApplication, kNoApplicationPhrases));
    QVERIFY(!queued.back().isFinished()); // nothing ran
    QVERIFY(ex.runUntilFuture(queued.back(), QDeadlineTimer(kJoinMs), RunMode::ExecutorOnly));
    VERIFY_NO_PROBLEM(ranInOrder(queued));
}

// X5: the main-thread functions without an application throw NoApplication; the callable is
// never called and is destroyed.
void TestMisuseNoApp::x5_noApplication_mainThreadFunctions()
{
    QVERIFY(qdispatch::mainThreadExecutor() == nullptr);
    CallableProbe probe;
    VERIFY_NO_PROBLEM(
        check(thrownBy([&] { qdispatch::runOnMainThread(probe.make()); }), Code::NoApplication,
              { QStringLiteral("no QCoreApplication"), QStringLiteral("create one first") }));
    VERIFY_NO_PROBLEM(check(thrownBy([&] { qdispatch::invokeOnMainThread(probe.make()); }),
                            Code::NoApplication, { QStringLiteral("no QCoreApplication") }));
    QCOMPARE(probe.calls->load(), 0);
    QCOMPARE(probe.alive->load(), 0);
}

// --------------------------------------------------------------------- with a QCoreApplication

class TestMisuse : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void c7_ownThread_submitFromOwner();
    void c7_ownThread_submitFromInsideItem();
    void c7_c11_ownThread_chainLeadsBackToCaller();
    void x7_ownThread_handleFromOwner();
    void x5_ownThread_runOnMainThreadFromMain();
    void c8_wrongThread_runUntilFutureFromAnotherThread();
    void c11_broken_everyEntryPoint();
    void c12_broken_queuedItemsFail();
    void x1_x2_broken_queuedPostsAreReported();
    void c13_destroyedFromAnotherThreadWhileOwnerRuns_data();
    void c13_destroyedFromAnotherThreadWhileOwnerRuns();
    void x1_postThatThrowsIsReported();
};

// C7: submit() on the owner thread throws OwnThread, queues nothing, and never calls or keeps
// the callable; the items already queued still run, in order.
void TestMisuse::c7_ownThread_submitFromOwner()
{
    CurrentThreadExecutor ex;
    const auto queued = queueThree(ex);
    CallableProbe probe;
    VERIFY_NO_PROBLEM(
        check(thrownBy([&] { ex.submit(probe.make()); }), Code::OwnThread, kOwnThreadPhrases));
    QCOMPARE(probe.alive->load(), 0);
    drain(ex);
    VERIFY_NO_PROBLEM(ranInOrder(queued));
    QCOMPARE(probe.calls->load(), 0);
}

// C7: the same from inside a running item; the item itself still completes normally.
void TestMisuse::c7_ownThread_submitFromInsideItem()
{
    CurrentThreadExecutor ex;
    CallableProbe probe;
    QString inner = QStringLiteral("the item did not run");
    QFuture<int> outer;
    onWorker([&] {
        outer = ex.submit([&] {
            inner = check(thrownBy([&] { ex.submit(probe.make()); }), Code::OwnThread,
                          kOwnThreadPhrases);
            return 1;
        });
    });
    const auto queued = queueThree(ex);
    drain(ex);
    QVERIFY2(inner.isEmpty(), qPrintable(inner));
    QCOMPARE(outer.result(), 1);
    VERIFY_NO_PROBLEM(ranInOrder(queued));
    QCOMPARE(probe.calls->load(), 0);
    QCOMPARE(probe.alive->load(), 0);
}

// C7 + C11: the target is broken and its chain leads to an executor of the calling thread: the
// item would have to run here, so OwnThread, and nothing is queued there either.
void TestMisuse::c7_c11_ownThread_chainLeadsBackToCaller()
{
    CurrentThreadExecutor here;
    BlockedOwner owner(true, &here);
    QVERIFY(owner.waitReady());
    CurrentThreadExecutor *const there = owner.executor();
    there->shutdown();
    CallableProbe probe;
    VERIFY_NO_PROBLEM(
        check(thrownBy([&] { there->submit(probe.make()); }), Code::OwnThread, kOwnThreadPhrases));
    QCOMPARE(probe.alive->load(), 0);
    QVERIFY(owner.finish());
    owner.takeExecutor().reset(); // its thread has finished: allowed (C13)
    drain(here);
    QCOMPARE(probe.calls->load(), 0);
}

// X7: a handle behaves exactly as its executor: OwnThread from the owner thread.
void TestMisuse::x7_ownThread_handleFromOwner()
{
    CurrentThreadExecutor ex;
    const ExecutorHandle handle = ex.handle();
    CallableProbe probe;
    VERIFY_NO_PROBLEM(
        check(thrownBy([&] { handle.submit(probe.make()); }), Code::OwnThread, kOwnThreadPhrases));
    QCOMPARE(probe.alive->load(), 0);
}

// X5: runOnMainThread() on the main thread is the main-thread executor's submit(): OwnThread.
void TestMisuse::x5_ownThread_runOnMainThreadFromMain()
{
    CallableProbe probe;
    VERIFY_NO_PROBLEM(check(thrownBy([&] { qdispatch::runOnMainThread(probe.make()); }),
                            Code::OwnThread, kOwnThreadPhrases));
    QCOMPARE(probe.alive->load(), 0);
    QCOMPARE(probe.calls->load(), 0);
}

// C8: runUntilFuture() off the owner thread throws WrongThread (both overloads, every mode)
// and does nothing: the queued items are neither run nor dropped there; the owner runs them.
void TestMisuse::c8_wrongThread_runUntilFutureFromAnotherThread()
{
    CurrentThreadExecutor ex;
    const auto queued = queueThree(ex);
    QStringList problems;
    std::atomic<QThread *> ranOn { nullptr };
    QFuture<void> marker;
    onWorker([&] {
        marker = ex.submit([&] { ranOn = QThread::currentThread(); });
        for (RunMode mode :
             { RunMode::AllEvents, RunMode::ExcludeUserInput, RunMode::ExecutorOnly }) {
            problems << check(thrownBy([&] { ex.runUntilFuture(marker, mode); }), Code::WrongThread,
                              kWrongThreadPhrases);
            problems << check(thrownBy([&] { ex.runUntilFuture(marker, QDeadlineTimer(0), mode); }),
                              Code::WrongThread, kWrongThreadPhrases);
        }
    });
    problems.removeAll(QString());
    QVERIFY2(problems.isEmpty(), qPrintable(problems.join(QStringLiteral("; "))));
    QVERIFY(!marker.isFinished()); // it did nothing
    QVERIFY(ex.runUntilFuture(marker, QDeadlineTimer(kJoinMs)));
    QCOMPARE(ranOn.load(), QThread::currentThread());
    VERIFY_NO_PROBLEM(ranInOrder(queued));
}

// C11, X1, X2, X3, X7: every way to send work to a chain with no live executor throws Broken,
// queues nothing, and destroys the callable without calling it.
void TestMisuse::c11_broken_everyEntryPoint()
{
    auto old = std::make_unique<CurrentThreadExecutor>();
    CurrentThreadExecutor ex(old.get());
    const ExecutorHandle handle = ex.handle();
    old.reset(); // destroyed first: skipped (C11)
    ex.shutdown();
    CallableProbe probe;
    QStringList problems;
    onWorker([&] {
        problems << check(thrownBy([&] { ex.submit(probe.make()); }), Code::Broken, kBrokenPhrases);
        problems << check(thrownBy([&] { handle.submit(probe.make()); }), Code::Broken,
                          kBrokenPhrases);
        problems << check(thrownBy([&] { ex.invoke(probe.make()); }), Code::Broken, kBrokenPhrases);
    });
    problems << check(thrownBy([&] { ex.post(probe.make()); }), Code::Broken, kBrokenPhrases);
    problems << check(thrownBy([&] { handle.post(probe.make()); }), Code::Broken, kBrokenPhrases);
    static const char key = 0;
    problems << check(thrownBy([&] { ex.postLatest(&key, probe.make()); }), Code::Broken,
                      kBrokenPhrases);
    problems << check(thrownBy([&] { ExecutorHandle().submit(probe.make()); }), Code::Broken,
                      kBrokenPhrases);
    problems << check(thrownBy([&] { ExecutorHandle().post(probe.make()); }), Code::Broken,
                      kBrokenPhrases);
    problems.removeAll(QString());
    QVERIFY2(problems.isEmpty(), qPrintable(problems.join(QStringLiteral("; "))));
    QCOMPARE(probe.calls->load(), 0);
    QCOMPARE(probe.alive->load(), 0);
}

// C12: items still queued when the executor breaks with no live chain fail with Broken (the
// same clear message), on the thread that broke it; none is left unfinished.
void TestMisuse::c12_broken_queuedItemsFail()
{
    CurrentThreadExecutor ex;
    const auto queued = queueThree(ex);
    ex.shutdown();
    VERIFY_NO_PROBLEM(allBroken(queued));
}

// X1, X2: a posted item that can never run has no future to carry the error: it is reported
// with qWarning, never dropped silently.
void TestMisuse::x1_x2_broken_queuedPostsAreReported()
{
    CurrentThreadExecutor ex;
    CallableProbe probe;
    static const char key = 0;
    ex.post(probe.make());
    ex.postLatest(&key, probe.make());
    QTest::ignoreMessage(QtWarningMsg,
                         QRegularExpression(QStringLiteral("will never run.*broken")));
    QTest::ignoreMessage(QtWarningMsg,
                         QRegularExpression(QStringLiteral("will never run.*broken")));
    ex.shutdown();
    QCOMPARE(probe.calls->load(), 0);
    QCOMPARE(probe.alive->load(), 0);
}

void TestMisuse::c13_destroyedFromAnotherThreadWhileOwnerRuns_data()
{
    addRows<bool>("withOld",
                  { { "no old executor: queued items fail Broken", false },
                    { "old executor here: queued items move to it", true } });
}

// C13: destroying an executor on another thread while its owner still runs is a programming
// error: reported once with qCritical saying what to do, then handled as shutdown(): the queued
// items move down the chain or fail with Broken; nothing crashes, nothing is lost.
void TestMisuse::c13_destroyedFromAnotherThreadWhileOwnerRuns()
{
    QFETCH(bool, withOld);
    CurrentThreadExecutor old;
    BlockedOwner owner(true, withOld ? &old : nullptr); // alive, running no events
    QVERIFY(owner.waitReady());
    std::vector<QFuture<int>> queued;
    for (int i = 0; i < 3; ++i)
        queued.push_back(owner.executor()->submit([i] { return i; }));
    QTest::ignoreMessage(
        QtCriticalMsg,
        QRegularExpression(QStringLiteral("destroyed on another thread while its owner "
                                          "thread still runs.*Destroy it on its own thread.*"
                                          "shut down instead")));
    owner.takeExecutor().reset();
    if (withOld) {
        QVERIFY(old.runUntilFuture(queued.back(), QDeadlineTimer(kJoinMs)));
        VERIFY_NO_PROBLEM(ranInOrder(queued));
    } else {
        VERIFY_NO_PROBLEM(allBroken(queued));
    }
    QVERIFY(owner.finish()); // the owner goes on and ends normally
}

// X1: an exception escaping a posted item is reported with qCritical naming its what(), and the
// executor goes on with the next item.
void TestMisuse::x1_postThatThrowsIsReported()
{
    CurrentThreadExecutor ex;
    ex.post([] { throw std::runtime_error("misuse-x1-what"); });
    const auto queued = queueThree(ex);
    QTest::ignoreMessage(QtCriticalMsg, QRegularExpression(QStringLiteral("misuse-x1-what")));
    drain(ex);
    VERIFY_NO_PROBLEM(ranInOrder(queued));
}

int main(int argc, char **argv)
{
    TestMisuseNoApp noApp;
    TestMisuse withApp;
    return execAroundApplication(argc, argv, noApp, withApp);
}

#include "tst_misuse.moc"

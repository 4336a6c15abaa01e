// Tests for X10's hang reports ("qdispatch.hang"): a runUntilFuture() or invoke() that has
// waited longer than qdispatch::setHangThreshold() or QDISPATCH_HANG_MS reports once, naming the
// thread, the wait and what it waits on. The wait chain that follows the first line of a report
// is X11's (tst_waitchains.cpp). Every test names X10. Threads are ordered with Semaphore
// hand-offs; the only waits that take time are the hang threshold itself, which a wait must
// outlast before anything lets it end.

#include <qdispatch/currentthreadexecutor.h>

#include "messages.h"
#include "testsupport.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QFuture>
#include <QtCore/QProcess>
#include <QtCore/QProcessEnvironment>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <chrono>
#include <memory>
#include <thread>

using namespace qdispatch;
using namespace qdispatchtest;
using namespace std::chrono_literals;

namespace {

// x10_hangThresholdFromEnvironment runs this program again with one test function and an
// environment; that function does its checks only there (QDISPATCH_TEST_CHILD=1).
bool isChild()
{
    return qEnvironmentVariableIntValue("QDISPATCH_TEST_CHILD") == 1;
}

} // namespace

class TestHangReports : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void x10_hangReportedForLongWait_data();
    void x10_hangReportedForLongWait();
    void x10_noHangReportUnderThreshold();
    void x10_hangReportedForBlockedInvoke();
    void x10_hangReportedForInvokeFromThreadWithExecutor();
    void x10_invokeWatchedWhileItsExecutorIsDestroyed();
    void x10_hangThresholdFromEnvironment_data();
    void x10_hangThresholdFromEnvironment();
    void x10_child_hangEnvironment(); // runs only as a child of the test above

private:
    // The reports of `category` ("qdispatch.hang") logged in this test so far.
    QStringList reportsIn(const char *category) const { return m_reports->texts(category); }
    // Released for every hang report from now on.
    void releaseOnHangReport(Semaphore *semaphore)
    {
        m_reports->releaseOn(MessageLog::category("qdispatch.hang"), semaphore);
    }

    std::unique_ptr<MessageLog> m_reports;
};

void TestHangReports::init()
{
    m_reports = std::make_unique<MessageLog>(MessageLog::categoryPrefix("qdispatch."));
    if (!isChild()) // a child checks what the environment set
        qdispatch::setHangThreshold(0ms);
}

void TestHangReports::cleanup()
{
    if (!isChild())
        qdispatch::setHangThreshold(0ms);
    m_reports.reset();
}

void TestHangReports::x10_hangReportedForLongWait_data()
{
    addModeRows();
}

// X10: a wait that outlasts the hang threshold reports once, naming the waiting thread, the
// wait, the time and the pending items. The future is finished only after the report.
void TestHangReports::x10_hangReportedForLongWait()
{
    QFETCH(RunMode, mode);
    CurrentThreadExecutor ex;
    Semaphore hangSeen;
    releaseOnHangReport(&hangSeen);
    qdispatch::setHangThreshold(30ms);
    QThread::currentThread()->setObjectName(QStringLiteral("x10 waiter"));
    StartedPromise<void> promise;
    Worker worker([&] {
        // Let it hang until the report is out, then end the wait.
        QVERIFY(hangSeen.tryAcquire(1, kHandshakeMs));
        promise.finish();
    });
    QVERIFY(ex.runUntilFuture(promise.future(), QDeadlineTimer(kJoinMs), mode));
    QVERIFY(worker.join());
    QThread::currentThread()->setObjectName(QString());

    const QStringList reports = reportsIn("qdispatch.hang");
    QCOMPARE(reports.size(), 1);
    const QString &text = reports.first();
    const QString expected = QStringLiteral("thread \"x10 waiter\" (main) has waited ");
    QVERIFY2(text.startsWith(QStringLiteral("QDispatch: ") + expected), qPrintable(text));
    const QString wait = QStringLiteral(" in runUntilFuture() in %1 mode on the executor of "
                                        "thread \"x10 waiter\" (main), which has 0 items pending "
                                        "(hang threshold 30 ms).")
                             .arg(QLatin1String(QTest::currentDataTag()));
    // The first line is X10's; the wait chain (X11) follows it.
    QVERIFY2(text.section(QLatin1Char('\n'), 0, 0).endsWith(wait), qPrintable(text));
}

// X10: a wait shorter than the threshold reports nothing.
void TestHangReports::x10_noHangReportUnderThreshold()
{
    CurrentThreadExecutor ex;
    qdispatch::setHangThreshold(10s);
    QCOMPARE(qdispatch::hangThreshold(), 10s);
    StartedPromise<void> promise;
    Worker worker([&] { promise.finish(); });
    ex.runUntilFuture(promise.future());
    ex.runUntilFuture(worker.finished(), RunMode::ExecutorOnly);
    QVERIFY(worker.join());
    QVERIFY(reportsIn("qdispatch.hang").isEmpty());
}

// X10 with X3: invoke() from a thread with no executor blocks on a condition variable; with a
// threshold set, that wait is timed and reports, with the pending items of the target.
void TestHangReports::x10_hangReportedForBlockedInvoke()
{
    CurrentThreadExecutor ex;
    QThread::currentThread()->setObjectName(QStringLiteral("x10 owner"));
    Semaphore hangSeen;
    releaseOnHangReport(&hangSeen);
    qdispatch::setHangThreshold(30ms);
    int result = 0;
    AnyThread caller(false, [&] {
        QThread::currentThread()->setObjectName(QStringLiteral("x10 invoker"));
        result = ex.invoke([] { return 42; });
    });
    // The owner serves the item only once the report is out.
    QVERIFY(hangSeen.tryAcquire(1, kHandshakeMs));
    ex.runPending();
    QVERIFY(caller.join());
    QThread::currentThread()->setObjectName(QString());
    QCOMPARE(result, 42);

    const QStringList reports = reportsIn("qdispatch.hang");
    QCOMPARE(reports.size(), 1);
    const QString &text = reports.first();
    QVERIFY2(text.contains(QLatin1String("thread \"x10 invoker\" has waited ")), qPrintable(text));
    QVERIFY2(
        text.contains(QLatin1String(" in invoke() (this thread has no executor: it blocks) "
                                    "on the executor of thread \"x10 owner\" (main), which has 1 "
                                    "item pending")),
        qPrintable(text));
}

// X10 with X3: invoke() from a thread with an executor of its own waits like an ExecutorOnly
// runUntilFuture(), and its report says invoke() and counts the target's pending items.
void TestHangReports::x10_hangReportedForInvokeFromThreadWithExecutor()
{
    CurrentThreadExecutor ex;
    Semaphore hangSeen;
    releaseOnHangReport(&hangSeen);
    qdispatch::setHangThreshold(30ms);
    int result = 0;
    Worker worker([&] {
        QThread::currentThread()->setObjectName(QStringLiteral("x10 invoker"));
        CurrentThreadExecutor own;
        result = ex.invoke([] { return 7; });
    });
    QVERIFY(hangSeen.tryAcquire(1, kHandshakeMs));
    qdispatch::setHangThreshold(0ms); // this wait is not the one under test
    ex.runUntilFuture(worker.finished());
    QVERIFY(worker.join());
    QCOMPARE(result, 7);
    const QStringList reports = reportsIn("qdispatch.hang");
    QCOMPARE(reports.size(), 1);
    const QString &text = reports.first();
    QVERIFY2(text.contains(QLatin1String("thread \"x10 invoker\" has waited ")), qPrintable(text));
    QVERIFY2(text.contains(QLatin1String(" in invoke() (running its own executor's items "
                                         "meanwhile) on the executor of thread ")),
             qPrintable(text));
    QVERIFY2(text.contains(QLatin1String("which has 1 item pending")), qPrintable(text));
}

// X10 with C12: with a hang threshold set, invoke() keeps the target's state for its report; the
// executor may still be destroyed meanwhile, and invoke() then throws Broken (no report, no leak).
void TestHangReports::x10_invokeWatchedWhileItsExecutorIsDestroyed()
{
    auto ex = std::make_unique<CurrentThreadExecutor>();
    qdispatch::setHangThreshold(60s);
    int code = kNothingThrown;
    AnyThread caller(false, [&] { code = errorCodeOf([&] { ex->invoke([] {}); }); });
    // Queued, and not run: this thread processes no events until the executor is gone.
    QDeadlineTimer limit(kHandshakeMs);
    while (ex->pendingCount() == 0 && !limit.hasExpired())
        std::this_thread::yield();
    QCOMPARE(ex->pendingCount(), quint64(1));
    ex.reset();
    QVERIFY(caller.join());
    QCOMPARE(code, kBroken);
    QVERIFY(reportsIn("qdispatch.hang").isEmpty());
}

void TestHangReports::x10_hangThresholdFromEnvironment_data()
{
    addColumns<QByteArray, int, int>({ "value", "expectedMs", "warnings" });
    QTest::newRow("1234") << QByteArray("1234") << 1234 << 0;
    QTest::newRow("spaces around") << QByteArray(" 25\t") << 25 << 0;
    QTest::newRow("0") << QByteArray("0") << 0 << 0;
    QTest::newRow("letters") << QByteArray("abc") << 0 << 1;
    QTest::newRow("negative") << QByteArray("-100") << 0 << 1;
    QTest::newRow("huge") << QByteArray("123456789012") << 0 << 1;
    QTest::newRow("two values") << QByteArray("5,6") << 0 << 1;
    QTest::newRow("empty") << QByteArray("") << 0 << 1;
}

// X10: QDISPATCH_HANG_MS is read once per process, so each value is tried in a child process
// (this program, running x10_child_hangEnvironment only).
void TestHangReports::x10_hangThresholdFromEnvironment()
{
    QFETCH(QByteArray, value);
    QFETCH(int, expectedMs);
    QFETCH(int, warnings);
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("QDISPATCH_TEST_CHILD"), QStringLiteral("1"));
    env.insert(QStringLiteral("QDISPATCH_HANG_MS"), QString::fromLatin1(value));
    env.insert(QStringLiteral("X10_EXPECTED_MS"), QString::number(expectedMs));
    env.insert(QStringLiteral("X10_EXPECTED_WARNINGS"), QString::number(warnings));
    QProcess child;
    child.setProcessEnvironment(env);
    child.setProcessChannelMode(QProcess::MergedChannels);
    child.start(QCoreApplication::applicationFilePath(),
                { QStringLiteral("x10_child_hangEnvironment") });
    QVERIFY(child.waitForFinished(kJoinMs));
    const QString output = QString::fromLocal8Bit(child.readAll());
    QVERIFY2(child.exitStatus() == QProcess::NormalExit && child.exitCode() == 0,
             qPrintable(output));
    QVERIFY2(output.contains(QLatin1String("PASS   : TestHangReports::x10_child_hangEnvironment")),
             qPrintable(output));
}

void TestHangReports::x10_child_hangEnvironment()
{
    if (!isChild())
        QSKIP("runs as a child process of x10_hangThresholdFromEnvironment");
    const int expectedMs = qEnvironmentVariableIntValue("X10_EXPECTED_MS");
    const int warnings = qEnvironmentVariableIntValue("X10_EXPECTED_WARNINGS");
    QCOMPARE(qdispatch::hangThreshold(), std::chrono::milliseconds(expectedMs));
    QCOMPARE(qdispatch::hangThreshold(), std::chrono::milliseconds(expectedMs)); // read once
    const QStringList reports = reportsIn("qdispatch.hang");
    QCOMPARE(reports.size(), warnings);
    if (warnings) {
        QVERIFY2(
            reports.first().startsWith(QLatin1String("QDispatch: ignoring QDISPATCH_HANG_MS=")),
            qPrintable(reports.first()));
        QVERIFY(reports.first().endsWith(QLatin1String("hang reports stay off.")));
    }
    // setHangThreshold() overrides the environment.
    qdispatch::setHangThreshold(5ms);
    QCOMPARE(qdispatch::hangThreshold(), 5ms);
}

QTEST_GUILESS_MAIN(TestHangReports)
#include "tst_hangreports.moc"

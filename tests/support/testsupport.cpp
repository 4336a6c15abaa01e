#include "testsupport.h"

#include <QtCore/QObject>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace qdispatchtest {

qint64 heapInUseKb()
{
#if defined(__GLIBC__)
    malloc_trim(0);
    const struct mallinfo2 info = mallinfo2();
    return qint64((info.uordblks + info.hblkhd) / 1024);
#else
    return -1;
#endif
}

const char *modeName(qdispatch::RunMode mode)
{
    switch (mode) {
    case qdispatch::RunMode::AllEvents:
        return "AllEvents";
    case qdispatch::RunMode::ExcludeUserInput:
        return "ExcludeUserInput";
    case qdispatch::RunMode::ExecutorOnly:
        return "ExecutorOnly";
    }
    return "?";
}

void addModeRows()
{
    QTest::addColumn<qdispatch::RunMode>("mode");
    for (qdispatch::RunMode mode : kModes)
        QTest::newRow(modeName(mode)) << mode;
}

void addEventLoopModeRows()
{
    QTest::addColumn<qdispatch::RunMode>("mode");
    using qdispatch::RunMode;
    for (RunMode mode : { RunMode::AllEvents, RunMode::ExcludeUserInput })
        QTest::newRow(modeName(mode)) << mode;
}

void addModeFlagRows(const char *flag, const char *falseName, const char *trueName)
{
    addColumns<qdispatch::RunMode, bool>({ "mode", flag });
    for (qdispatch::RunMode mode : kModes) {
        QTest::addRow("%s-%s", modeName(mode), falseName) << mode << false;
        QTest::addRow("%s-%s", modeName(mode), trueName) << mode << true;
    }
}

QString sequenceProblem(const std::vector<int> &ran, int n)
{
    if (int(ran.size()) != n)
        return QStringLiteral("%1 items ran, not %2").arg(ran.size()).arg(n);
    for (int i = 0; i < n; ++i) {
        if (ran[size_t(i)] != i)
            return QStringLiteral("position %1 holds item %2").arg(i).arg(ran[size_t(i)]);
    }
    return {};
}

void addThreadKindRows()
{
    addRows<bool>("useQThread", { { "std::thread", false }, { "QThread", true } });
}

void Semaphore::release(int n)
{
    // Notified under the lock: a waiter that takes the last token may destroy the semaphore at
    // once, and must not do so while this thread is still inside notify_all().
    std::lock_guard<std::mutex> lock(m_mutex);
    m_available += n;
    m_changed.notify_all();
}

void Semaphore::acquire(int n)
{
    std::unique_lock<std::mutex> lock(m_mutex);
    m_changed.wait(lock, [&] { return m_available >= n; });
    m_available -= n;
}

bool Semaphore::tryAcquire(int n, int timeoutMs)
{
    std::unique_lock<std::mutex> lock(m_mutex);
    if (!m_changed.wait_for(lock, std::chrono::milliseconds(timeoutMs),
                            [&] { return m_available >= n; }))
        return false;
    m_available -= n;
    return true;
}

int Semaphore::available() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_available;
}

void threadHung(const char *what)
{
    qFatal("%s: %s did not finish within %d ms", qPrintable(QCoreApplication::applicationName()),
           what, kJoinMs);
}

Worker::~Worker()
{
    // At once if a join() already timed out.
    if (m_timedOut || !join())
        threadHung("a worker thread");
}

bool Worker::join()
{
    if (!m_returned.tryAcquire(1, kJoinMs)) {
        m_timedOut = true;
        return false;
    }
    m_returned.release(); // leave the token: join() may be called again
    m_timedOut = !m_thread->wait(QDeadlineTimer(kJoinMs));
    return !m_timedOut;
}

AnyThread::AnyThread(bool useQThread, std::function<void()> body)
{
    auto run = [this, body = std::move(body)] {
        body();
        m_ended.release();
    };
    if (useQThread) {
        m_qthread.reset(QThread::create(std::move(run)));
        m_qthread->start();
    } else {
        m_std = std::thread(std::move(run));
    }
}

AnyThread::~AnyThread()
{
    if (!join())
        threadHung("a thread");
}

bool AnyThread::join()
{
    if (m_joined)
        return true;
    if (!m_ended.tryAcquire(1, kJoinMs))
        return false;
    if (m_watchingFinished && !m_finished.tryAcquire(1, kJoinMs))
        return false;
    if (m_qthread && !m_qthread->wait(QDeadlineTimer(kJoinMs)))
        return false;
    if (m_std.joinable())
        m_std.join();
    m_joined = true;
    return true;
}

void AnyThread::watchFinished()
{
    if (!m_qthread)
        return;
    m_watchingFinished = true;
    QObject::connect(
        m_qthread.get(), &QThread::finished, m_qthread.get(), [this] { m_finished.release(); },
        Qt::DirectConnection);
}

void AnyThread::deleteQThread()
{
    m_qthread.reset();
}

LoopThread::~LoopThread()
{
    if (!stop()) // a failed test: a running QThread cannot be destroyed
        threadHung("a LoopThread");
}

bool LoopThread::stop()
{
    if (!isRunning() && m_joinedRuns == m_runs.load())
        return true; // never started, or joined already
    // Released before quit(): what this thread did before stop() happens, for ThreadSanitizer
    // too, before run() destroys the executor (quit() is not seen).
    if (m_withExecutor)
        m_stopping.release();
    quit();
    if (!m_ended.tryAcquire(1, kJoinMs) || !wait(QDeadlineTimer(kJoinMs)))
        return false;
    m_joinedRuns = m_runs.load();
    return true;
}

void LoopThread::run()
{
    m_runs.fetch_add(1);
    if (m_withExecutor)
        m_executor.store(new qdispatch::CurrentThreadExecutor(m_old));
    m_ready.release();
    exec();
    if (m_withExecutor) {
        (void)m_stopping.tryAcquire(1, kHandshakeMs);
        delete m_executor.exchange(nullptr);
    }
    m_ended.release(); // the end of run() as ThreadSanitizer sees it
}

ExecThread::~ExecThread()
{
    if ((isRunning() || isFinished()) && !joined())
        threadHung("a thread's exec()");
}

bool ExecThread::joined()
{
    if (m_joined)
        return true;
    if (!m_returned.tryAcquire(1, kJoinMs) || !wait(QDeadlineTimer(kJoinMs)))
        return false;
    m_joined = true;
    return true;
}

void ExecThread::run()
{
    {
        QObject context;
        QTimer::singleShot(0, &context, m_slot);
        m_result = exec();
    }
    m_returned.release();
}

SafeEventLoop::SafeEventLoop()
{
    m_safety.setSingleShot(true);
    QObject::connect(&m_safety, &QTimer::timeout, this, [this] {
        m_timedOut = true;
        quit();
    });
    m_safety.start(kJoinMs);
}

int execAroundApplication(int argc, char **argv, QObject &before, QObject &during, QObject *after)
{
    std::setvbuf(stdout, nullptr, _IOLBF, BUFSIZ);
    std::vector<char *> args(argv, argv + argc);
    char noCrashHandler[] = "-nocrashhandler";
    args.push_back(noCrashHandler);
    const int testArgc = int(args.size());
    args.push_back(nullptr);
    int status = QTest::qExec(&before, testArgc, args.data());
    {
        QCoreApplication app(argc, argv);
        status |= QTest::qExec(&during, testArgc, args.data());
    }
    if (after)
        status |= QTest::qExec(after, testArgc, args.data());
    return status;
}

std::optional<bool> waitFor(qdispatch::CurrentThreadExecutor &ex, const QFuture<void> &future,
                            const std::optional<QDeadlineTimer> &deadline, qdispatch::RunMode mode)
{
    try {
        if (deadline)
            return ex.runUntilFuture(future, *deadline, mode);
        ex.runUntilFuture(future, mode);
        return true;
    } catch (...) {
        return std::nullopt;
    }
}

void drain(qdispatch::CurrentThreadExecutor &ex, qdispatch::RunMode mode)
{
    ex.runUntilFuture(qdispatch_compat::readyFuture(), mode);
}

} // namespace qdispatchtest

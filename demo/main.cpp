// QDispatch demo: worker threads count primes and hand each partial count to the main thread,
// which waits for the whole job with runUntilFuture().
//
// Every worker waits for the main thread's reply (future.result()) before it moves on. If the
// main thread simply blocked on the job (waitForFinished()), nobody would run those replies and
// the program would hang, which is exactly what happens with Qt::BlockingQueuedConnection when
// the thread it targets is the one waiting. runUntilFuture() waits *and* runs the replies.

#include <qdispatch/currentthreadexecutor.h>

#include <QtConcurrent/QtConcurrentMap>
#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QHash>
#include <QtCore/QThread>
#include <QtCore/QThreadPool>
#include <QtCore/QTimer>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace {

struct Job {
    qint64 limit; // count the primes below this
    int ranges; // split into this many pieces of work
    qint64 expectedPrimes; // pi(limit), the known answer the demo checks itself against
    const char *limitText;
};

constexpr Job kFullJob { 100'000'000, 20, 5'761'455, "10^8" };
constexpr Job kQuickJob { 1'000'000, 8, 78'498, "10^6" };
// More ranges than threads, so that replies arrive while other workers are still counting.
constexpr int kWorkerThreads = 4;
// Generous: the job takes well under a second; the deadline only turns a bug into a failure.
constexpr auto kDeadline = std::chrono::seconds(30);

struct Range {
    int index;
    qint64 begin;
    qint64 end;
};

// What a worker reports back through the job's own future.
struct Report {
    qint64 primes = 0;
    qint64 replyTotal = -1; // the running total the main thread answered with
    std::string error;
};

// State that only the main thread touches. It needs no lock because every write happens in
// an item that QDispatch runs on the main thread; that is the point of the demo.
struct Tally {
    QThread *mainThread = nullptr;
    qint64 total = 0;
    int itemsRun = 0;
    int itemsOnMainThread = 0;
    int workersOnMainThread = 0;
    QHash<QThread *, int> workerNumbers; // numbered in order of first reply, for the log

    int workerNumber(QThread *worker)
    {
        auto it = workerNumbers.find(worker);
        if (it == workerNumbers.end())
            it = workerNumbers.insert(worker, int(workerNumbers.size()) + 1);
        return it.value();
    }
};

// A segmented sieve: each range is independent, so workers share nothing while they count.
qint64 countPrimes(qint64 begin, qint64 end)
{
    begin = std::max<qint64>(begin, 2);
    if (end <= begin)
        return 0;
    const auto root = static_cast<qint64>(std::sqrt(static_cast<double>(end))) + 1;
    std::vector<char> small(static_cast<size_t>(root + 1), 1);
    std::vector<char> segment(static_cast<size_t>(end - begin), 1);
    for (qint64 p = 2; p <= root; ++p) {
        if (!small[p])
            continue;
        for (qint64 m = p * p; m <= root; m += p)
            small[m] = 0;
        for (qint64 m = std::max(p * p, (begin + p - 1) / p * p); m < end; m += p)
            segment[m - begin] = 0;
    }
    return std::count(segment.begin(), segment.end(), char(1));
}

std::string grouped(qint64 value)
{
    std::string digits = std::to_string(value);
    for (int i = int(digits.size()) - 3; i > 0; i -= 3)
        digits.insert(size_t(i), 1, ',');
    return digits;
}

int usage(const char *program)
{
    std::fprintf(stderr, "usage: %s [--quick]\n  --quick  a smaller job (for CI)\n", program);
    return 2;
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);

    const QStringList args = QCoreApplication::arguments().mid(1);
    if (args.size() > 1 || (args.size() == 1 && args.first() != QLatin1String("--quick")))
        return usage(argv[0]);
    const Job job = args.isEmpty() ? kFullJob : kQuickJob;

    // Constructed here, so the main thread is its owner thread (C1): every item runs here.
    qdispatch::CurrentThreadExecutor executor;
    Tally tally;
    tally.mainThread = QThread::currentThread();

    std::vector<Range> ranges;
    for (int i = 0; i < job.ranges; ++i)
        ranges.push_back({ i, job.limit * i / job.ranges, job.limit * (i + 1) / job.ranges });

    std::printf("QDispatch demo: counting the primes below %s in %d ranges on %d worker threads.\n"
                "Each worker hands its count to the main thread with submit() and waits for the "
                "reply;\nthe main thread waits for the whole job with runUntilFuture().\n\n",
                grouped(job.limit).c_str(), job.ranges, kWorkerThreads);

    // Proof that the wait does not freeze the main thread: its timers keep firing.
    int heartbeats = 0;
    QTimer heartbeat;
    heartbeat.setInterval(5);
    QObject::connect(&heartbeat, &QTimer::timeout, &app, [&heartbeats] { ++heartbeats; });
    heartbeat.start();

    QElapsedTimer elapsed;
    elapsed.start();

    QThreadPool pool;
    pool.setMaxThreadCount(kWorkerThreads);

    auto work = [&executor, &tally, &job](const Range &range) -> Report {
        Report report;
        report.primes = countPrimes(range.begin, range.end);
        QThread *const worker = QThread::currentThread();
        try {
            // Runs on the main thread (C3); the worker blocks on the reply below.
            QFuture<qint64> reply =
                executor.submit([&tally, &job, range, worker, primes = report.primes] {
                    const bool onMain = QThread::currentThread() == tally.mainThread;
                    tally.total += primes;
                    ++tally.itemsRun;
                    tally.itemsOnMainThread += onMain ? 1 : 0;
                    tally.workersOnMainThread += worker == tally.mainThread ? 1 : 0;
                    std::printf("  [%2d/%d] range %2d  %10s..%-10s %8s primes  worker %d  "
                                "total %9s  ran on %s\n",
                                tally.itemsRun, job.ranges, range.index + 1,
                                grouped(range.begin).c_str(), grouped(range.end).c_str(),
                                grouped(primes).c_str(), tally.workerNumber(worker),
                                grouped(tally.total).c_str(), onMain ? "main" : "ANOTHER THREAD");
                    std::fflush(stdout);
                    return tally.total;
                });
            report.replyTotal = reply.result(); // rethrows ExecutorError if it never ran (C12)
        } catch (const std::exception &e) {
            report.error = e.what();
        } catch (...) {
            report.error = "unknown exception";
        }
        return report;
    };
    const QFuture<Report> done = QtConcurrent::mapped(&pool, ranges, work);

    // done.waitForFinished() here would hang: the first worker would wait forever for a reply
    // that only this thread can run. runUntilFuture() runs the replies while it waits.
    const bool finished = executor.runUntilFuture(done, QDeadlineTimer(kDeadline));
    const double seconds = double(elapsed.nsecsElapsed()) / 1e9;
    heartbeat.stop();

    std::vector<std::string> failures;
    if (!finished) {
        failures.push_back("the job did not finish within " +
                           std::to_string(std::chrono::seconds(kDeadline).count()) + " s");
        // Unblock the workers: their queued replies now fail with ExecutorError{Broken} (C12).
        executor.shutdown();
    }
    pool.waitForDone();

    qint64 reportedPrimes = 0;
    qint64 largestReply = 0;
    const QList<Report> reports = done.results();
    for (const Report &report : reports) {
        reportedPrimes += report.primes;
        largestReply = std::max(largestReply, report.replyTotal);
        if (!report.error.empty())
            failures.push_back("a worker got an error: " + report.error);
    }

    if (reports.size() != job.ranges)
        failures.push_back(std::to_string(reports.size()) + " of " + std::to_string(job.ranges) +
                           " workers reported back");
    if (tally.itemsRun != job.ranges)
        failures.push_back(std::to_string(tally.itemsRun) + " of " + std::to_string(job.ranges) +
                           " items ran");
    if (tally.itemsOnMainThread != tally.itemsRun)
        failures.push_back(std::to_string(tally.itemsRun - tally.itemsOnMainThread) +
                           " items ran on a thread other than the main thread");
    if (tally.workersOnMainThread != 0)
        failures.push_back("some counting ran on the main thread instead of a worker");
    if (tally.total != job.expectedPrimes)
        failures.push_back("the main thread's total is " + grouped(tally.total) + ", expected " +
                           grouped(job.expectedPrimes));
    if (reportedPrimes != tally.total)
        failures.push_back("the workers counted " + grouped(reportedPrimes) +
                           " primes but the main thread added up " + grouped(tally.total));
    if (largestReply != tally.total)
        failures.push_back("the last reply a worker saw was " + grouped(largestReply) +
                           ", not the final total");

    std::printf("\nSummary\n"
                "  items run on the main thread  %d of %d (the other threads: %d)\n"
                "  items sent from               %d worker threads, none of them the main thread\n"
                "  primes below %-16s %s (expected %s)\n"
                "  main-thread 5 ms timer        fired during the wait: %d times\n"
                "  elapsed                       %.2f s\n",
                tally.itemsOnMainThread, job.ranges, tally.itemsRun - tally.itemsOnMainThread,
                int(tally.workerNumbers.size()), job.limitText, grouped(tally.total).c_str(),
                grouped(job.expectedPrimes).c_str(), heartbeats, seconds);

    if (!failures.empty()) {
        std::printf("\nFAILED\n");
        for (const std::string &failure : failures)
            std::printf("  - %s\n", failure.c_str());
        return 1;
    }
    std::printf("\nOK: every item ran on the main thread and the totals add up.\n");
    return 0;
}

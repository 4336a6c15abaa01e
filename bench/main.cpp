// qdispatch-bench: docs/contract.md, "What is measured" (P1..P8). Every comparison of a QDispatch
// measurement with a baseline runs as pairs in the same process, QDispatch then the baseline,
// again and again, because the machines are shared and noisy: a ratio is only trusted when its
// two sides ran side by side. The report gives the median of the per-pair ratios and their range.
//
//   qdispatch-bench [--quick] [--pairs N] [--only P1,P3] [--out DIR]
//
// The main thread is the owner thread of every scenario. P1, P2, P4, P6, P7 and P8 run each side in
// a fresh child process (qdispatch-bench --child ...): P1, P2 and P4 so that no side inherits a
// heap that an earlier measurement grew, P6 so that the peaks of the sides do not mix, P7 also
// because its baseline is the same benchmark linked to the library with X10 compiled out
// (qdispatch-bench-nodiag, beside this program), and one program links one library.

#include "measurements.h"
#include "report.h"

#include <QtCore/QAbstractEventDispatcher>
#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QDateTime>
#include <QtCore/QDir>
#include <QtCore/QElapsedTimer>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtCore/QJsonDocument>
#include <QtCore/QProcess>
#include <QtCore/QSysInfo>
#include <QtCore/QThread>

#include <cstdio>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <utility>

using namespace Qt::StringLiterals;

namespace {

using bench::Target;

// P7 runs this many times --pairs (Plan::pairsFactor).
constexpr int kP7PairsFactor = 3;

struct Options
{
    bool quick = false;
    int pairs = 7;
    QStringList only;
    QString outDir;
    QString python;
    QString asgirefScript;
};

// One measurement: returns one sample and may add details of that run.
using Measure = std::function<double(QJsonObject &details)>;

// A way of doing a scenario's work, QDispatch's or a baseline's.
struct Way
{
    QString key;
    QString label;
    QString shortLabel;
    Measure measure;
};

// One scenario and, parallel to its comparisons, the functions that measure their two sides.
// Adding a comparison is one call of compare().
struct Plan
{
    bench::Scenario scenario;
    std::vector<std::pair<Measure, Measure>> measures;
    // Pairs per comparison, as a multiple of --pairs: more for a scenario whose targets are
    // closer than a pair's noise.
    int pairsFactor = 1;

    Plan(const QString &id, const QString &title, const QString &unit, bool higherIsBetter,
         qint64 items)
    {
        scenario.id = id;
        scenario.title = title;
        scenario.unit = unit;
        scenario.higherIsBetter = higherIsBetter;
        scenario.items = items;
    }

    void compare(const Way &qdispatch, const Way &baseline,
                 std::optional<Target> target = std::nullopt, const QString &skipped = {})
    {
        const auto side = [](const Way &way) {
            bench::Side result;
            result.key = way.key;
            result.label = way.label;
            result.shortLabel = way.shortLabel;
            return result;
        };
        scenario.comparisons.push_back({ side(qdispatch), side(baseline), target, skipped });
        measures.emplace_back(qdispatch.measure, baseline.measure);
    }
};

[[noreturn]] void fail(const QString &message)
{
    throw std::runtime_error(message.toStdString());
}

// Runs a helper process and returns the JSON object it printed last on stdout.
QJsonObject runJsonProcess(
    const QString &program, const QStringList &arguments,
    const QProcessEnvironment &environment = QProcessEnvironment::systemEnvironment())
{
    QProcess process;
    process.setProcessEnvironment(environment);
    process.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    process.start(program, arguments);
    if (!process.waitForFinished(300'000) || process.exitStatus() != QProcess::NormalExit ||
        process.exitCode() != 0) {
        fail(u"%1 %2 failed (exit code %3)"_s.arg(program, arguments.join(u' '))
                 .arg(process.exitCode()));
    }
    const QList<QByteArray> lines = process.readAllStandardOutput().trimmed().split('\n');
    const QJsonDocument document = QJsonDocument::fromJson(lines.back());
    if (!document.isObject())
        fail(u"%1 printed no JSON object"_s.arg(program));
    return document.object();
}

// The throughput measurements of P1, P2, P4 and P7, each run by `qdispatch-bench --child NAME` in a
// process of its own: every side of a pair then starts from a fresh heap. In one long process each
// measurement inherited the heap the earlier ones had grown, and P1's floor, nearly all allocation,
// measured anywhere from 0.6 to 1.2 M items/s with that history.
// A child job: its figure's name in the JSON it prints, and the measurement of `items` items.
struct ChildJob
{
    const char16_t *figure;
    double (*measure)(int items);
};
const std::map<QString, ChildJob> &childJobs()
{
    using bench::Pinning;
    using qdispatch::RunMode;
    constexpr auto rate = u"itemsPerSecond";
    // P3's sides are here for profiling and counting system calls one side at a time; the
    // scenario runs them in this process (round trips allocate little: no heap history to fear).
    constexpr auto trip = u"microsecondsPerTrip";
    static const std::map<QString, ChildJob> jobs {
        { u"p1-qdispatch"_s, { rate, &bench::submitRate } },
        { u"p1-then-context"_s, { rate, &bench::thenContextRate } },
        { u"p1-invoke-promise"_s, { rate, &bench::invokePromiseRate } },
        { u"p1-promise-floor"_s, { rate, &bench::promiseFloorRate } },
        { u"p1-promise-two-thread-floor"_s, { rate, &bench::promiseTwoThreadFloorRate } },
        { u"p2-qdispatch"_s, { rate, &bench::postRate } },
        { u"p2-invoke-method"_s, { rate, &bench::invokeMethodRate } },
        { u"p2-lockfree-floor"_s, { rate, &bench::lockFreeFloorRate } },
        { u"p3-all-events"_s,
          { trip, [](int trips) { return bench::invokeRoundTrip(trips, RunMode::AllEvents); } } },
        { u"p3-executor-only"_s,
          { trip,
            [](int trips) { return bench::invokeRoundTrip(trips, RunMode::ExecutorOnly); } } },
        { u"p3-blocking-queued"_s, { trip, &bench::blockingQueuedRoundTrip } },
        { u"p3-condvar-floor"_s, { trip, &bench::condVarRoundTrip } },
        { u"p3-spin-floor"_s, { trip, &bench::spinRoundTrip } },
        { u"p4-8-producers"_s, { rate, [](int items) { return bench::producersRate(items, 8); } } },
        { u"p4-1-producer"_s, { rate, [](int items) { return bench::producersRate(items, 1); } } },
        { u"p4-8-producers-pinned"_s,
          { rate, [](int items) { return bench::producersRate(items, 8, Pinning::OwnerAlone); } } },
        { u"p4-1-producer-pinned"_s,
          { rate, [](int items) { return bench::producersRate(items, 1, Pinning::OwnerAlone); } } },
        { u"p4-floor-8-producers"_s,
          { rate, [](int items) { return bench::promiseProducersFloorRate(items, 8); } } },
    };
    return jobs;
}

// A measurement of items per second by one of childJobs() in a child process: `program` (this
// one, or P7's baseline) with `environment`.
Measure childRate(const QString &program, const QString &job, int items,
                  const QProcessEnvironment &environment = QProcessEnvironment::systemEnvironment())
{
    return [=](QJsonObject &details) {
        details = runJsonProcess(
            program, { u"--child"_s, job, u"--items"_s, QString::number(items) }, environment);
        return details[u"itemsPerSecond"_s].toDouble();
    };
}

QString cpuModel(int *cores)
{
    QFile cpuinfo(u"/proc/cpuinfo"_s);
    QString model = u"unknown"_s;
    *cores = 0;
    if (!cpuinfo.open(QIODevice::ReadOnly))
        return model;
    const QList<QByteArray> lines = cpuinfo.readAll().split('\n');
    for (const QByteArray &line : lines) {
        if (line.startsWith("processor"))
            ++*cores;
        else if (line.startsWith("model name") && model == u"unknown")
            model = QString::fromUtf8(line.mid(line.indexOf(':') + 1).trimmed());
    }
    return model;
}

QString buildType()
{
    const QString type = QString::fromLatin1(QDISPATCH_BENCH_BUILD_TYPE);
    return type.isEmpty() ? u"no CMAKE_BUILD_TYPE"_s : type;
}

QJsonObject machineInfo()
{
    int cores = 0;
    const QString cpu = cpuModel(&cores);
#if defined(__clang__)
    const QString compiler = u"Clang "_s + QString::fromLatin1(__clang_version__);
#elif defined(__GNUC__)
    const QString compiler = u"GCC "_s + QString::fromLatin1(__VERSION__);
#else
    const QString compiler = u"unknown"_s;
#endif
    const auto *dispatcher = QAbstractEventDispatcher::instance();
    return { { u"cpu"_s, cpu },
             { u"cores"_s, cores },
             { u"idealThreadCount"_s, QThread::idealThreadCount() },
             { u"os"_s, QSysInfo::prettyProductName() },
             { u"kernel"_s, QSysInfo::kernelVersion() },
             { u"qtVersion"_s, QString::fromLatin1(qVersion()) },
             { u"qtBuildVersion"_s, QString::fromLatin1(QT_VERSION_STR) },
             { u"eventDispatcher"_s,
               QString::fromLatin1(dispatcher ? dispatcher->metaObject()->className() : "none") },
             { u"compiler"_s, compiler },
             { u"buildType"_s, buildType() },
             { u"sanitize"_s, QString::fromLatin1(QDISPATCH_BENCH_SANITIZE) },
             { u"date"_s, QDateTime::currentDateTimeUtc().toString(Qt::ISODate) } };
}

// Why the asgiref baseline cannot run, or an empty string when it can.
QString asgirefUnavailable(const Options &options)
{
    if (!QFile::exists(options.asgirefScript))
        return u"%1 not found"_s.arg(options.asgirefScript);
    QProcess probe;
    probe.start(options.python, { u"-c"_s, u"import asgiref"_s });
    if (!probe.waitForFinished(60'000) || probe.exitStatus() != QProcess::NormalExit ||
        probe.exitCode() != 0) {
        return u"`%1 -c 'import asgiref'` failed; install Debian's python3-asgiref"_s.arg(
            options.python);
    }
    return {};
}

// Wraps a measurement that needs no details.
template<typename F> Measure plain(F fn)
{
    return [fn](QJsonObject &) { return fn(); };
}

std::vector<Plan> makePlans(const Options &options, QString *pythonNote)
{
    const int divisor = options.quick ? 100 : 1;
    const int million = 1'000'000 / divisor;
    const int asgirefItems = 200'000 / divisor;
    const int trips = 100'000 / divisor;
    const QString self = QCoreApplication::applicationFilePath();
    using qdispatch::RunMode;
    std::vector<Plan> plans;

    {
        Plan p(u"P1"_s, u"1 producer submits %L1 tiny items returning int"_s.arg(million),
               u"items/s"_s, true, million);
        const Way submit { u"qdispatch"_s, u"QDispatch `submit`, owner in `runUntilFuture`"_s,
                           u"QDispatch submit"_s, childRate(self, u"p1-qdispatch"_s, million) };
        p.compare(submit,
                  { u"then_context"_s, u"`readyFuture().then(context)`, owner in a `QEventLoop`"_s,
                    u"then(context)"_s, childRate(self, u"p1-then-context"_s, million) });
        p.compare(submit,
                  { u"invoke_promise"_s, u"`invokeMethod(Qt::QueuedConnection)` + `QPromise`"_s,
                    u"invokeMethod + QPromise"_s,
                    childRate(self, u"p1-invoke-promise"_s, million) });
        p.compare(submit,
                  { u"asgiref"_s,
                    u"asgiref `CurrentThreadExecutor` (%L1 items, Python)"_s.arg(asgirefItems),
                    u"asgiref"_s,
                    [=](QJsonObject &details) {
                        details = runJsonProcess(options.python,
                                                 { options.asgirefScript, u"--items"_s,
                                                   QString::number(asgirefItems),
                                                   u"--repetitions"_s, u"1"_s });
                        *pythonNote = u"Python %1, asgiref %2"_s.arg(
                            details[u"python"_s].toString(), details[u"asgiref"_s].toString());
                        return details[u"itemsPerSecond"_s].toDouble();
                    } },
                  std::nullopt, asgirefUnavailable(options));
        p.compare(submit,
                  { u"promise_floor"_s, u"floor: one thread makes and fulfils `QPromise`s"_s,
                    u"QPromise floor"_s, childRate(self, u"p1-promise-floor"_s, million) },
                  Target::ratioAtLeast(0.9));
        p.compare(submit,
                  { u"promise_two_thread_floor"_s,
                    u"floor on 2 threads: `QPromise`s made on one, fulfilled on the other, "
                    u"through a lock-free list"_s,
                    u"2-thread QPromise floor"_s,
                    childRate(self, u"p1-promise-two-thread-floor"_s, million) });
        plans.push_back(std::move(p));
    }
    {
        Plan p(u"P2"_s, u"1 producer posts %L1 tiny items"_s.arg(million), u"items/s"_s, true,
               million);
        const Way post { u"qdispatch"_s, u"QDispatch `post`, owner in `runUntilFuture`"_s,
                         u"QDispatch post"_s, childRate(self, u"p2-qdispatch"_s, million) };
        p.compare(post,
                  { u"invoke_method"_s,
                    u"`invokeMethod(Qt::QueuedConnection)`, owner in a `QEventLoop`"_s,
                    u"invokeMethod"_s, childRate(self, u"p2-invoke-method"_s, million) });
        p.compare(post,
                  { u"lockfree_floor"_s,
                    u"floor: 2 plain threads, lock-free list (1 CAS a push, whole list taken)"_s,
                    u"lock-free floor"_s, childRate(self, u"p2-lockfree-floor"_s, million) },
                  Target::ratioAtLeast(0.6));
        plans.push_back(std::move(p));
    }
    {
        Plan p(u"P3"_s,
               u"a worker makes %L1 blocking calls to the owner (time per round trip)"_s.arg(trips),
               u"µs"_s, false, trips);
        p.compare({ u"qdispatch_all_events"_s,
                    u"QDispatch `invoke`, owner in `runUntilFuture(AllEvents)`"_s,
                    u"QDispatch invoke (AllEvents)"_s,
                    plain([=] { return bench::invokeRoundTrip(trips, RunMode::AllEvents); }) },
                  { u"blocking_queued"_s,
                    u"`invokeMethod(Qt::BlockingQueuedConnection)`, owner in a `QEventLoop`"_s,
                    u"BlockingQueued"_s,
                    plain([=] { return bench::blockingQueuedRoundTrip(trips); }) },
                  Target::ratioAtMost(0.7));
        const Way executorOnly { u"qdispatch_executor_only"_s,
                                 u"QDispatch `invoke`, owner in `runUntilFuture(ExecutorOnly)`"_s,
                                 u"QDispatch invoke (ExecutorOnly)"_s, plain([=] {
                                     return bench::invokeRoundTrip(trips, RunMode::ExecutorOnly);
                                 }) };
        p.compare(executorOnly,
                  { u"condvar_floor"_s, u"floor: 2 threads, `std::mutex` + `condition_variable`"_s,
                    u"mutex/condvar floor"_s,
                    plain([=] { return bench::condVarRoundTrip(trips); }) },
                  Target::ratioAtMost(0.3));
        // For information: two threads that never sleep, handing a token through an atomic.
        p.compare(executorOnly,
                  { u"spin_floor"_s, u"floor: 2 threads spinning on an atomic"_s, u"spin floor"_s,
                    plain([=] { return bench::spinRoundTrip(trips); }) });
        plans.push_back(std::move(p));
    }
    {
        Plan p(u"P4"_s, u"8 producers submit %L1 items in all, at once"_s.arg(million),
               u"items/s"_s, true, million);
        const Way eight { u"qdispatch_8"_s, u"QDispatch `submit`, 8 producers"_s, u"8 producers"_s,
                          childRate(self, u"p4-8-producers"_s, million) };
        p.compare(eight,
                  { u"qdispatch_1"_s, u"QDispatch `submit`, 1 producer (P1's work)"_s,
                    u"1 producer"_s, childRate(self, u"p4-1-producer"_s, million) },
                  Target::ratioAtLeast(0.8));
        // For information, what limits the figure above on a machine with few cores. The same
        // 8 producers without an executor: QPromises through a lock-free list.
        p.compare(eight,
                  { u"floor_8"_s,
                    u"floor: 8 threads make `QPromise`s, one fulfils them, through a lock-free "
                    u"list"_s,
                    u"8-producer QPromise floor"_s,
                    childRate(self, u"p4-floor-8-producers"_s, million) });
        // And both sides with the owner on a CPU of its own: only then does the ratio measure
        // the queue rather than the owner's share of a core shared with the producers.
        p.compare(
            { u"qdispatch_8_owner_alone"_s,
              u"QDispatch `submit`, 8 producers, owner alone on a CPU"_s,
              u"8 producers, owner alone"_s, childRate(self, u"p4-8-producers-pinned"_s, million) },
            { u"qdispatch_1_owner_alone"_s,
              u"QDispatch `submit`, 1 producer, owner alone on a CPU"_s,
              u"1 producer, owner alone"_s, childRate(self, u"p4-1-producer-pinned"_s, million) },
            std::nullopt, bench::canPinOwnerAlone() ? QString() : u"needs 2 CPUs"_s);
        plans.push_back(std::move(p));
    }
    {
        Plan p(u"P5"_s,
               u"%L1 items of ~1 µs flood the owner; a 16 ms timer's worst lateness"_s.arg(million),
               u"ms"_s, false, million);
        const auto flood = [=](bench::Flood via) {
            return [=](QJsonObject &details) {
                const bench::FloodResult result = bench::floodLateness(million, via);
                details = { { u"floodSeconds"_s, result.floodSeconds },
                            { u"timeouts"_s, result.timeouts } };
                return result.worstLatenessMs;
            };
        };
        const Way invokeMethod { u"invoke_method"_s,
                                 u"`invokeMethod(Qt::QueuedConnection)`, owner in a `QEventLoop`"_s,
                                 u"invokeMethod"_s, flood(bench::Flood::InvokeMethod) };
        p.compare({ u"qdispatch"_s, u"QDispatch `post`, owner in its event loop"_s,
                    u"QDispatch (event loop)"_s, flood(bench::Flood::Post) },
                  invokeMethod, Target::figureAtMost(20));
        p.compare({ u"qdispatch_rununtil"_s,
                    u"QDispatch `post`, owner in `runUntilFuture(producer's future)`"_s,
                    u"QDispatch (runUntilFuture)"_s, flood(bench::Flood::PostRunUntil) },
                  invokeMethod, Target::figureAtMost(20));
        plans.push_back(std::move(p));
    }
    {
        Plan p(u"P6"_s,
               u"peak memory with %L1 futures made and kept (above the start)"_s.arg(million),
               u"MiB"_s, false, million);
        const auto child = [=](const QString &name) {
            return [=](QJsonObject &details) {
                details = runJsonProcess(
                    self, { u"--child"_s, name, u"--items"_s, QString::number(million) });
                return (details[u"hwmKiB"_s].toDouble() - details[u"rssBeforeKiB"_s].toDouble()) /
                    1024;
            };
        };
        const Way submit { u"qdispatch"_s, u"QDispatch `submit`: all queued, then drained"_s,
                           u"QDispatch"_s, child(u"p6-qdispatch"_s) };
        p.compare(submit,
                  { u"then_context"_s, u"`readyFuture().then(context)`: all queued, then drained"_s,
                    u"then(context)"_s, child(u"p6-then-context"_s) });
        p.compare(submit,
                  { u"future_interface_floor"_s,
                    u"floor: `QFutureInterface<int>`s started, given a result, finished, kept"_s,
                    u"QFutureInterface floor"_s, child(u"p6-floor"_s) },
                  Target::ratioAtMost(1.15));
        plans.push_back(std::move(p));
    }
    {
        // X10's cost: P1's and P2's work in child processes of this program with diagnostics
        // off (no threshold) and on (thresholds that never fire, set through the environment
        // for every executor), each against qdispatch-bench-nodiag, the same program linked to
        // the library with the diagnostics compiled out.
        Plan p(u"P7"_s,
               u"X10 diagnostics off and on: P1 and P2 (%L1 items), time per item; P3 with a "
               u"hang threshold (X11), time per round trip"_s.arg(million),
               u"ns"_s, false, million);
        // Its targets (2% and 10%) are finer than one pair's noise (10-20% here), and a pair of
        // child processes takes about a second.
        p.pairsFactor = kP7PairsFactor;
        const QString nodiag =
            QDir(QCoreApplication::applicationDirPath()).filePath(u"qdispatch-bench-nodiag"_s);
        const QString missing = QFile::exists(nodiag)
            ? QString()
            : u"%1 not found (built with the target qdispatch-bench)"_s.arg(nodiag);
        const auto child = [=](const QString &program, const QString &job, bool on) {
            QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
            env.remove(u"QDISPATCH_SLOW_ITEM_MS"_s);
            env.remove(u"QDISPATCH_HANG_MS"_s);
            if (on) {
                // An hour: no item or wait of the benchmark comes near it.
                env.insert(u"QDISPATCH_SLOW_ITEM_MS"_s, u"3600000,3600000"_s);
                env.insert(u"QDISPATCH_HANG_MS"_s, u"3600000"_s);
            }
            const Measure rate = childRate(program, job, million, env);
            return [=](QJsonObject &details) { return 1e9 / rate(details); };
        };
        struct Work
        {
            QString id, job, what;
        };
        for (const auto &[id, job, what] :
             { Work { u"p7-p1"_s, u"p1-qdispatch"_s, u"P1 `submit`"_s },
               Work { u"p7-p2"_s, u"p2-qdispatch"_s, u"P2 `post`"_s } }) {
            const Way compiledOut { id + u"_compiled_out"_s, what + u", diagnostics compiled out"_s,
                                    what.left(2) + u" compiled out"_s, child(nodiag, job, false) };
            p.compare({ id + u"_off"_s, what + u", diagnostics off"_s, what.left(2) + u" off"_s,
                        child(self, job, false) },
                      compiledOut, Target::ratioAtMost(1.02), missing);
            p.compare({ id + u"_on"_s, what + u", thresholds that never fire"_s,
                        what.left(2) + u" on"_s, child(self, job, true) },
                      compiledOut, Target::ratioAtMost(1.10), missing);
            // The control, for information: the baseline against itself. Its median strays from
            // 1 by as much as this run's method can tell apart; a target finer than that is
            // judged by noise as much as by the library.
            p.compare({ id + u"_control"_s, what + u", diagnostics compiled out (control)"_s,
                        what.left(2) + u" control"_s, child(nodiag, job, false) },
                      compiledOut, std::nullopt, missing);
        }
        // X11's cost on the waits: P3 (ExecutorOnly owner) with the hang threshold set, which a
        // round trip never reaches, against no threshold, both this program. Every wait is
        // recorded for describeWaits() either way; the threshold adds the hang watch, the
        // timed items and the held reference of X10.
        const auto trip = [=](bool hangOn) {
            QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
            env.remove(u"QDISPATCH_SLOW_ITEM_MS"_s);
            env.remove(u"QDISPATCH_HANG_MS"_s);
            if (hangOn)
                env.insert(u"QDISPATCH_HANG_MS"_s, u"3600000"_s);
            return [=](QJsonObject &details) {
                details = runJsonProcess(
                    self,
                    { u"--child"_s, u"p3-executor-only"_s, u"--items"_s, QString::number(trips) },
                    env);
                return details[u"microsecondsPerTrip"_s].toDouble() * 1000;
            };
        };
        p.compare({ u"p7-p3_hang_on"_s,
                    u"P3 `invoke` round trip (owner ExecutorOnly), hang threshold set, never "
                    u"reached"_s,
                    u"P3 hang on"_s, trip(true) },
                  { u"p7-p3_hang_off"_s,
                    u"P3 `invoke` round trip (owner ExecutorOnly), no hang "
                    u"threshold"_s,
                    u"P3 hang off"_s, trip(false) },
                  Target::ratioAtMost(1.10));
        plans.push_back(std::move(p));
    }
    {
        // X12's cost: P1's and P2's work in child processes of this program with a trace
        // recorded from the first executor on (QDISPATCH_TRACE, written at the child's exit,
        // after its measurement) against the same with none. The bound is the default, a million
        // events: a million items make three million (a flow start, a run, a flow finish each),
        // so every traced run reaches it and drops chunks as it goes, which is part of the cost.
        Plan p(u"P8"_s, u"X12 tracing on: P1 and P2 (%L1 items), time per item"_s.arg(million),
               u"ns"_s, false, million);
        const QString traceFile = QDir::temp().filePath(
            u"qdispatch-bench-p8-%1.json"_s.arg(QCoreApplication::applicationPid()));
        const auto child = [=](const QString &job, bool on) {
            QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
            env.remove(u"QDISPATCH_TRACE"_s);
            env.remove(u"QDISPATCH_TRACE_MAX_EVENTS"_s);
            env.remove(u"QDISPATCH_SLOW_ITEM_MS"_s);
            env.remove(u"QDISPATCH_HANG_MS"_s);
            if (on) {
                env.insert(u"QDISPATCH_TRACE"_s, traceFile);
                env.insert(u"QDISPATCH_TRACE_MAX_EVENTS"_s, u"1000000"_s);
            }
            const Measure rate = childRate(self, job, million, env);
            return [=](QJsonObject &details) {
                const double ns = 1e9 / rate(details);
                if (on) {
                    details[u"traceBytes"_s] = QFileInfo(traceFile).size();
                    QFile::remove(traceFile);
                }
                return ns;
            };
        };
        struct Work
        {
            QString id, job, what;
            double target;
        };
        for (const auto &[id, job, what, target] :
             { Work { u"p8-p1"_s, u"p1-qdispatch"_s, u"P1 `submit`"_s, 1.3 },
               Work { u"p8-p2"_s, u"p2-qdispatch"_s, u"P2 `post`"_s, 2.0 } }) {
            p.compare({ id + u"_on"_s, what + u", tracing on"_s, what.left(2) + u" traced"_s,
                        child(job, true) },
                      { id + u"_off"_s, what + u", tracing off"_s, what.left(2) + u" untraced"_s,
                        child(job, false) },
                      Target::ratioAtMost(target));
        }
        plans.push_back(std::move(p));
    }

    if (!options.only.isEmpty()) {
        std::vector<Plan> chosen;
        for (Plan &plan : plans) {
            if (options.only.contains(plan.scenario.id, Qt::CaseInsensitive))
                chosen.push_back(std::move(plan));
        }
        plans = std::move(chosen);
    }
    return plans;
}

QString elapsedText(const QElapsedTimer &clock)
{
    const qint64 seconds = clock.elapsed() / 1000;
    return u"%1:%2"_s.arg(seconds / 60).arg(seconds % 60, 2, 10, QChar(u'0'));
}

// Runs the scenario's comparisons in rounds. A round runs one pair of each comparison, its
// QDispatch side and then its baseline, so the pairs of every comparison are spread over the
// whole scenario and the two sides of each pair run back to back.
void run(Plan &plan, int pairs, const QElapsedTimer &clock)
{
    bench::Scenario &scenario = plan.scenario;
    std::fprintf(stderr, "== %s: %s (%zu comparisons x %d pairs) at %s\n", qPrintable(scenario.id),
                 qPrintable(scenario.title), scenario.comparisons.size(), pairs,
                 qPrintable(elapsedText(clock)));
    const auto measure = [](const Measure &fn, bench::Side &side) {
        QJsonObject details;
        const double sample = fn(details);
        side.samples.push_back(sample);
        if (!details.isEmpty())
            side.details.append(details);
        return sample;
    };
    for (int pair = 1; pair <= pairs; ++pair) {
        for (std::size_t i = 0; i < scenario.comparisons.size(); ++i) {
            bench::Comparison &comparison = scenario.comparisons[i];
            if (!comparison.skipped.isEmpty())
                continue;
            const double mine = measure(plan.measures[i].first, comparison.qdispatch);
            const double theirs = measure(plan.measures[i].second, comparison.baseline);
            std::fprintf(stderr, "[%s pair %d/%d, %s] %s %s, %s %s: %s  (%s)\n",
                         qPrintable(scenario.id), pair, pairs,
                         qPrintable(comparison.baseline.shortLabel),
                         qPrintable(comparison.qdispatch.shortLabel),
                         qPrintable(bench::formatValue(mine, scenario.unit)),
                         qPrintable(comparison.baseline.shortLabel),
                         qPrintable(bench::formatValue(theirs, scenario.unit)),
                         qPrintable(theirs != 0 ? bench::formatRatio(mine / theirs) : u"n/a"_s),
                         qPrintable(elapsedText(clock)));
        }
    }
}

void writeFile(const QString &path, const QByteArray &contents)
{
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate) || file.write(contents) < 0)
        fail(u"cannot write %1: %2"_s.arg(path, file.errorString()));
}

int runChild(const QString &name, int items)
{
    QJsonObject result;
    if (name == u"p6-qdispatch")
        result = bench::queuedMemory(items, bench::Queue::Submit);
    else if (name == u"p6-then-context")
        result = bench::queuedMemory(items, bench::Queue::ThenContext);
    else if (name == u"p6-floor")
        result = bench::queuedMemory(items, bench::Queue::FutureInterfaceFloor);
    else if (const auto job = childJobs().find(name); job != childJobs().end())
        result = { { QString::fromUtf16(job->second.figure), job->second.measure(items) } };
    else
        fail(u"unknown child job %1"_s.arg(name));
    std::fputs(QJsonDocument(result).toJson(QJsonDocument::Compact).append('\n').constData(),
               stdout);
    return 0;
}

int runBenchmark(const Options &options)
{
    QElapsedTimer clock;
    clock.start();
    const QJsonObject machine = machineInfo();
    if (machine[u"buildType"_s].toString() != u"Release")
        std::fprintf(stderr, "note: %s; only a Release build gives meaningful numbers\n",
                     qPrintable(machine[u"buildType"_s].toString()));

    QString pythonNote;
    std::vector<Plan> plans = makePlans(options, &pythonNote);
    for (Plan &plan : plans)
        run(plan, options.pairs * plan.pairsFactor, clock);
    const double seconds = clock.elapsed() / 1000.0;

    std::vector<bench::Scenario> scenarios;
    for (const Plan &plan : plans)
        scenarios.push_back(plan.scenario);
    QJsonObject machineAndTools = machine;
    if (!pythonNote.isEmpty())
        machineAndTools[u"python"_s] = pythonNote;

    std::fputs(qPrintable(bench::textTable(scenarios, machineAndTools)), stdout);
    std::fprintf(stdout, "%d pairs per comparison (P7: %d); the run took %s (m:ss).\n\n",
                 options.pairs, options.pairs * kP7PairsFactor, qPrintable(elapsedText(clock)));
    std::fputs(qPrintable(u"The table for docs/benchmarks.md:\n\n"_s +
                          bench::markdownTable(scenarios) + u"\n"_s),
               stdout);

    if (!QDir().mkpath(options.outDir))
        fail(u"cannot create %1"_s.arg(options.outDir));
    const QJsonObject config { { u"quick"_s, options.quick },
                               { u"pairs"_s, options.pairs },
                               { u"pairsP7"_s, options.pairs * kP7PairsFactor },
                               { u"statistic"_s, u"median of per-pair ratios, with min and max"_s },
                               { u"durationSeconds"_s, seconds },
                               { u"command"_s, QCoreApplication::arguments().join(u' ') } };
    const QString json = QDir(options.outDir).filePath(u"benchmarks.json"_s);
    const QString svg = QDir(options.outDir).filePath(u"benchmarks.svg"_s);
    writeFile(json, QJsonDocument(bench::toJson(scenarios, machineAndTools, config)).toJson());
    writeFile(svg, bench::toSvg(scenarios, machineAndTools, config).toUtf8());
    std::fflush(stdout);
    std::fprintf(stderr, "wrote %s and %s\n", qPrintable(json), qPrintable(svg));
    return 0;
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(u"qdispatch-bench"_s);

    QCommandLineParser parser;
    parser.setApplicationDescription(
        u"QDispatch benchmark (P1..P8): QDispatch against its baselines, same run."_s);
    parser.addHelpOption();
    const QCommandLineOption quick(u"quick"_s,
                                   u"One pair with a hundredth of the items (smoke test)."_s);
    const QCommandLineOption pairs(
        u"pairs"_s, u"Pairs (QDispatch, then its baseline) per comparison; default 7."_s, u"n"_s,
        u"7"_s);
    const QCommandLineOption only(u"only"_s, u"Scenarios to run, e.g. P1,P3."_s, u"ids"_s);
    const QCommandLineOption out(u"out"_s,
                                 u"Directory for benchmarks.json and .svg; default: docs/ for a "
                                 u"full run, the current directory with --quick or --only."_s,
                                 u"dir"_s);
    const QCommandLineOption python(u"python"_s, u"Python with asgiref, for P1."_s, u"path"_s,
                                    u"/usr/bin/python3"_s);
    const QCommandLineOption script(u"asgiref-script"_s, u"The asgiref half of P1."_s, u"path"_s,
                                    QString::fromUtf8(QDISPATCH_BENCH_ASGIREF_SCRIPT));
    QCommandLineOption child(
        u"child"_s, u"Internal: one side of P1, P2, P4, P6 or P7 in this process."_s, u"job"_s);
    child.setFlags(QCommandLineOption::HiddenFromHelp);
    QCommandLineOption items(u"items"_s, u"Internal: item count of a --child job."_s, u"n"_s);
    items.setFlags(QCommandLineOption::HiddenFromHelp);
    parser.addOptions({ quick, pairs, only, out, python, script, child, items });
    parser.process(app);

    try {
        if (parser.isSet(child))
            return runChild(parser.value(child), parser.value(items).toInt());

        Options options;
        options.quick = parser.isSet(quick);
        options.pairs = options.quick && !parser.isSet(pairs) ? 1 : parser.value(pairs).toInt();
        if (options.pairs < 1)
            fail(u"--pairs needs a positive number"_s);
        if (parser.isSet(only))
            options.only = parser.value(only).split(u',', Qt::SkipEmptyParts);
        // Only a full run replaces the committed results in docs/ unasked: a smoke test or a
        // partial run that did so would leave docs/ with figures the text does not describe.
        if (parser.isSet(out))
            options.outDir = parser.value(out);
        else if (options.quick || !options.only.isEmpty())
            options.outDir = QDir::currentPath();
        else
            options.outDir = QString::fromUtf8(QDISPATCH_BENCH_DEFAULT_OUT);
        options.python = parser.value(python);
        options.asgirefScript = parser.value(script);
        return runBenchmark(options);
    } catch (const std::exception &error) {
        std::fprintf(stderr, "qdispatch-bench: %s\n", error.what());
        return 1;
    }
}

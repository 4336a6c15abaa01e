// qdispatch-bench: SPEC "What is measured" (P1..P6). Every scenario runs QDispatch and its
// baselines in the same process, interleaved repetition by repetition, because the machines are
// shared and noisy: only the ratios measured side by side mean something.
//
//   qdispatch-bench [--quick] [--repetitions N] [--only P1,P3] [--out DIR]
//
// The main thread is the owner thread of every scenario. P6 runs each variant in a fresh child
// process (qdispatch-bench --child ...) so that the peaks of the variants do not mix.

#include "measurements.h"
#include "report.h"

#include <QtCore/QAbstractEventDispatcher>
#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QDateTime>
#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QJsonDocument>
#include <QtCore/QProcess>
#include <QtCore/QSysInfo>
#include <QtCore/QThread>

#include <cstdio>
#include <exception>
#include <functional>
#include <stdexcept>

using namespace Qt::StringLiterals;

namespace {

using bench::Check;
using Bound = bench::Check::Bound;

struct Options {
    bool quick = false;
    int repetitions = 5;
    QStringList only;
    QString outDir;
    QString python;
    QString asgirefScript;
};

// One scenario and, parallel to its variants, the functions that measure them. A function
// returns one sample and may add per-repetition details.
struct Plan {
    bench::Scenario scenario;
    std::vector<std::function<double(QJsonObject &details)>> measure;

    void add(const QString &key, const QString &label, const QString &shortLabel, bool qdispatch,
             std::function<double(QJsonObject &)> fn)
    {
        bench::Variant variant;
        variant.key = key;
        variant.label = label;
        variant.shortLabel = shortLabel;
        variant.qdispatch = qdispatch;
        scenario.variants.push_back(variant);
        measure.push_back(std::move(fn));
    }
    void check(const QString &variant, const QString &baseline, Bound bound = Bound::None,
               double limit = 0)
    {
        scenario.checks.push_back({ variant, baseline, bound, limit });
    }
};

[[noreturn]] void fail(const QString &message)
{
    throw std::runtime_error(message.toStdString());
}

// Runs a helper process and returns the JSON object it printed last on stdout.
QJsonObject runJsonProcess(const QString &program, const QStringList &arguments)
{
    QProcess process;
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

std::vector<Plan> makePlans(const Options &options, QString *pythonNote)
{
    const int divisor = options.quick ? 100 : 1;
    const int million = 1'000'000 / divisor;
    const int asgirefItems = 200'000 / divisor;
    const int trips = 100'000 / divisor;
    const QString self = QCoreApplication::applicationFilePath();
    std::vector<Plan> plans;

    {
        Plan p;
        p.scenario = { u"P1"_s,
                       u"1 producer submits %L1 tiny items returning int"_s.arg(million),
                       u"items/s"_s,
                       true,
                       million,
                       {},
                       {} };
        p.add(u"qdispatch"_s, u"QDispatch submit, owner in runUntilFuture"_s, u"QDispatch"_s, true,
              [=](QJsonObject &) { return bench::submitRate(million); });
        p.add(u"then_context"_s, u"makeReadyFuture().then(context)"_s, u"then(context)"_s, false,
              [=](QJsonObject &) { return bench::thenContextRate(million); });
        p.add(u"invoke_promise"_s, u"invokeMethod(Queued) + QPromise"_s,
              u"invokeMethod + QPromise"_s, false,
              [=](QJsonObject &) { return bench::invokePromiseRate(million); });
        p.add(u"asgiref"_s, u"asgiref CurrentThreadExecutor (%L1 items)"_s.arg(asgirefItems),
              u"asgiref"_s, false, [=](QJsonObject &details) {
                  details =
                      runJsonProcess(options.python,
                                     { options.asgirefScript, u"--items"_s,
                                       QString::number(asgirefItems), u"--repetitions"_s, u"1"_s });
                  *pythonNote = u"Python %1, asgiref %2"_s.arg(details[u"python"_s].toString(),
                                                               details[u"asgiref"_s].toString());
                  return details[u"itemsPerSecond"_s].toDouble();
              });
        p.add(u"promise_floor"_s, u"floor: 1 thread makes and fulfils QPromises"_s,
              u"QPromise floor"_s, false,
              [=](QJsonObject &) { return bench::promiseFloorRate(million); });
        const QString unavailable = asgirefUnavailable(options);
        if (!unavailable.isEmpty())
            p.scenario.variant(u"asgiref"_s).skipped = unavailable;
        p.check(u"qdispatch"_s, u"then_context"_s, Bound::AtLeast, 5);
        p.check(u"qdispatch"_s, u"invoke_promise"_s, Bound::AtLeast, 1.5);
        p.check(u"qdispatch"_s, u"asgiref"_s, Bound::AtLeast, 15);
        p.check(u"qdispatch"_s, u"promise_floor"_s, Bound::AtLeast, 0.5);
        plans.push_back(std::move(p));
    }
    {
        Plan p;
        p.scenario = { u"P2"_s,
                       u"1 producer posts %L1 tiny items"_s.arg(million),
                       u"items/s"_s,
                       true,
                       million,
                       {},
                       {} };
        p.add(u"qdispatch"_s, u"QDispatch post, owner in runUntilFuture"_s, u"QDispatch post"_s,
              true, [=](QJsonObject &) { return bench::postRate(million); });
        p.add(u"invoke_method"_s, u"invokeMethod(Queued)"_s, u"invokeMethod"_s, false,
              [=](QJsonObject &) { return bench::invokeMethodRate(million); });
        p.check(u"qdispatch"_s, u"invoke_method"_s, Bound::AtLeast, 8);
        plans.push_back(std::move(p));
    }
    {
        Plan p;
        p.scenario = {
            u"P3"_s,
            u"a worker makes %L1 blocking calls to the owner (per round trip)"_s.arg(trips),
            u"µs"_s,
            false,
            trips,
            {},
            {}
        };
        p.add(u"qdispatch"_s, u"QDispatch invoke, owner in runUntilFuture"_s, u"QDispatch invoke"_s,
              true, [=](QJsonObject &) { return bench::invokeRoundTrip(trips); });
        p.add(u"blocking_queued"_s, u"invokeMethod(BlockingQueued)"_s, u"BlockingQueued"_s, false,
              [=](QJsonObject &) { return bench::blockingQueuedRoundTrip(trips); });
        p.add(u"condvar_floor"_s, u"floor: 2 threads, mutex + condition_variable"_s,
              u"mutex/condvar floor"_s, false,
              [=](QJsonObject &) { return bench::condVarRoundTrip(trips); });
        p.check(u"qdispatch"_s, u"condvar_floor"_s, Bound::AtMost, 1.2);
        p.check(u"qdispatch"_s, u"blocking_queued"_s, Bound::AtMost, 1.0);
        plans.push_back(std::move(p));
    }
    {
        Plan p;
        p.scenario = { u"P4"_s,
                       u"8 producers submit %L1 items in all, at once"_s.arg(million),
                       u"items/s"_s,
                       true,
                       million,
                       {},
                       {} };
        p.add(u"qdispatch_8"_s, u"QDispatch submit, 8 producers"_s, u"8 producers"_s, true,
              [=](QJsonObject &) { return bench::producersRate(million, 8); });
        p.add(u"qdispatch_1"_s, u"QDispatch submit, 1 producer (as P1)"_s, u"1 producer"_s, false,
              [=](QJsonObject &) { return bench::producersRate(million, 1); });
        p.check(u"qdispatch_8"_s, u"qdispatch_1"_s, Bound::AtLeast, 0.8);
        plans.push_back(std::move(p));
    }
    {
        Plan p;
        p.scenario = {
            u"P5"_s,
            u"%L1 items of ~1 µs flood the owner; a 16 ms timer's worst lateness"_s.arg(million),
            u"ms"_s,
            false,
            million,
            {},
            {}
        };
        const auto flood = [=](bench::Flood via) {
            return [=](QJsonObject &details) {
                const bench::FloodResult result = bench::floodLateness(million, via);
                details = { { u"floodSeconds"_s, result.floodSeconds },
                            { u"timeouts"_s, result.timeouts } };
                return result.worstLatenessMs;
            };
        };
        p.add(u"qdispatch"_s, u"QDispatch post, owner in its event loop"_s,
              u"QDispatch (event loop)"_s, true, flood(bench::Flood::Post));
        p.add(u"qdispatch_rununtil"_s, u"QDispatch post, owner in runUntilFuture(producer)"_s,
              u"QDispatch (runUntilFuture)"_s, true, flood(bench::Flood::PostRunUntil));
        p.add(u"invoke_method"_s, u"invokeMethod(Queued), owner in its event loop"_s,
              u"invokeMethod"_s, false, flood(bench::Flood::InvokeMethod));
        p.check(u"qdispatch"_s, {}, Bound::AtMost, 20);
        p.check(u"qdispatch"_s, u"invoke_method"_s);
        p.check(u"qdispatch_rununtil"_s, {}, Bound::AtMost, 20);
        p.check(u"qdispatch_rununtil"_s, u"invoke_method"_s);
        plans.push_back(std::move(p));
    }
    {
        Plan p;
        p.scenario = {
            u"P6"_s,
            u"peak memory with %L1 items queued, then drained (above the start)"_s.arg(million),
            u"MiB"_s,
            false,
            million,
            {},
            {}
        };
        const auto child = [=](const QString &name) {
            return [=](QJsonObject &details) {
                details = runJsonProcess(
                    self, { u"--child"_s, name, u"--items"_s, QString::number(million) });
                return (details[u"hwmKiB"_s].toDouble() - details[u"rssBeforeKiB"_s].toDouble()) /
                    1024;
            };
        };
        p.add(u"qdispatch"_s, u"QDispatch submit"_s, u"QDispatch"_s, true,
              child(u"p6-qdispatch"_s));
        p.add(u"then_context"_s, u"makeReadyFuture().then(context)"_s, u"then(context)"_s, false,
              child(u"p6-then-context"_s));
        p.check(u"qdispatch"_s, u"then_context"_s, Bound::AtMost, 0.6);
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

void run(Plan &plan, int repetitions)
{
    bench::Scenario &scenario = plan.scenario;
    // Interleaved: a burst of noise on the machine hits one repetition of every variant alike.
    for (int repetition = 1; repetition <= repetitions; ++repetition) {
        for (std::size_t i = 0; i < scenario.variants.size(); ++i) {
            bench::Variant &variant = scenario.variants[i];
            if (!variant.skipped.isEmpty())
                continue;
            QJsonObject details;
            const double sample = plan.measure[i](details);
            variant.samples.push_back(sample);
            if (!details.isEmpty())
                variant.details.append(details);
            std::fprintf(stderr, "[%s %d/%d] %s: %s\n", qPrintable(scenario.id), repetition,
                         repetitions, qPrintable(variant.label),
                         qPrintable(bench::formatValue(sample, scenario.unit)));
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
    else
        fail(u"unknown child job %1"_s.arg(name));
    std::fputs(QJsonDocument(result).toJson(QJsonDocument::Compact).append('\n').constData(),
               stdout);
    return 0;
}

int runBenchmark(const Options &options)
{
    const QJsonObject machine = machineInfo();
    if (machine[u"buildType"_s].toString() != u"Release")
        std::fprintf(stderr, "note: %s; only a Release build gives meaningful numbers\n",
                     qPrintable(machine[u"buildType"_s].toString()));

    QString pythonNote;
    std::vector<Plan> plans = makePlans(options, &pythonNote);
    for (Plan &plan : plans)
        run(plan, options.repetitions);

    std::vector<bench::Scenario> scenarios;
    for (const Plan &plan : plans)
        scenarios.push_back(plan.scenario);
    QJsonObject machineAndTools = machine;
    if (!pythonNote.isEmpty())
        machineAndTools[u"python"_s] = pythonNote;

    std::fputs(qPrintable(bench::textTable(scenarios, machineAndTools) + u'\n'), stdout);

    if (!QDir().mkpath(options.outDir))
        fail(u"cannot create %1"_s.arg(options.outDir));
    const QJsonObject config { { u"quick"_s, options.quick },
                               { u"repetitions"_s, options.repetitions },
                               { u"statistic"_s, u"median"_s },
                               { u"command"_s, QCoreApplication::arguments().join(u' ') } };
    const QString json = QDir(options.outDir).filePath(u"benchmarks.json"_s);
    const QString svg = QDir(options.outDir).filePath(u"benchmarks.svg"_s);
    writeFile(json, QJsonDocument(bench::toJson(scenarios, machineAndTools, config)).toJson());
    writeFile(svg, bench::toSvg(scenarios, machineAndTools).toUtf8());
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
        u"QDispatch benchmark (SPEC P1..P6): QDispatch against its baselines, same run."_s);
    parser.addHelpOption();
    const QCommandLineOption quick(u"quick"_s,
                                   u"One repetition with a hundredth of the items (smoke test)."_s);
    const QCommandLineOption repetitions(u"repetitions"_s, u"Repetitions per variant."_s, u"n"_s,
                                         u"5"_s);
    const QCommandLineOption only(u"only"_s, u"Scenarios to run, e.g. P1,P3."_s, u"ids"_s);
    const QCommandLineOption out(u"out"_s, u"Directory for benchmarks.json and .svg."_s, u"dir"_s,
                                 QString::fromUtf8(QDISPATCH_BENCH_DEFAULT_OUT));
    const QCommandLineOption python(u"python"_s, u"Python with asgiref, for P1."_s, u"path"_s,
                                    u"/usr/bin/python3"_s);
    const QCommandLineOption script(u"asgiref-script"_s, u"The asgiref half of P1."_s, u"path"_s,
                                    QString::fromUtf8(QDISPATCH_BENCH_ASGIREF_SCRIPT));
    QCommandLineOption child(u"child"_s, u"Internal: one P6 variant in this process."_s, u"job"_s);
    child.setFlags(QCommandLineOption::HiddenFromHelp);
    QCommandLineOption items(u"items"_s, u"Internal: item count of a --child job."_s, u"n"_s);
    items.setFlags(QCommandLineOption::HiddenFromHelp);
    parser.addOptions({ quick, repetitions, only, out, python, script, child, items });
    parser.process(app);

    try {
        if (parser.isSet(child))
            return runChild(parser.value(child), parser.value(items).toInt());

        Options options;
        options.quick = parser.isSet(quick);
        options.repetitions =
            options.quick && !parser.isSet(repetitions) ? 1 : parser.value(repetitions).toInt();
        if (options.repetitions < 1)
            fail(u"--repetitions needs a positive number"_s);
        if (parser.isSet(only))
            options.only = parser.value(only).split(u',', Qt::SkipEmptyParts);
        options.outDir = parser.value(out);
        options.python = parser.value(python);
        options.asgirefScript = parser.value(script);
        return runBenchmark(options);
    } catch (const std::exception &error) {
        std::fprintf(stderr, "qdispatch-bench: %s\n", error.what());
        return 1;
    }
}

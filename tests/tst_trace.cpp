// X12, a timeline: startTrace(), stopTrace() and the environment variables QDISPATCH_TRACE and
// QDISPATCH_TRACE_MAX_EVENTS. Every file written is parsed as JSON and checked whole: every item
// a complete event on its owner's thread, every flow start paired with exactly one finish (and
// the other way round) from the submitter's thread to the owner's, the waits, a thread name for
// every thread used, and droppedEvents exact. QDISPATCH_TRACE is read once per process, so it is
// tried in child processes (this program, running one x12_child_* function). Threads are ordered
// with Semaphore hand-offs, never sleeps.
#include <qdispatch/currentthreadexecutor.h>

#include "testsupport.h"

#include <QtCore/QFile>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QProcess>
#include <QtCore/QProcessEnvironment>
#include <QtCore/QRegularExpression>
#include <QtCore/QTemporaryDir>
#include <QtTest/QtTest>

#include <array>
#include <atomic>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

bool isChild()
{
    return qEnvironmentVariableIsSet("QDISPATCH_TEST_CHILD");
}

// A written trace, parsed, with its events sorted by kind.
struct Trace
{
    QJsonObject other;
    std::map<qint64, QString> threadNames; // tid: thread_name
    QList<QJsonObject> items; // ph X, cat qdispatch
    QList<QJsonObject> waits; // ph X, cat qdispatch.wait
    QList<QJsonObject> starts; // ph s
    QList<QJsonObject> finishes; // ph f
    qint64 events = 0; // all but the metadata

    qint64 tidNamed(const QString &part) const
    {
        for (const auto &[tid, name] : threadNames) {
            if (name.contains(part))
                return tid;
        }
        return -1;
    }
};

// Empty when `path` holds a trace whose every part is consistent (see the file's comment), else
// what is wrong.
QString load(const QString &path, Trace *trace)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return QStringLiteral("cannot open %1").arg(path);
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(file.readAll(), &error);
    if (doc.isNull())
        return QStringLiteral("not JSON: %1 at %2").arg(error.errorString()).arg(error.offset);
    const QJsonObject root = doc.object();
    if (!root.value(QLatin1String("traceEvents")).isArray())
        return QStringLiteral("no traceEvents array");
    trace->other = root.value(QLatin1String("otherData")).toObject();
    if (!trace->other.value(QLatin1String("droppedEvents")).isDouble())
        return QStringLiteral("no otherData.droppedEvents");
    std::set<qint64> tidsUsed;
    for (const QJsonValue &value : root.value(QLatin1String("traceEvents")).toArray()) {
        const QJsonObject event = value.toObject();
        const QString ph = event.value(QLatin1String("ph")).toString();
        const QString cat = event.value(QLatin1String("cat")).toString();
        const qint64 tid = event.value(QLatin1String("tid")).toInteger();
        if (ph == QLatin1String("M")) {
            if (event.value(QLatin1String("name")).toString() == QLatin1String("thread_name"))
                trace->threadNames[tid] = event.value(QLatin1String("args"))
                                              .toObject()
                                              .value(QLatin1String("name"))
                                              .toString();
            continue;
        }
        ++trace->events;
        tidsUsed.insert(tid);
        if (event.value(QLatin1String("ts")).toDouble(-1) < 0)
            return QStringLiteral("an event before the trace's start: %1, ts %2")
                .arg(event.value(QLatin1String("name")).toString())
                .arg(event.value(QLatin1String("ts")).toDouble(-1));
        if (ph == QLatin1String("X") && cat == QLatin1String("qdispatch"))
            trace->items.append(event);
        else if (ph == QLatin1String("X") && cat == QLatin1String("qdispatch.wait"))
            trace->waits.append(event);
        else if (ph == QLatin1String("s"))
            trace->starts.append(event);
        else if (ph == QLatin1String("f"))
            trace->finishes.append(event);
        else
            return QStringLiteral("an unexpected event: ph %1, cat %2").arg(ph, cat);
    }
    for (const qint64 tid : tidsUsed) {
        if (!trace->threadNames.count(tid))
            return QStringLiteral("no thread_name for tid %1").arg(tid);
    }
    // Every flow start has exactly one finish with its id, and the other way round; the finish
    // binds to the enclosing slice ("bp":"e") at the start of a complete event of its thread,
    // and the flow's two ends carry the same name and category.
    std::map<qint64, QJsonObject> startById;
    for (const QJsonObject &s : trace->starts) {
        const qint64 id = s.value(QLatin1String("id")).toInteger(-1);
        if (!startById.emplace(id, s).second)
            return QStringLiteral("two flow starts with id %1").arg(id);
    }
    std::map<std::pair<qint64, double>, int> itemStarts; // (tid, ts) of complete events
    for (const QJsonObject &x : trace->items)
        ++itemStarts[{ x.value(QLatin1String("tid")).toInteger(),
                       x.value(QLatin1String("ts")).toDouble() }];
    std::set<qint64> finished;
    for (const QJsonObject &f : trace->finishes) {
        const qint64 id = f.value(QLatin1String("id")).toInteger(-1);
        if (!finished.insert(id).second)
            return QStringLiteral("two flow finishes with id %1").arg(id);
        const auto start = startById.find(id);
        if (start == startById.end())
            return QStringLiteral("a flow finish without a start: id %1").arg(id);
        if (f.value(QLatin1String("bp")).toString() != QLatin1String("e"))
            return QStringLiteral("a flow finish without \"bp\":\"e\"");
        if (f.value(QLatin1String("name")) != start->second.value(QLatin1String("name")) ||
            f.value(QLatin1String("cat")) != start->second.value(QLatin1String("cat")))
            return QStringLiteral("the ends of flow %1 differ in name or category").arg(id);
        if (!itemStarts.count({ f.value(QLatin1String("tid")).toInteger(),
                                f.value(QLatin1String("ts")).toDouble() }))
            return QStringLiteral("flow finish %1 is not at the start of an item").arg(id);
        if (f.value(QLatin1String("ts")).toDouble() <
            start->second.value(QLatin1String("ts")).toDouble())
            return QStringLiteral("flow %1 ends before it starts").arg(id);
    }
    if (finished.size() != startById.size())
        return QStringLiteral("%1 flow starts have no finish")
            .arg(startById.size() - finished.size());
    return {};
}

QString arg(const QJsonObject &event, const char *name)
{
    return event.value(QLatin1String("args"))
        .toObject()
        .value(QLatin1String(name))
        .toVariant()
        .toString();
}

// A thread named `name` that runs `fn`. Joined with join(), which takes a semaphore that fn's
// end releases: QThread::wait() synchronises inside Qt, out of ThreadSanitizer's sight, so after
// it TSan would take the next test's use of this one's stack for a race with the thread.
class NamedThread : public QThread
{
public:
    NamedThread(const QString &name, std::function<void()> fn) : m_fn(std::move(fn))
    {
        setObjectName(name);
    }
    [[nodiscard]] bool join(int ms) { return m_done.tryAcquire(1, ms) && wait(ms); }

private:
    void run() override
    {
        m_fn();
        m_done.release();
    }
    std::function<void()> m_fn;
    Semaphore m_done;
};

std::unique_ptr<NamedThread> namedThread(const QString &name, std::function<void()> fn)
{
    return std::make_unique<NamedThread>(name, std::move(fn));
}

// Runs a child process of this program for `function` with `env` added; empty when it exited
// normally with code 0, else its output. `output` receives its output.
QString runChild(const char *function, const std::map<QString, QString> &env, QString *output)
{
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("QDISPATCH_TEST_CHILD"), QStringLiteral("1"));
    environment.remove(QStringLiteral("QDISPATCH_TRACE"));
    environment.remove(QStringLiteral("QDISPATCH_TRACE_MAX_EVENTS"));
    for (const auto &[key, value] : env)
        environment.insert(key, value);
    QProcess child;
    child.setProcessEnvironment(environment);
    child.setProcessChannelMode(QProcess::MergedChannels);
    child.start(QCoreApplication::applicationFilePath(), { QString::fromLatin1(function) });
    if (!child.waitForFinished(kJoinMs))
        return QStringLiteral("the child did not finish");
    *output = QString::fromLocal8Bit(child.readAll());
    if (child.exitStatus() != QProcess::NormalExit || child.exitCode() != 0)
        return output->isEmpty() ? QStringLiteral("the child failed") : *output;
    return {};
}

// An item whose callable is a type of its own for each `Kind`, named with the number by every
// compiler (a lambda is named by its file and line with Clang).
template<int Kind> struct KindItem
{
    std::atomic<int> *ran;
    void operator()() const { ++*ran; }
};
template<int Kind> void postKind(CurrentThreadExecutor &executor, std::atomic<int> &ran)
{
    executor.post(KindItem<Kind> { &ran });
}
template<int... Kinds>
constexpr std::array<void (*)(CurrentThreadExecutor &, std::atomic<int> &), sizeof...(Kinds)>
postersOf(std::integer_sequence<int, Kinds...>)
{
    return { &postKind<Kinds>... };
}

} // namespace

class TestTrace : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void x12_floodFromFourThreads();
    void x12_manyNamesAtOnce();
    void x12_waitsOfEveryKind();
    void x12_aWaitUnderWayAtTheStopIsWrittenUpToIt();
    void x12_boundKeepsTheNewestAndCountsTheRest();
    void x12_malformedMaxEventsWarnsAndKeepsTheDefault();
    void x12_startedAndStoppedDuringAFlood();
    void x12_unwritableFileIsFalseAndAWarning();
    void x12_startWhileTracingAndStopWhileNot();
    void x12_anItemRunningWhenATraceStartsIsShownFromItsStart();
    void x12_environment_data();
    void x12_environment();

    void x12_child_environment();

private:
    QTemporaryDir m_dir;
    QString path(const QString &name) const { return m_dir.filePath(name); }
};

void TestTrace::init()
{
    QVERIFY(m_dir.isValid());
    qunsetenv("QDISPATCH_TRACE_MAX_EVENTS");
}

void TestTrace::cleanup()
{
    // A failed check may leave a trace running: the next test must start its own.
    if (QTest::currentTestFailed())
        (void)stopTrace();
}

// X12: items submitted by four threads at once, to an executor made before the trace started:
// each run is a complete event on the owner's thread, each has one flow from its submitter's
// thread, none missing and none doubled; the wait that ran them is there too.
void TestTrace::x12_floodFromFourThreads()
{
    if (isChild())
        QSKIP("the parent's test");
    constexpr int kProducers = 4;
    constexpr int kEach = 5000;
    CurrentThreadExecutor executor; // before the trace: traced too
    const QString file = path(QStringLiteral("flood.json"));
    QVERIFY(startTrace(file));

    std::atomic<int> ran { 0 };
    std::atomic<int> elsewhere { 0 };
    StartedPromise<void> allRan;
    FinishOnExit finish { allRan };
    Semaphore go;
    std::vector<std::unique_ptr<NamedThread>> producers;
    for (int p = 0; p < kProducers; ++p) {
        producers.push_back(namedThread(QStringLiteral("producer %1").arg(p), [&] {
            go.acquire();
            for (int i = 0; i < kEach; ++i) {
                executor.submit([&] {
                    if (QThread::currentThread() != executor.thread())
                        ++elsewhere;
                    if (++ran == kProducers * kEach)
                        allRan.finish();
                });
            }
        }));
        producers.back()->start();
    }
    go.release(kProducers);
    QVERIFY(executor.runUntilFuture(allRan.future(), QDeadlineTimer(kJoinMs)));
    for (auto &producer : producers)
        QVERIFY(producer->join(kJoinMs));
    QVERIFY(stopTrace());
    QCOMPARE(elsewhere.load(), 0);

    Trace trace;
    VERIFY_NO_PROBLEM(load(file, &trace));
    const qint64 owner = trace.tidNamed(QStringLiteral("(main)"));
    QVERIFY2(owner >= 0, "no thread_name for the main thread");
    QCOMPARE(trace.items.size(), kProducers * kEach);
    QCOMPARE(trace.starts.size(), kProducers * kEach);
    QCOMPARE(trace.finishes.size(), kProducers * kEach);
    QCOMPARE(trace.other.value(QLatin1String("droppedEvents")).toInteger(), 0);
    for (const QJsonObject &x : trace.items) {
        QCOMPARE(x.value(QLatin1String("tid")).toInteger(), owner);
        QVERIFY(!x.value(QLatin1String("name")).toString().isEmpty());
        QVERIFY(x.value(QLatin1String("dur")).toDouble() >= 0);
        QVERIFY(arg(x, "submitter").startsWith(QLatin1String("thread \"producer ")));
        QVERIFY(arg(x, "executor").startsWith(QLatin1String("0x")));
        QVERIFY(x.value(QLatin1String("args"))
                    .toObject()
                    .value(QLatin1String("delivery_us"))
                    .toDouble(-1) >= 0);
    }
    for (const QJsonObject &f : trace.finishes)
        QCOMPARE(f.value(QLatin1String("tid")).toInteger(), owner);
    // Each producer's thread starts exactly its own items' flows.
    for (int p = 0; p < kProducers; ++p) {
        const qint64 tid = trace.tidNamed(QStringLiteral("\"producer %1\"").arg(p));
        QVERIFY2(tid >= 0, qPrintable(QStringLiteral("no thread_name for producer %1").arg(p)));
        QCOMPARE(trace.threadNames[tid], QStringLiteral("thread \"producer %1\"").arg(p));
        const auto started =
            std::count_if(trace.starts.begin(), trace.starts.end(), [&](const auto &s) {
                return s.value(QLatin1String("tid")).toInteger() == tid;
            });
        QCOMPARE(started, kEach);
    }
    QCOMPARE(trace.waits.size(), 1);
    QCOMPARE(trace.waits.first().value(QLatin1String("name")).toString(),
             QStringLiteral("runUntilFuture (AllEvents)"));
    QCOMPARE(trace.waits.first().value(QLatin1String("tid")).toInteger(), owner);
}

// X12: "each runUntilFuture and invoke wait, as a complete event": a wait that began during the
// trace and is still under way when it stops is written up to the stop, around the items it ran,
// and not again when it ends (found by an outside tester: such a wait was left out).
void TestTrace::x12_aWaitUnderWayAtTheStopIsWrittenUpToIt()
{
    if (isChild())
        QSKIP("the parent's test");
    CurrentThreadExecutor executor;
    const QString file = path(QStringLiteral("open.json"));
    QVERIFY(startTrace(file));
    StartedPromise<void> gate;
    FinishOnExit finish { gate };
    Semaphore lastStarted;
    bool stopped = false;
    auto stopper = namedThread(QStringLiteral("stopper"), [&] {
        for (int i = 0; i < 3; ++i)
            executor.post([] {});
        // Once a fourth has started, the three before it have ended and are recorded.
        executor.post([&] { lastStarted.release(); });
        if (!lastStarted.tryAcquire(1, kJoinMs))
            return;
        stopped = stopTrace();
        gate.finish();
    });
    stopper->start();
    QVERIFY(executor.runUntilFuture(gate.future(), QDeadlineTimer(kJoinMs), RunMode::ExecutorOnly));
    QVERIFY(stopper->join(kJoinMs));
    QVERIFY(stopped);

    Trace trace;
    VERIFY_NO_PROBLEM(load(file, &trace));
    const qint64 owner = trace.tidNamed(QStringLiteral("(main)"));
    QVERIFY(trace.items.size() >= 3);
    QCOMPARE(trace.waits.size(), 1);
    const QJsonObject &wait = trace.waits.first();
    QCOMPARE(wait.value(QLatin1String("name")).toString(),
             QStringLiteral("runUntilFuture (ExecutorOnly)"));
    QCOMPARE(wait.value(QLatin1String("tid")).toInteger(), owner);
    const double waitStart = wait.value(QLatin1String("ts")).toDouble();
    const double waitEnd = waitStart + wait.value(QLatin1String("dur")).toDouble();
    for (const QJsonObject &x : trace.items) {
        const double start = x.value(QLatin1String("ts")).toDouble();
        QVERIFY(start >= waitStart);
        QVERIFY(start + x.value(QLatin1String("dur")).toDouble() <= waitEnd);
    }
}

// X12: a chunk of records keeps each name (item, executor, submitter) once, in a table of its own
// that 2 producers x 100 item types, posted in turn, overflow again and again: each run still
// carries its own item's name and submitter, none missing and none doubled.
void TestTrace::x12_manyNamesAtOnce()
{
    if (isChild())
        QSKIP("the parent's test");
    constexpr int kRounds = 20;
    constexpr auto kPosters = postersOf(std::make_integer_sequence<int, 100>());
    constexpr int kProducers = 2;
    constexpr int kItems = kProducers * kRounds * int(kPosters.size());
    CurrentThreadExecutor executor;
    const QString file = path(QStringLiteral("names.json"));
    QVERIFY(startTrace(file));
    std::atomic<int> ran { 0 };
    std::vector<std::unique_ptr<NamedThread>> producers;
    for (int p = 0; p < kProducers; ++p) {
        producers.push_back(namedThread(QStringLiteral("producer %1").arg(p), [&] {
            for (int round = 0; round < kRounds; ++round) {
                for (const auto post : kPosters)
                    post(executor, ran);
            }
        }));
        producers.back()->start();
    }
    for (auto &producer : producers)
        QVERIFY(producer->join(kJoinMs));
    QVERIFY(QTest::qWaitFor([&] { return ran.load() == kItems; }, kJoinMs));
    QVERIFY(stopTrace());

    Trace trace;
    VERIFY_NO_PROBLEM(load(file, &trace));
    QCOMPARE(trace.items.size(), kItems);
    QCOMPARE(trace.finishes.size(), kItems);
    std::map<std::pair<QString, int>, int> runs; // (submitter, kind): runs
    const QRegularExpression kind(QStringLiteral("KindItem<(\\d+)>"));
    const QString executorText = arg(trace.items.first(), "executor");
    for (const QJsonObject &x : trace.items) {
        const QString name = x.value(QLatin1String("name")).toString();
        const QRegularExpressionMatch match = kind.match(name);
        QVERIFY2(match.hasMatch(), qPrintable(name));
        QCOMPARE(arg(x, "executor"), executorText);
        ++runs[{ arg(x, "submitter"), match.captured(1).toInt() }];
    }
    QCOMPARE(runs.size(), size_t(kProducers) * kPosters.size());
    for (const auto &[key, count] : runs) {
        QVERIFY2(key.first.startsWith(QLatin1String("thread \"producer ")), qPrintable(key.first));
        QCOMPARE(count, kRounds);
    }
}

// X12: every kind of wait is a complete event of category qdispatch.wait on the waiting thread:
// runUntilFuture() in each mode, invoke() from a thread without an executor, and invoke() from a
// thread with one.
void TestTrace::x12_waitsOfEveryKind()
{
    if (isChild())
        QSKIP("the parent's test");
    CurrentThreadExecutor executor;
    const QString file = path(QStringLiteral("waits.json"));
    QVERIFY(startTrace(file));
    // A wait that is certain to wait: its future is finished by an item that a worker sends
    // only once the wait is under way (it runs inside the wait).
    for (const RunMode mode : kModes) {
        StartedPromise<void> promise;
        FinishOnExit finish { promise };
        Semaphore go;
        auto worker = namedThread(QStringLiteral("sender"), [&] {
            go.acquire();
            executor.post([&] { promise.finish(); });
        });
        worker->start();
        go.release();
        QVERIFY(executor.runUntilFuture(promise.future(), QDeadlineTimer(kJoinMs), mode));
        QVERIFY(worker->join(kJoinMs));
    }
    // invoke() from a thread without an executor, then from one with its own.
    for (const bool ownExecutor : { false, true }) {
        StartedPromise<void> done;
        FinishOnExit finish { done };
        auto worker = namedThread(
            ownExecutor ? QStringLiteral("invoker with executor") : QStringLiteral("invoker"), [&] {
                std::unique_ptr<CurrentThreadExecutor> own;
                if (ownExecutor)
                    own = std::make_unique<CurrentThreadExecutor>();
                executor.invoke([] {});
                done.finish();
            });
        worker->start();
        QVERIFY(executor.runUntilFuture(done.future(), QDeadlineTimer(kJoinMs)));
        QVERIFY(worker->join(kJoinMs));
    }
    QVERIFY(stopTrace());

    Trace trace;
    VERIFY_NO_PROBLEM(load(file, &trace));
    const qint64 owner = trace.tidNamed(QStringLiteral("(main)"));
    const auto waitsNamed = [&](const QString &name, qint64 tid) {
        return std::count_if(trace.waits.begin(), trace.waits.end(), [&](const QJsonObject &w) {
            return w.value(QLatin1String("name")).toString() == name &&
                w.value(QLatin1String("tid")).toInteger() == tid &&
                w.value(QLatin1String("dur")).toDouble(-1) >= 0;
        });
    };
    QCOMPARE(waitsNamed(QStringLiteral("runUntilFuture (ExcludeUserInput)"), owner), 1);
    QCOMPARE(waitsNamed(QStringLiteral("runUntilFuture (ExecutorOnly)"), owner), 1);
    // One per mode loop above, and one per invoke() loop.
    QCOMPARE(waitsNamed(QStringLiteral("runUntilFuture (AllEvents)"), owner), 3);
    QCOMPARE(waitsNamed(QStringLiteral("invoke"), trace.tidNamed(QStringLiteral("\"invoker\""))),
             1);
    QCOMPARE(waitsNamed(QStringLiteral("invoke"),
                        trace.tidNamed(QStringLiteral("\"invoker with executor\""))),
             1);
    QCOMPARE(trace.waits.size(), 7);
}

// X12: with QDISPATCH_TRACE_MAX_EVENTS set, at most that many events are kept, the newest, and
// droppedEvents says exactly how many went: kept + dropped = made.
void TestTrace::x12_boundKeepsTheNewestAndCountsTheRest()
{
    if (isChild())
        QSKIP("the parent's test");
    constexpr int kItems = 3000; // 3 events each: far over the bound, many chunks
    constexpr int kMax = 1000;
    qputenv("QDISPATCH_TRACE_MAX_EVENTS", QByteArray::number(kMax));
    CurrentThreadExecutor executor;
    const QString file = path(QStringLiteral("bound.json"));
    QVERIFY(startTrace(file));
    qunsetenv("QDISPATCH_TRACE_MAX_EVENTS"); // read when the trace started
    std::atomic<int> ran { 0 };
    StartedPromise<void> allRan;
    FinishOnExit finish { allRan };
    auto producer = namedThread(QStringLiteral("producer"), [&] {
        for (int i = 0; i < kItems; ++i) {
            executor.post([&] {
                if (++ran == kItems)
                    allRan.finish();
            });
        }
    });
    producer->start();
    QVERIFY(executor.runUntilFuture(allRan.future(), QDeadlineTimer(kJoinMs)));
    QVERIFY(producer->join(kJoinMs));
    QVERIFY(stopTrace());

    Trace trace;
    VERIFY_NO_PROBLEM(load(file, &trace));
    const qint64 made = 3 * kItems + 1; // a flow start, a run and a flow finish each; the wait
    const qint64 dropped = trace.other.value(QLatin1String("droppedEvents")).toInteger(-1);
    QCOMPARE(trace.other.value(QLatin1String("maxEvents")).toInteger(), kMax);
    QVERIFY2(trace.events <= kMax, qPrintable(QString::number(trace.events)));
    QCOMPARE(trace.events + dropped, made);
    // The newest runs stay. How many of them keep their flows depends on how far the producer
    // ran ahead of the owner: a flow whose start was dropped is dropped whole, counted above.
    QVERIFY(!trace.items.isEmpty());
    QVERIFY(trace.items.size() + trace.starts.size() + trace.finishes.size() + trace.waits.size() ==
            trace.events);
}

// X12: a malformed QDISPATCH_TRACE_MAX_EVENTS gives one warning, and the default bound.
void TestTrace::x12_malformedMaxEventsWarnsAndKeepsTheDefault()
{
    if (isChild())
        QSKIP("the parent's test");
    for (const char *value : { "many", "-5", "0", "1e6" }) {
        qputenv("QDISPATCH_TRACE_MAX_EVENTS", value);
        QTest::ignoreMessage(
            QtWarningMsg,
            qPrintable(QStringLiteral("QDispatch: ignoring QDISPATCH_TRACE_MAX_EVENTS=\"%1\": "
                                      "expected a whole number of events from 1 to "
                                      "999999999999; the trace keeps at most 1000000.")
                           .arg(QLatin1String(value))));
        const QString file = path(QStringLiteral("malformed.json"));
        QVERIFY(startTrace(file));
        QVERIFY(stopTrace());
        Trace trace;
        VERIFY_NO_PROBLEM(load(file, &trace));
        QCOMPARE(trace.other.value(QLatin1String("maxEvents")).toInteger(), 1000000);
    }
}

// X12: a trace started and stopped while four threads flood an executor, three times over:
// every file is whole (no flow without both ends, no item twice), whatever was queued or
// running when it started or stopped.
void TestTrace::x12_startedAndStoppedDuringAFlood()
{
    if (isChild())
        QSKIP("the parent's test");
    constexpr int kProducers = 4;
    constexpr int kRounds = 3;
    constexpr int kTick = 500; // items between two progress tokens
    CurrentThreadExecutor executor;
    std::atomic<bool> stop { false };
    std::atomic<int> ran { 0 };
    Semaphore progress;
    StartedPromise<void> finished;
    FinishOnExit finish { finished };
    std::vector<std::unique_ptr<NamedThread>> producers;
    for (int p = 0; p < kProducers; ++p) {
        producers.push_back(namedThread(QStringLiteral("flooder %1").arg(p), [&] {
            while (!stop.load()) {
                for (int i = 0; i < 100; ++i) {
                    executor.post([&] {
                        if (++ran % kTick == 0)
                            progress.release();
                    });
                }
                // Keeps the backlog bounded without ordering anything.
                while (!stop.load() && executor.pendingCount() > 20000)
                    QThread::yieldCurrentThread();
            }
        }));
        producers.back()->start();
    }
    QStringList files;
    auto toggler = namedThread(QStringLiteral("toggler"), [&] {
        for (int round = 0; round < kRounds; ++round) {
            if (!progress.tryAcquire(2, kJoinMs))
                break;
            const QString file = path(QStringLiteral("toggle%1.json").arg(round));
            if (!startTrace(file))
                break;
            files.append(file);
            // Tokens pile up while nobody takes them: count the items instead.
            const int target = ran.load() + 4 * kTick;
            bool more = true;
            while (more && ran.load() < target)
                more = progress.tryAcquire(1, kJoinMs);
            if (!stopTrace() || !more)
                break;
        }
        stop.store(true);
        executor.post([&] { finished.finish(); });
    });
    toggler->start();
    QVERIFY(executor.runUntilFuture(finished.future(), QDeadlineTimer(kJoinMs)));
    QVERIFY(toggler->join(kJoinMs));
    for (auto &producer : producers)
        QVERIFY(producer->join(kJoinMs));
    executor.runPending();
    QCOMPARE(files.size(), kRounds);
    for (const QString &file : files) {
        Trace trace;
        VERIFY_NO_PROBLEM(load(file, &trace));
        // At least the items that ran whole between the two: all those counted but the first,
        // which may have started just before the trace, and the last, whose record may come
        // after the stop.
        QVERIFY2(trace.items.size() >= 4 * kTick - 2,
                 qPrintable(QStringLiteral("%1: %2 items, %3 flows, %4 waits, other %5")
                                .arg(file)
                                .arg(trace.items.size())
                                .arg(trace.starts.size())
                                .arg(trace.waits.size())
                                .arg(QString::fromUtf8(
                                    QJsonDocument(trace.other).toJson(QJsonDocument::Compact)))));
        QCOMPARE(trace.starts.size(), trace.finishes.size());
        QVERIFY(trace.finishes.size() <= trace.items.size());
    }
}

// X12: a file that cannot be written: false and a warning, nothing recorded.
void TestTrace::x12_unwritableFileIsFalseAndAWarning()
{
    if (isChild())
        QSKIP("the parent's test");
    const QString file = path(QStringLiteral("no such directory/trace.json"));
    QTest::ignoreMessage(QtWarningMsg,
                         QRegularExpression(QStringLiteral("^QDispatch: cannot trace into \".*"
                                                           "no such directory/trace.json\": ")));
    QVERIFY(!startTrace(file));
    QTest::ignoreMessage(QtWarningMsg,
                         "QDispatch: stopTrace() ignored: no trace is being recorded");
    QVERIFY(!stopTrace());
    QTest::ignoreMessage(QtWarningMsg,
                         QRegularExpression(QStringLiteral("^QDispatch: cannot trace into \"\"")));
    QVERIFY(!startTrace(QString()));
}

// X12: startTrace() while a trace is recorded is false and a warning, and that trace goes on;
// stopTrace() with none recorded is false and a warning.
void TestTrace::x12_startWhileTracingAndStopWhileNot()
{
    if (isChild())
        QSKIP("the parent's test");
    CurrentThreadExecutor executor;
    const QString first = path(QStringLiteral("first.json"));
    const QString second = path(QStringLiteral("second.json"));
    QVERIFY(startTrace(first));
    QTest::ignoreMessage(QtWarningMsg,
                         QRegularExpression(QStringLiteral(
                             "^QDispatch: startTrace\\(\".*second.json\"\\) ignored: a trace is "
                             "being recorded into .*first.json already")));
    QVERIFY(!startTrace(second));
    QVERIFY(!QFile::exists(second));
    executor.post([] {});
    executor.runPending();
    QVERIFY(stopTrace());
    QTest::ignoreMessage(QtWarningMsg,
                         "QDispatch: stopTrace() ignored: no trace is being recorded");
    QVERIFY(!stopTrace());
    Trace trace;
    VERIFY_NO_PROBLEM(load(first, &trace));
    QCOMPARE(trace.items.size(), 1);
}

// X12: an item that a trace saw begin and that still runs when that trace stops and the next
// one starts is in the next trace from its start (it wrote a negative ts), without a flow.
void TestTrace::x12_anItemRunningWhenATraceStartsIsShownFromItsStart()
{
    if (isChild())
        QSKIP("the parent's test");
    CurrentThreadExecutor executor;
    const QString first = path(QStringLiteral("before.json"));
    const QString second = path(QStringLiteral("after.json"));
    QVERIFY(startTrace(first));
    Semaphore itemStarted;
    Semaphore secondStarted;
    std::atomic<bool> switched { false };
    auto switcher = namedThread(QStringLiteral("switcher"), [&] {
        const ReleaseOnExit release { secondStarted };
        if (itemStarted.tryAcquire(1, kHandshakeMs))
            switched = stopTrace() && startTrace(second);
    });
    switcher->start();
    StartedPromise<void> ran;
    executor.post([&] {
        itemStarted.release();
        (void)secondStarted.tryAcquire(1, kHandshakeMs);
        ran.finish();
    });
    QVERIFY(executor.runUntilFuture(ran.future(), joinDeadline()));
    QVERIFY(switcher->join(kJoinMs));
    QVERIFY(switched);
    QVERIFY(stopTrace());
    Trace before;
    VERIFY_NO_PROBLEM(load(first, &before));
    QCOMPARE(before.items.size(), 0); // it had not ended
    Trace after;
    VERIFY_NO_PROBLEM(load(second, &after)); // no event before its start
    QCOMPARE(after.items.size(), 1);
    QCOMPARE(after.items.first().value(QLatin1String("ts")).toDouble(-1), 0.0);
    QCOMPARE(after.starts.size(), 0); // it was accepted before this trace
}

void TestTrace::x12_environment_data()
{
    addColumns<QString, QByteArray, bool, int>({ "how", "maxEvents", "writable", "expectedMax" });
    QTest::newRow("return from main")
        << QStringLiteral("return") << QByteArray() << true << 1000000;
    QTest::newRow("std::exit") << QStringLiteral("exit") << QByteArray() << true << 1000000;
    QTest::newRow("stopTrace") << QStringLiteral("stop") << QByteArray() << true << 1000000;
    QTest::newRow("max events") << QStringLiteral("return") << QByteArray("50") << true << 50;
    QTest::newRow("malformed max events")
        << QStringLiteral("return") << QByteArray("lots") << true << 1000000;
    QTest::newRow("unwritable") << QStringLiteral("return") << QByteArray() << false << 0;
}

// X12: QDISPATCH_TRACE traces from the first executor on and writes the file at a normal exit
// (a return from main(), std::exit()) or at stopTrace(); QDISPATCH_TRACE_MAX_EVENTS bounds it,
// a malformed value warns once and keeps the default; an unwritable file warns and the program
// goes on. Each row is a child process running x12_child_environment.
void TestTrace::x12_environment()
{
    if (isChild())
        QSKIP("the parent's test");
    QFETCH(QString, how);
    QFETCH(QByteArray, maxEvents);
    QFETCH(bool, writable);
    QFETCH(int, expectedMax);
    const QString file = writable ? path(QStringLiteral("env-%1.json")
                                             .arg(QString::fromLatin1(QTest::currentDataTag())
                                                      .replace(QLatin1Char(' '), QLatin1Char('-'))))
                                  : path(QStringLiteral("missing/env.json"));
    std::map<QString, QString> env { { QStringLiteral("QDISPATCH_TRACE"), file },
                                     { QStringLiteral("X12_HOW"), how } };
    if (!maxEvents.isNull())
        env[QStringLiteral("QDISPATCH_TRACE_MAX_EVENTS")] = QString::fromLatin1(maxEvents);
    if (!writable)
        env[QStringLiteral("X12_UNWRITABLE")] = QStringLiteral("1");
    QString output;
    VERIFY_NO_PROBLEM(runChild("x12_child_environment", env, &output));
    // The warnings come when the first executor is made (the main thread's, with the
    // application), before any test function could expect them: counted here.
    QCOMPARE(output.count(QLatin1String("QDispatch: ignoring QDISPATCH_TRACE_MAX_EVENTS=\"lots\": "
                                        "expected a whole number")),
             maxEvents == "lots" ? 1 : 0);
    QCOMPARE(output.count(QStringLiteral("QDispatch: cannot trace into \"%1\": ").arg(file)),
             writable ? 0 : 1);
    if (!writable) {
        QVERIFY(!QFile::exists(file));
        return;
    }
    Trace trace;
    VERIFY_NO_PROBLEM(load(file, &trace));
    QCOMPARE(trace.other.value(QLatin1String("maxEvents")).toInteger(), expectedMax);
    constexpr int kItems = 100; // as the child submits
    const qint64 dropped = trace.other.value(QLatin1String("droppedEvents")).toInteger(-1);
    QCOMPARE(trace.events + dropped, 3 * kItems + 1);
    if (expectedMax >= 3 * kItems + 1) {
        QCOMPARE(dropped, 0);
        QCOMPARE(trace.items.size(), kItems);
        QCOMPARE(trace.finishes.size(), kItems);
        const qint64 worker = trace.tidNamed(QStringLiteral("\"child worker\""));
        QVERIFY(worker >= 0);
        for (const QJsonObject &s : trace.starts)
            QCOMPARE(s.value(QLatin1String("tid")).toInteger(), worker);
    } else {
        QVERIFY(trace.events <= expectedMax);
    }
}

void TestTrace::x12_child_environment()
{
    if (!isChild())
        QSKIP("runs as a child process of x12_environment");
    const QByteArray how = qgetenv("X12_HOW");
    constexpr int kItems = 100;
    CurrentThreadExecutor executor; // the first executor of the process: the trace starts
    std::atomic<int> ran { 0 };
    StartedPromise<void> allRan;
    FinishOnExit finish { allRan };
    auto worker = namedThread(QStringLiteral("child worker"), [&] {
        for (int i = 0; i < kItems; ++i) {
            executor.post([&] {
                if (++ran == kItems)
                    allRan.finish();
            });
        }
    });
    worker->start();
    QVERIFY(executor.runUntilFuture(allRan.future(), QDeadlineTimer(kJoinMs)));
    QVERIFY(worker->join(kJoinMs));
    if (qEnvironmentVariableIsSet("X12_UNWRITABLE")) {
        QTest::ignoreMessage(QtWarningMsg,
                             "QDispatch: stopTrace() ignored: no trace is being recorded");
        QVERIFY(!stopTrace());
        return;
    }
    if (how == "stop") {
        QVERIFY(stopTrace());
    } else if (how == "exit") {
        std::fflush(stdout);
        std::exit(0);
    }
    // "return": the file is written when main() returns.
}

QTEST_GUILESS_MAIN(TestTrace)
#include "tst_trace.moc"

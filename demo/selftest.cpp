#include "selftest.h"

#include "mainwindow.h"
#include "slowreports.h"
#include "traffic.h"

#include <qdispatch/currentthreadexecutor.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QFile>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QPromise>
#include <QtCore/QRegularExpression>
#include <QtGui/QGuiApplication>
#include <QtGui/QPixmap>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace {

// Generous limits: a step takes well under a second; these only turn a hang into a failure.
constexpr auto kStepLimit = std::chrono::seconds(30);
constexpr int kSentTimeoutMs = 30'000;
constexpr qint64 kCloseLimitMs = 5'000;
// The worst lateness of the 16 ms timer allowed during the flood: a sanity bound. Time slices
// are 4 ms, so a few ms is normal, but on a loaded machine (CTest runs tests in parallel) the OS
// alone can hold the GUI thread back for 100 ms. The check that catches a GUI thread that does
// not yield during the flood, on any machine, is the tick count (see flood()).
constexpr double kLatenessLimitMs = 400.0;
constexpr int kFloodProducers = 2;
constexpr int kFloodItemsEach = 250'000;

// Exits the process with 1 when a step runs past its limit: a deadlocked GUI thread cannot
// report its own failure.
class Watchdog
{
public:
    Watchdog() : m_thread([this] { watch(); }) { }
    ~Watchdog()
    {
        {
            std::lock_guard lock(m_mutex);
            m_quit = true;
        }
        m_changed.notify_all();
        m_thread.join();
    }
    Watchdog(const Watchdog &) = delete;
    Watchdog &operator=(const Watchdog &) = delete;

    void arm(const std::string &step)
    {
        std::lock_guard lock(m_mutex);
        m_step = step;
        m_deadline = std::chrono::steady_clock::now() + kStepLimit;
        m_armed = true;
        m_changed.notify_all();
    }
    void disarm()
    {
        std::lock_guard lock(m_mutex);
        m_armed = false;
        m_changed.notify_all();
    }

private:
    void watch()
    {
        std::unique_lock lock(m_mutex);
        while (!m_quit) {
            if (!m_armed) {
                m_changed.wait(lock);
                continue;
            }
            if (m_changed.wait_until(lock, m_deadline) == std::cv_status::timeout && m_armed &&
                std::chrono::steady_clock::now() >= m_deadline) {
                std::printf("FAIL  [%s] did not finish within %lld s: the GUI thread is stuck "
                            "(a deadlock?)\n\nself-test FAILED\n",
                            m_step.c_str(), static_cast<long long>(kStepLimit.count()));
                std::fflush(stdout);
                std::_Exit(1);
            }
        }
    }

    std::mutex m_mutex;
    std::condition_variable m_changed;
    std::string m_step;
    std::chrono::steady_clock::time_point m_deadline;
    bool m_armed = false;
    bool m_quit = false;
    std::thread m_thread; // last: starts once the members above exist
};

// Runs the GUI thread (events and items) until the window's timer has ticked `count` times.
// Ordered by the timer itself, not by a sleep.
void waitForTicks(MainWindow &window, int count)
{
    QPromise<void> done;
    done.start();
    int seen = 0;
    const QMetaObject::Connection connection =
        QObject::connect(&window, &MainWindow::ticked, &window, [&] {
            if (++seen == count)
                done.finish();
        });
    qdispatch::mainThreadExecutor()->runUntilFuture(done.future());
    QObject::disconnect(connection);
}

class SelfTest
{
public:
    int run();

private:
    void renderAndWait(MainWindow &window);
    void flood(MainWindow &window);
    void cancel(MainWindow &window);
    void slowItem(MainWindow &window);
    void timeline(MainWindow &window);
    void closeMidWork();
    void closeDuringWait();

    void begin(const char *step);
    void check(bool ok, const QString &text);
    // Runs everything queued on the GUI thread now, and the events pending.
    void drainGuiThread();

    qdispatch::CurrentThreadExecutor &m_gui = *qdispatch::mainThreadExecutor();
    Watchdog m_watchdog;
    const char *m_step = "";
    QElapsedTimer m_stepClock;
    int m_checks = 0;
    int m_failures = 0;
};

int SelfTest::run()
{
    std::printf("QDispatch demo self-test (Qt platform: %s)\n",
                qPrintable(QGuiApplication::platformName()));
    QElapsedTimer total;
    total.start();

    {
        MainWindow window;
        window.renderer().setSupersampling(1); // one point per pixel: the checks need no beauty
        window.show();
        renderAndWait(window);
        flood(window);
        cancel(window);
        slowItem(window);
        timeline(window);
        begin("shutdown");
        window.close();
    }
    closeMidWork();
    closeDuringWait();

    begin("totals");
    drainGuiThread();
    const Traffic &t = traffic();
    check(t.depth() == 0,
          QStringLiteral("every item the demo sent ran or was cancelled (sent %1 = ran %2 + "
                         "cancelled %3)")
              .arg(t.sent.load())
              .arg(t.ran.load())
              .arg(t.cancelled.load()));
    const qdispatch::ExecutorStats s = m_gui.stats(); // X10
    check(m_gui.pendingCount() == 0 && s.accepted == s.run + s.cancelled + s.handedOff + s.failed,
          QStringLiteral("every item the GUI thread's executor accepted ran or was cancelled "
                         "(accepted %1 = ran %2 + cancelled %3; %4 pending; at most %5 were "
                         "queued at once)")
              .arg(s.accepted)
              .arg(s.run)
              .arg(s.cancelled)
              .arg(m_gui.pendingCount())
              .arg(s.peakPending));
    m_watchdog.disarm();

    std::printf("\n%d checks, %d failed, %.2f s\nself-test %s\n", m_checks, m_failures,
                double(total.elapsed()) / 1000.0, m_failures == 0 ? "PASSED" : "FAILED");
    std::fflush(stdout);
    return m_failures == 0 ? 0 : 1;
}

// The GUI thread waits for the render with runUntilFuture() while the workers call into it.
void SelfTest::renderAndWait(MainWindow &window)
{
    begin("render + wait");
    TileRenderer &renderer = window.renderer();
    // The workers wait before their first tile until the GUI thread is inside the wait and its
    // timer has ticked three times there. So every tile arrives during the wait, and the
    // ticks are proof that the window kept running meanwhile. If the wait blocked the GUI
    // thread, nothing would release the workers: the watchdog reports the deadlock.
    window.setPaused(true);
    window.startRender();
    int ticksInWait = 0;
    const QMetaObject::Connection release =
        QObject::connect(&window, &MainWindow::ticked, &window, [&] {
            if (window.isWaiting() && ++ticksInWait == 3)
                window.setPaused(false);
        });
    const MainWindow::WaitReport report = window.waitForEverything();
    QObject::disconnect(release);

    const TileRenderer::Counts c = renderer.counts();
    check(report.waited && report.ticks >= 3,
          QStringLiteral("the 16 ms timer ticked %1 times while the GUI thread waited "
                         "(the spinner moved)")
              .arg(report.ticks));
    check(c.shown == renderer.tileCount() && report.tilesArrived == renderer.tileCount(),
          QStringLiteral("all %1 tiles arrived during the wait (%2 shown, %3 during the wait, "
                         "%4 ms)")
              .arg(renderer.tileCount())
              .arg(c.shown)
              .arg(report.tilesArrived)
              .arg(report.milliseconds));
    check(c.offGuiThread == 0,
          QStringLiteral("every tile delivery ran on the GUI thread (%1 elsewhere)")
              .arg(c.offGuiThread));
    bool allFull = true;
    for (int w = 0; w < TileRenderer::kWorkers; ++w)
        allFull = allFull && window.progressPermille(w) == 1000;
    check(allFull,
          QStringLiteral("every progress bar ends at 100%: postLatest kept the latest update"));
}

// A burst of posts from two threads while the 16 ms timer measures its own lateness.
void SelfTest::flood(MainWindow &window)
{
    begin("flood");
    Flood &flood = window.flood();
    window.startFlood(kFloodProducers, kFloodItemsEach); // resets the worst lateness
    const quint64 ticksBefore = window.ticks();
    QElapsedTimer clock;
    clock.start();
    // Returns once the producers are done and everything they posted has run (C8).
    m_gui.runUntilFuture(flood.producers());
    const qint64 ms = clock.elapsed();
    const quint64 ticks = window.ticks() - ticksBefore;
    // A timer that could not fire during the flood shows its lateness at its next tick.
    waitForTicks(window, 1);

    check(flood.ran() == flood.requested() && flood.posted() == flood.requested(),
          QStringLiteral("all %1 flood items ran (%2 posted, %3 ran, %4 ms)")
              .arg(flood.requested())
              .arg(flood.posted())
              .arg(flood.ran())
              .arg(ms));
    check(flood.itemsPerSecond() > 0,
          QStringLiteral("items/s measured on the GUI thread: %1")
              .arg(flood.itemsPerSecond(), 0, 'f', 0));
    check(window.maxLatenessMs() < kLatenessLimitMs,
          QStringLiteral("the GUI timer was at most %1 ms late during the flood (limit %2 ms)")
              .arg(window.maxLatenessMs(), 0, 'f', 1)
              .arg(kLatenessLimitMs, 0, 'f', 0));
    // Independent of the machine's speed: however long the flood took, the timer must have
    // fired at least once per 8 intervals (128 ms) on average. Not at every interval: on a
    // loaded machine the OS does not always run the GUI thread when its timer is due. A GUI
    // thread that runs the flood without yielding gets no tick at all until it is over.
    const qint64 expected = ms / (8 * MainWindow::kTimerIntervalMs);
    check(qint64(ticks) >= expected,
          QStringLiteral("the GUI timer kept firing during the flood: %1 ticks in %2 ms "
                         "(at least %3)")
              .arg(ticks)
              .arg(ms)
              .arg(expected));
}

// Cancel while tile deliveries are queued: none of the cancelled ones may run.
void SelfTest::cancel(MainWindow &window)
{
    begin("cancel");
    TileRenderer &renderer = window.renderer();
    window.startRender();
    // The GUI thread runs no events from here to cancelWork(), so every delivery the workers
    // hand over meanwhile stays queued. Wait until there are at least four (each worker may
    // queue three before it has to wait for the GUI thread).
    const bool sent = renderer.waitUntilSent(4, kSentTimeoutMs);
    const int cancelled = window.cancelWork();
    m_gui.runUntilFuture(renderer.job()); // the workers stop; the queue is run or skipped

    const TileRenderer::Counts c = renderer.counts();
    check(sent && cancelled >= 4,
          QStringLiteral("Cancel cancelled %1 queued tile deliveries (at least 4 were queued)")
              .arg(cancelled));
    check(c.cancelledButRan == 0 && c.shown == 0,
          QStringLiteral("none of the cancelled deliveries ran (%1 did; %2 tiles shown)")
              .arg(c.cancelledButRan)
              .arg(c.shown));
    check(renderer.job().isFinished() && c.rendered < renderer.tileCount() &&
              TileRenderer::runningWorkers() == 0,
          QStringLiteral("the workers stopped early: %1 of %2 tiles rendered, %3 workers "
                         "still running")
              .arg(c.rendered)
              .arg(renderer.tileCount())
              .arg(TileRenderer::runningWorkers()));
}

// "Slow item": the GUI thread is kept busy by one item, and QDispatch's slow-item report (X10)
// reaches the window's panel naming it.
void SelfTest::slowItem(MainWindow &window)
{
    begin("slow item");
    const int before = slowReports().count();
    QString named;
    QPromise<void> reported;
    reported.start();
    const QMetaObject::Connection connection =
        QObject::connect(&slowReports(), &SlowReports::reported, &window, [&](const QString &text) {
            // The report about this item names the function that wrote its lambda (GCC) or its
            // file and line (Clang); the flood's late deliveries may be reported too.
            if (named.isEmpty() &&
                (text.contains(QLatin1String("MainWindow::runSlowItem()")) ||
                 text.contains(QLatin1String("mainwindow.cpp:")))) {
                named = text;
                reported.finish();
            }
        });
    window.runSlowItem();
    const bool seen = m_gui.runUntilFuture(reported.future(), QDeadlineTimer(kSentTimeoutMs));
    QObject::disconnect(connection);
    check(seen && slowReports().count() > before &&
              named.contains(QLatin1String("slow item on thread ")) &&
              named.contains(
                  QStringLiteral("(run threshold %1 ms)").arg(m_gui.slowRunThreshold().count())),
          QStringLiteral("a slow-item report named the item: %1").arg(named));
    // stats() keeps the longest run since the executor began: this item's, unless another ran
    // longer still (on a loaded machine, under a sanitizer, a tile delivery of an earlier step
    // can), and then at least as long as this one.
    const qdispatch::ExecutorStats s = m_gui.stats();
    const QRegularExpressionMatch ran =
        QRegularExpression(QStringLiteral("it ran ([0-9.]+) ms")).match(named);
    const double ranMs = ran.hasMatch() ? ran.captured(1).toDouble() : 0.0;
    const double longestMs = double(s.longestRun.count()) / 1e6;
    // The report gives a tenth of a millisecond; both come from the same clock's readings.
    const double slackMs = 0.1 + double(m_gui.slowItemTimeResolution().count()) / 1e6;
    check(
        ranMs >= MainWindow::kSlowItemMs && longestMs >= ranMs - slackMs,
        QStringLiteral("stats() kept the longest run: %1 ms, by %2 (this item ran %3 ms)")
            .arg(longestMs, 0, 'f', 1)
            .arg(named.contains(s.longestRunItem) ? QStringLiteral("this item") : s.longestRunItem)
            .arg(ranMs, 0, 'f', 1));
}

// "Record timeline": a trace (X12) recorded while a small flood runs, written where the window
// says, holding the flood's items as complete events with their flows.
void SelfTest::timeline(MainWindow &window)
{
    begin("timeline");
    QString path;
    bool written = false;
    QPromise<void> done;
    done.start();
    const QMetaObject::Connection connection = QObject::connect(
        &window, &MainWindow::timelineWritten, &window, [&](const QString &file, bool ok) {
            path = file;
            written = ok;
            done.finish();
        });
    window.recordTimeline(500);
    window.startFlood(2, 5000);
    const bool finished = m_gui.runUntilFuture(done.future(), QDeadlineTimer(kSentTimeoutMs));
    QObject::disconnect(connection);
    check(finished && written, QStringLiteral("the timeline was written to %1").arg(path));
    QFile file(path);
    const QJsonObject root = file.open(QIODevice::ReadOnly)
        ? QJsonDocument::fromJson(file.readAll()).object()
        : QJsonObject();
    int runs = 0;
    int flows = 0;
    for (const QJsonValue &event : root.value(QLatin1String("traceEvents")).toArray()) {
        const QString ph = event.toObject().value(QLatin1String("ph")).toString();
        runs += ph == QLatin1String("X") ? 1 : 0;
        flows += ph == QLatin1String("f") ? 1 : 0;
    }
    check(runs > 0 && flows > 0,
          QStringLiteral("it holds %1 complete events and %2 flows").arg(runs).arg(flows));
    file.remove();
}

// Close a second window while its workers and a flood are busy.
void SelfTest::closeMidWork()
{
    begin("close mid-work");
    auto window = std::make_unique<MainWindow>();
    window->renderer().setSupersampling(1);
    window->show();
    window->startFlood(kFloodProducers, kFloodItemsEach);
    window->startRender();
    // Let it work until a dozen tiles are on screen, then close it at once. The workers, the
    // flood producers and the GUI thread's queue are all busy at that moment.
    QPromise<void> someShown;
    someShown.start();
    QObject::connect(&window->renderer(), &TileRenderer::tileShown, window.get(), [&] {
        if (window->renderer().counts().shown == 12)
            someShown.finish();
    });
    const bool started = m_gui.runUntilFuture(someShown.future(), QDeadlineTimer(kSentTimeoutMs));
    const int shown = window->renderer().counts().shown;
    const int tiles = window->renderer().tileCount();
    QElapsedTimer clock;
    clock.start();
    window->close();
    window.reset();
    const qint64 ms = clock.elapsed();

    check(started && shown < tiles,
          QStringLiteral("the window was closed mid-work (%1 of %2 tiles shown)")
              .arg(shown)
              .arg(tiles));
    check(ms < kCloseLimitMs,
          QStringLiteral("closing and destroying it took %1 ms (limit %2 ms)")
              .arg(ms)
              .arg(kCloseLimitMs));
    check(TileRenderer::runningWorkers() == 0,
          QStringLiteral("no worker is running after the close (%1)")
              .arg(TileRenderer::runningWorkers()));
    // Nothing can run after the window is gone: its items have it as their context (X8). That
    // nothing was skipped either, the final depth() check in "totals" shows.
    drainGuiThread();
}

// Close a window while its GUI thread is inside runUntilFuture() (nested: closeEvent waits
// for the workers again, inside the wait the button started).
void SelfTest::closeDuringWait()
{
    begin("close during wait");
    auto window = std::make_unique<MainWindow>();
    window->renderer().setSupersampling(1);
    window->show();
    window->startFlood(kFloodProducers, kFloodItemsEach);
    int ticksInWait = 0;
    QElapsedTimer sinceClose;
    QObject::connect(window.get(), &MainWindow::ticked, window.get(), [&] {
        if (window->isWaiting() && ++ticksInWait == 3) {
            sinceClose.start();
            window->close();
        }
    });
    const MainWindow::WaitReport report = window->waitForEverything();
    const qint64 ms = sinceClose.isValid() ? sinceClose.elapsed() : -1;
    const int shown = window->renderer().counts().shown;
    const int tiles = window->renderer().tileCount();
    window.reset();

    check(report.waited && ms >= 0 && ms < kCloseLimitMs,
          QStringLiteral("closed inside the wait, the wait returned %1 ms later (limit %2 ms; "
                         "%3 of %4 tiles shown)")
              .arg(ms)
              .arg(kCloseLimitMs)
              .arg(shown)
              .arg(tiles));
    drainGuiThread();
    check(TileRenderer::runningWorkers() == 0,
          QStringLiteral("no worker left running (%1)").arg(TileRenderer::runningWorkers()));
}

void SelfTest::begin(const char *step)
{
    m_step = step;
    m_stepClock.start();
    m_watchdog.arm(step);
}

void SelfTest::check(bool ok, const QString &text)
{
    ++m_checks;
    if (!ok)
        ++m_failures;
    std::printf("%s  [%s] %s  (%lld ms into the step)\n", ok ? "PASS" : "FAIL", m_step,
                qPrintable(text), static_cast<long long>(m_stepClock.elapsed()));
    std::fflush(stdout);
}

void SelfTest::drainGuiThread()
{
    QCoreApplication::processEvents();
    m_gui.runPending(); // runs what is queued now (X10)
}

} // namespace

int runSelfTest()
{
    return SelfTest().run();
}

int takeScreenshot(const QString &file)
{
    qdispatch::CurrentThreadExecutor &gui = *qdispatch::mainThreadExecutor();
    MainWindow window;
    window.show();
    waitForTicks(window, 20); // shown and painted once: the first paint is not the flood's

    // A first flood, so that the graphs have a history, then a render with a second flood.
    window.startFlood();
    gui.runUntilFuture(window.flood().producers());
    waitForTicks(window, 40);
    window.startRender();
    window.startFlood();

    // Keep painting until two thirds of the tiles are in; then pause the workers so that the
    // picture shows work in progress.
    QPromise<void> enough;
    enough.start();
    bool reached = false;
    QObject::connect(&window.renderer(), &TileRenderer::tileShown, &window, [&] {
        TileRenderer &renderer = window.renderer();
        if (!reached && renderer.counts().shown * 3 >= renderer.tileCount() * 2) {
            reached = true;
            window.setPaused(true);
            enough.finish();
        }
    });
    if (!gui.runUntilFuture(enough.future(), QDeadlineTimer(std::chrono::seconds(60)))) {
        std::fprintf(stderr, "screenshot: the render did not get far enough\n");
        return 1;
    }
    gui.runUntilFuture(window.flood().producers());
    window.runSlowItem(); // so that the Slow items panel has a report to show
    waitForTicks(window, 15); // the labels and graphs take their next samples

    const bool saved = window.grab().save(file, "PNG");
    if (!saved)
        std::fprintf(stderr, "screenshot: could not write %s\n", qPrintable(file));
    else
        std::printf("screenshot: saved %s\n", qPrintable(file));
    return saved ? 0 : 1;
}

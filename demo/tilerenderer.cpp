#include "tilerenderer.h"

#include "traffic.h"

#include <QtConcurrent/QtConcurrentMap>
#include <QtCore/QDateTime>
#include <QtCore/QElapsedTimer>
#include <QtCore/QThread>

#include <algorithm>
#include <cmath>
#include <deque>
#include <numeric>

namespace {

// The part of the Mandelbrot set on show: spirals in "seahorse valley", between the main
// cardioid and the period-2 bulb.
constexpr double kCentreX = -0.7453;
constexpr double kCentreY = 0.1127;
constexpr double kWidth = 0.0065; // of the whole canvas, in the complex plane
constexpr int kMaxIterations = 600;
// Palette steps per unit of sqrt(escape count): colours change slowly where counts are high,
// near the set, which is where neighbouring pixels differ most.
constexpr double kColourScale = 60.0;

std::atomic<int> g_runningWorkers { 0 };

// Counts the running worker loops, for the self-test's "every worker has returned" check.
struct RunningWorker
{
    RunningWorker() { g_runningWorkers.fetch_add(1); }
    ~RunningWorker() { g_runningWorkers.fetch_sub(1); }
    RunningWorker(const RunningWorker &) = delete;
    RunningWorker &operator=(const RunningWorker &) = delete;
};

// A smooth, cyclic palette (deep blue, white, amber, black).
std::vector<QRgb> makePalette()
{
    struct Stop
    {
        double at;
        QRgb colour;
    };
    static constexpr Stop stops[] = { { 0.0, 0x000764 },    { 0.16, 0x206bcb },
                                      { 0.42, 0xedffff },   { 0.6425, 0xffaa00 },
                                      { 0.8575, 0x000200 }, { 1.0, 0x000764 } };
    std::vector<QRgb> palette(1024);
    for (size_t i = 0; i < palette.size(); ++i) {
        const double t = double(i) / double(palette.size());
        size_t s = 0;
        while (stops[s + 1].at < t)
            ++s;
        const double f = (t - stops[s].at) / (stops[s + 1].at - stops[s].at);
        auto mix = [f](int a, int b) { return int(a + (b - a) * f); };
        const QRgb a = stops[s].colour;
        const QRgb b = stops[s + 1].colour;
        palette[i] =
            qRgb(mix(qRed(a), qRed(b)), mix(qGreen(a), qGreen(b)), mix(qBlue(a), qBlue(b)));
    }
    return palette;
}

// The colour of one point of the plane.
QRgb colourAt(double cx, double cy, const std::vector<QRgb> &palette)
{
    double zx = 0, zy = 0, zx2 = 0, zy2 = 0;
    int n = 0;
    for (; n < kMaxIterations && zx2 + zy2 < 256.0; ++n) {
        zy = 2 * zx * zy + cy;
        zx = zx2 - zy2 + cx;
        zx2 = zx * zx;
        zy2 = zy * zy;
    }
    if (n == kMaxIterations)
        return qRgb(0, 0, 0);
    // Smooth colouring: the fractional escape count removes the banding.
    const double smooth = std::max(0.0, n + 1 - std::log2(std::log2(zx2 + zy2) / 2));
    return palette[size_t(std::sqrt(smooth) * kColourScale) % palette.size()];
}

// One row of a tile, each pixel the average of samples × samples points. Pure computation:
// no Qt object is touched, so any thread may run it.
void renderRow(QRgb *line, int width, double x0, double y0, double step, int samples,
               const std::vector<QRgb> &palette)
{
    const double sub = step / samples;
    for (int i = 0; i < width; ++i) {
        int r = 0, g = 0, b = 0;
        for (int sy = 0; sy < samples; ++sy) {
            for (int sx = 0; sx < samples; ++sx) {
                const QRgb c = colourAt(x0 + i * step + sx * sub, y0 - sy * sub, palette);
                r += qRed(c);
                g += qGreen(c);
                b += qBlue(c);
            }
        }
        const int count = samples * samples;
        line[i] = qRgb(r / count, g / count, b / count);
    }
}

} // namespace

TileRenderer::TileRenderer(QSize canvasSize, int tileSize, QObject *parent)
    : QObject(parent), m_gui(*qdispatch::mainThreadExecutor()), m_canvasSize(canvasSize),
      m_tileSize(tileSize), m_columns((canvasSize.width() + tileSize - 1) / tileSize),
      m_rows((canvasSize.height() + tileSize - 1) / tileSize), m_palette(makePalette())
{
    m_pool.setMaxThreadCount(kWorkers);
    connect(&m_watcher, &QFutureWatcherBase::finished, this, &TileRenderer::onJobFinished);
}

TileRenderer::~TileRenderer()
{
    stop();
}

QRect TileRenderer::tileRect(int tile) const
{
    const QRect cell(QPoint(tile % m_columns, tile / m_columns) * m_tileSize,
                     QSize(m_tileSize, m_tileSize));
    return cell.intersected(QRect(QPoint(0, 0), m_canvasSize));
}

void TileRenderer::setSupersampling(int samplesPerAxis)
{
    if (!isRunning())
        m_samples = std::max(1, samplesPerAxis);
}

bool TileRenderer::isRunning() const
{
    if (m_job.isRunning())
        return true;
    // The workers have returned, but the deliveries of their last tiles may still be queued.
    std::lock_guard lock(m_mutex);
    return std::any_of(m_deliveries.cbegin(), m_deliveries.cend(),
                       [](const Delivery &delivery) { return !delivery.future.isFinished(); });
}

bool TileRenderer::start()
{
    if (isRunning() || m_shutDown)
        return false;
    m_pool.waitForDone(); // the last render's tasks have returned, or are about to

    {
        std::lock_guard lock(m_mutex);
        m_stopping.store(false);
        m_deliveries.clear();
    }
    m_rendered.store(0);
    m_sent.acquire(m_sent.available());
    for (WorkerSlot &slot : m_workerSlots)
        slot.updatesRun = 0;
    m_tileState.assign(size_t(tileCount()), TileState::Pending);
    m_counts = {};
    m_startedAt = QDateTime::currentMSecsSinceEpoch();

    QList<int> workers(kWorkers);
    std::iota(workers.begin(), workers.end(), 0);
    // One long-running task per worker; the job's future finishes when all have returned.
    m_job =
        QtConcurrent::mapped(&m_pool, workers, [this](int worker) { return workerLoop(worker); });
    m_watcher.setFuture(m_job);
    Q_EMIT logLine(QStringLiteral("render: %1 tiles of %2×%2 px on %3 worker threads")
                       .arg(tileCount())
                       .arg(m_tileSize)
                       .arg(kWorkers));
    return true;
}

int TileRenderer::cancel()
{
    std::vector<Delivery> queued;
    {
        std::lock_guard lock(m_mutex);
        m_stopping.store(true);
        queued.swap(m_deliveries);
    }
    m_resume.notify_all(); // a paused worker must see that it is stopping

    // This runs on the GUI thread, and tile deliveries run only there, one at a time. So a
    // delivery that has not finished has not started either, unless it is the one running
    // right now (cancel() called from a slot of tileShown(); its tile is already Shown).
    // Cancelling the future of one that has not started means it will never run (C6).
    int cancelled = 0;
    for (Delivery &delivery : queued) {
        if (delivery.future.isFinished() || m_tileState[size_t(delivery.tile)] == TileState::Shown)
            continue;
        delivery.future.cancel();
        m_tileState[size_t(delivery.tile)] = TileState::Cancelled;
        ++cancelled;
        Q_EMIT tileCancelled(delivery.tile, tileRect(delivery.tile));
    }
    traffic().cancelled.fetch_add(quint64(cancelled), std::memory_order_relaxed);
    m_counts.cancelled += cancelled;
    return cancelled;
}

void TileRenderer::stop()
{
    m_shutDown = true;
    cancel();
    // A worker may be blocked waiting for a delivery (back-pressure) that only this thread
    // can run or skip, so this wait must keep running items: runUntilFuture(), not
    // waitForFinished(). When it returns, every item the workers sent has run or been
    // skipped (C8), so nothing is left in the queue that points at this renderer.
    m_gui.runUntilFuture(m_job);
    m_pool.waitForDone(); // the tasks have returned; this only lets the pool's threads go
}

void TileRenderer::setPaused(bool paused)
{
    {
        std::lock_guard lock(m_mutex);
        m_paused = paused;
    }
    m_resume.notify_all();
}

TileRenderer::Counts TileRenderer::counts() const
{
    Counts counts = m_counts;
    counts.rendered = m_rendered.load();
    return counts;
}

bool TileRenderer::waitUntilSent(int tiles, int timeoutMs)
{
    if (!m_sent.tryAcquire(tiles, timeoutMs))
        return false;
    m_sent.release(tiles); // only looking
    return true;
}

int TileRenderer::runningWorkers()
{
    return g_runningWorkers.load();
}

// --- on the worker threads -------------------------------------------------------------------

int TileRenderer::workerLoop(int worker)
{
    const RunningWorker running;
    QElapsedTimer clock;
    clock.start();
    postLog(QStringLiteral("worker %1: started").arg(worker + 1));

    // Tiles are dealt diagonally: worker w takes the tiles whose column + row leaves w modulo
    // kWorkers. Neighbouring tiles, which cost about the same, go to different workers, and
    // every worker has a known share (its progress bar's 100%).
    std::vector<int> mine;
    for (int tile = 0; tile < tileCount(); ++tile) {
        if ((tile % m_columns + tile / m_columns) % kWorkers == worker)
            mine.push_back(tile);
    }
    const int share = int(mine.size());
    const int rowsTotal = share * m_tileSize;
    int rowsDone = 0;
    int tilesDone = 0;
    quint64 updatesSent = 0;
    std::deque<QFuture<void>> undelivered;

    for (const int tile : mine) {
        if (!waitWhilePaused())
            break;
        // Back-pressure: this blocks on the GUI thread. If the GUI thread were blocked on
        // this worker (waitForFinished() instead of runUntilFuture()), neither would move.
        while (undelivered.size() >= size_t(kMaxUndelivered)) {
            QFuture<void> oldest = undelivered.front();
            undelivered.pop_front();
            oldest.waitForFinished(); // also returns when it was cancelled and skipped
        }
        QElapsedTimer tileClock;
        tileClock.start();
        QImage image(tileRect(tile).size(), QImage::Format_RGB32);
        if (!renderTile(tile, image, worker, rowsDone, rowsTotal, updatesSent))
            break;
        m_rendered.fetch_add(1);
        QFuture<void> delivery;
        if (!deliver(worker, tile, image, delivery))
            break;
        undelivered.push_back(delivery);
        ++tilesDone;
        postLog(QStringLiteral("worker %1: tile %2 in %3 ms")
                    .arg(worker + 1)
                    .arg(tile, 3)
                    .arg(double(tileClock.nsecsElapsed()) / 1e6, 0, 'f', 1));
        m_sent.release();
    }

    if (tilesDone == share)
        postLog(QStringLiteral("worker %1: done, %2 tiles in %3 ms")
                    .arg(worker + 1)
                    .arg(tilesDone)
                    .arg(clock.elapsed()));
    else
        postLog(QStringLiteral("worker %1: stopped after %2 of %3 tiles")
                    .arg(worker + 1)
                    .arg(tilesDone)
                    .arg(share));
    return tilesDone;
}

bool TileRenderer::renderTile(int tile, QImage &image, int worker, int &rowsDone, int rowsTotal,
                              quint64 &updatesSent)
{
    const QRect rect = tileRect(tile);
    const double step = kWidth / m_canvasSize.width();
    const double left = kCentreX - kWidth / 2;
    const double top = kCentreY + step * m_canvasSize.height() / 2;
    for (int row = 0; row < rect.height(); ++row) {
        if (m_stopping.load(std::memory_order_relaxed))
            return false; // checked per row, so that cancel and close take effect at once
        const int y = rect.top() + row;
        renderRow(reinterpret_cast<QRgb *>(image.scanLine(row)), rect.width(),
                  left + rect.left() * step, top - y * step, step, m_samples, m_palette);

        // Progress after every row, far more often than a screen can show. postLatest()
        // replaces the update still queued for this worker, so the GUI thread runs only a
        // handful of them, always ending on the latest (X2).
        ++rowsDone;
        ++updatesSent;
        const double fraction = double(rowsDone) / rowsTotal;
        // `this` is the context (X8): an update still queued when the renderer is gone is
        // skipped.
        m_gui.postLatest(
            this, &m_workerSlots[size_t(worker)],
            [this, worker, fraction, sent = updatesSent] { showProgress(worker, fraction, sent); });
    }
    return true;
}

bool TileRenderer::waitWhilePaused()
{
    std::unique_lock lock(m_mutex);
    m_resume.wait(lock, [this] { return !m_paused || m_stopping.load(); });
    return !m_stopping.load();
}

bool TileRenderer::deliver(int worker, int tile, const QImage &image, QFuture<void> &delivery)
{
    // Under the mutex that cancel() takes, so that a delivery is either refused here or in
    // the list that cancel() goes through: none slips past a cancel.
    std::lock_guard lock(m_mutex);
    if (m_stopping.load())
        return false;
    // submit() on the main-thread executor, with this object as the context (X8): the tile is
    // handed over (QImage is implicitly shared, nothing is copied) and the worker gets a future.
    delivery =
        m_gui.submit(this, counted([this, worker, tile, image] { showTile(worker, tile, image); }));
    m_deliveries.push_back({ tile, delivery });
    return true;
}

void TileRenderer::postLog(const QString &text)
{
    m_gui.post(this, counted([this, text] { Q_EMIT logLine(text); }));
}

// --- on the GUI thread -----------------------------------------------------------------------

void TileRenderer::showTile(int worker, int tile, const QImage &image)
{
    if (QThread::currentThread() != thread())
        ++m_counts.offGuiThread;
    TileState &state = m_tileState[size_t(tile)];
    if (state == TileState::Cancelled)
        ++m_counts.cancelledButRan;
    state = TileState::Shown;
    ++m_counts.shown;
    Q_EMIT tileShown(tile, tileRect(tile), image, worker);
}

void TileRenderer::showProgress(int worker, double fraction, quint64 updatesSent)
{
    const quint64 run = ++m_workerSlots[size_t(worker)].updatesRun;
    Q_EMIT progress(worker, fraction, updatesSent, run);
}

void TileRenderer::onJobFinished()
{
    if (!m_job.isFinished() || m_shutDown)
        return; // a late notice about an earlier render, or the owner is closing
    // The job's future finishes when the workers return, and the deliveries of their last
    // tiles may still be queued. Posted from this thread (X1) after all of them, the summary
    // runs after them (C4).
    m_gui.post(this, [this] { summarize(); });
}

void TileRenderer::summarize()
{
    const Counts c = counts();
    const qint64 ms = QDateTime::currentMSecsSinceEpoch() - m_startedAt;
    if (c.shown == tileCount())
        Q_EMIT logLine(QStringLiteral("render: all %1 tiles shown in %2 ms").arg(c.shown).arg(ms));
    else
        Q_EMIT logLine(QStringLiteral("render stopped: %1 tiles shown, %2 deliveries cancelled "
                                      "(never ran), %3 never rendered")
                           .arg(c.shown)
                           .arg(c.cancelled)
                           .arg(tileCount() - c.rendered));
    Q_EMIT finished();
}

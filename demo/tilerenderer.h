// QDispatch demo: worker threads render Mandelbrot tiles and hand them to the GUI thread.
#pragma once

#include <qdispatch/currentthreadexecutor.h>

#include <QtCore/QFuture>
#include <QtCore/QFutureWatcher>
#include <QtCore/QList>
#include <QtCore/QObject>
#include <QtCore/QRect>
#include <QtCore/QSemaphore>
#include <QtCore/QThreadPool>
#include <QtGui/QImage>

#include <array>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <vector>

// Lives on the GUI thread; its workers live on a private thread pool. Each worker renders its
// share of the tiles and, through the main-thread executor (X5):
//   - hands every finished tile to the GUI thread with submit(),
//   - reports its progress row by row with postLatest() (one key per worker, X2),
//   - writes log lines with post() (X1).
// A worker keeps at most kMaxUndelivered tiles that the GUI thread has not taken yet and
// otherwise waits for the oldest one: that blocking wait on the GUI thread is what would
// deadlock if the GUI thread, in turn, blocked on the workers instead of calling
// runUntilFuture().
//
// Every signal is emitted on the GUI thread. Every public function must be called there,
// except waitUntilSent() and runningWorkers().
class TileRenderer final : public QObject
{
    Q_OBJECT

public:
    static constexpr int kWorkers = 4;
    static constexpr int kMaxUndelivered = 3;

    TileRenderer(QSize canvasSize, int tileSize, QObject *parent = nullptr);
    // Calls stop(). An owner whose slots are connected to the signals should call stop()
    // itself first, while those slots can still run.
    ~TileRenderer() override;

    // Starts a render of every tile; false (and nothing happens) when one is running.
    bool start();
    // Stops the workers and cancels every tile delivery that has not run yet: those never
    // run (C6). Does not wait; returns how many deliveries it cancelled.
    int cancel();
    // cancel(), then waits until every worker has returned and everything they sent has run
    // or been skipped. The GUI thread keeps running items while it waits (a worker may be
    // waiting for one of them). When it returns, nothing of this renderer is left in the queue.
    // Final: for an owner that is about to go; start() does nothing afterwards.
    void stop();
    // Workers pause between tiles (or resume). Pausing does not block the GUI thread.
    void setPaused(bool paused);
    // Each pixel averages n × n points (default 3: smooth, and slow enough to watch; the
    // self-test uses 1). Ignored while a render is running.
    void setSupersampling(int samplesPerAxis);

    // The workers are busy, or tiles they rendered have not been shown yet.
    bool isRunning() const;
    QFuture<void> job() const { return QFuture<void>(m_job); }

    int tileSize() const { return m_tileSize; }
    int tileCount() const { return m_columns * m_rows; }
    QRect tileRect(int tile) const;

    // The current (or last) render, counted on the GUI thread unless said otherwise.
    struct Counts
    {
        int rendered = 0; // tiles the workers finished (counted by the workers)
        int shown = 0; // deliveries that ran on the GUI thread
        int cancelled = 0; // deliveries cancelled before they ran
        int cancelledButRan = 0; // cancelled deliveries that ran anyway: must stay 0 (C6)
        int offGuiThread = 0; // deliveries that ran on another thread: must stay 0 (C3)
    };
    Counts counts() const;

    // Any thread: waits until the workers of the current render have handed `tiles` tiles to
    // the GUI thread (queued, not necessarily run). Lets a caller order itself after the
    // workers without sleeping.
    bool waitUntilSent(int tiles, int timeoutMs);
    // Any thread: how many worker loops are running now, in all renderers.
    static int runningWorkers();

Q_SIGNALS:
    void tileShown(int tile, const QRect &rect, const QImage &image, int worker);
    void tileCancelled(int tile, const QRect &rect);
    // fraction of this worker's rows done; progress updates it sent and that actually ran
    void progress(int worker, double fraction, quint64 updatesSent, quint64 updatesRun);
    void logLine(const QString &text);
    // The render is over and everything it sent has run: its summary is in the log.
    void finished();

private:
    enum class TileState : unsigned char { Pending, Shown, Cancelled };
    struct Delivery
    {
        int tile;
        QFuture<void> future;
    };
    // One per worker; its address is the worker's postLatest() key.
    struct WorkerSlot
    {
        quint64 updatesRun = 0; // GUI thread
    };

    int workerLoop(int worker); // on a pool thread
    bool renderTile(int tile, QImage &image, int worker, int &rowsDone, int rowsTotal,
                    quint64 &updatesSent);
    bool waitWhilePaused(); // false once stopping
    bool deliver(int worker, int tile, const QImage &image, QFuture<void> &delivery);
    void postLog(const QString &text);

    // GUI thread: what the items sent by the workers run.
    void showTile(int worker, int tile, const QImage &image);
    void showProgress(int worker, double fraction, quint64 updatesSent);
    void onJobFinished();
    void summarize();

    // The main-thread executor (X5). Every item sent to it has this object as its context
    // (X8), so none runs once it is gone; stop() drains them first, so none is skipped either.
    qdispatch::CurrentThreadExecutor &m_gui;

    const QSize m_canvasSize;
    const int m_tileSize;
    const int m_columns;
    const int m_rows;
    const std::vector<QRgb> m_palette; // read-only once constructed, shared by the workers
    int m_samples = 3; // per axis; changed only while no worker runs

    QThreadPool m_pool;
    QFuture<int> m_job;
    QFutureWatcher<int> m_watcher;
    qint64 m_startedAt = 0; // ms since epoch, for the summary

    // Shared with the workers.
    mutable std::mutex m_mutex;
    std::condition_variable m_resume;
    bool m_paused = false; // guarded by m_mutex
    std::atomic<bool> m_stopping { false }; // written under m_mutex, read anywhere
    std::vector<Delivery> m_deliveries; // guarded by m_mutex; the cancellable ones
    std::atomic<int> m_rendered { 0 };
    QSemaphore m_sent; // one release per tile handed to the GUI thread
    std::array<WorkerSlot, kWorkers> m_workerSlots;

    // GUI thread only.
    bool m_shutDown = false;
    std::vector<TileState> m_tileState;
    Counts m_counts;
};

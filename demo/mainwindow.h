// QDispatch demo: the window.
#pragma once

#include "flood.h"
#include "tilerenderer.h"

#include <qdispatch/currentthreadexecutor.h>

#include <QtCore/QElapsedTimer>
#include <QtCore/QTimer>
#include <QtWidgets/QWidget>

#include <array>

QT_BEGIN_NAMESPACE
class QLabel;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
QT_END_NAMESPACE

class FractalView;
class Heartbeat;
class SparkLine;

// Everything here runs on the GUI thread. The buttons call the public functions below, which
// --selftest and --screenshot call directly.
class MainWindow final : public QWidget
{
    Q_OBJECT

public:
    static constexpr int kTimerIntervalMs = 16;
    static constexpr int kFloodProducers = 2;
    static constexpr int kFloodItemsEach = 250'000;
    static constexpr int kSlowItemMs = 150;
    static constexpr int kTimelineMs = 3000;

    explicit MainWindow(QWidget *parent = nullptr);
    ~MainWindow() override; // shutdown()

    // "Render": starts rendering every tile (unless a render is running).
    void startRender();

    // "Wait for everything": starts a render if none is running, then waits on the GUI thread
    // for the render and the flood with runUntilFuture(). Returns what happened meanwhile.
    struct WaitReport
    {
        bool waited = false; // false when a wait was already in progress (or after shutdown)
        qint64 milliseconds = 0;
        quint64 ticks = 0; // GUI timer ticks during the wait
        int tilesArrived = 0; // tiles shown during the wait
    };
    WaitReport waitForEverything();

    // "Flood": posts producers × itemsEach tiny items to the GUI thread.
    void startFlood(int producers = kFloodProducers, int itemsEach = kFloodItemsEach);

    // "Cancel": cancels the queued tile deliveries (they never run, C6) and stops the workers
    // and the flood, without waiting. Returns how many deliveries it cancelled.
    int cancelWork();

    // "Pause": workers stop between tiles until resumed.
    void setPaused(bool paused);

    // "Slow item": a pool thread sends the GUI thread an item that keeps it busy for kSlowItemMs.
    // QDispatch's slow-item report (X10) names it in the "Slow items" panel.
    void runSlowItem();

    // "Record timeline": records a QDispatch trace (X12) for `ms` milliseconds into a file in
    // the temporary directory, then shows its path under the buttons and emits timelineWritten().
    // Does nothing while one is being recorded.
    void recordTimeline(int ms = kTimelineMs);

    // Stops everything and waits for it while still running what the workers send (they may
    // be waiting for it). Afterwards nothing of this window is left in the GUI thread's queue
    // and no worker runs. Idempotent; called on close and on destruction.
    void shutdown();

    bool isWaiting() const { return m_waitDepth > 0; }
    int progressPermille(int worker) const; // what worker's progress bar shows, 0..1000
    TileRenderer &renderer() { return m_renderer; }
    Flood &flood() { return m_flood; }
    quint64 ticks() const;
    double maxLatenessMs() const { return m_maxLatenessMs; }
    void resetMaxLateness() { m_maxLatenessMs = 0; }

Q_SIGNALS:
    void ticked(); // every tick of the GUI timer, after the heartbeat moved
    void timelineWritten(const QString &path, bool ok); // recordTimeline() is done

protected:
    void closeEvent(QCloseEvent *event) override;

private:
    QWidget *makeControls();
    QWidget *makeWorkers();
    QWidget *makeGuiPanel();
    QWidget *makeSlowPanel();
    void showSlowReport(const QString &text);
    void onTick();
    void takeSample();
    void log(const QString &text);
    void updateButtons();

    qdispatch::CurrentThreadExecutor &m_gui; // the main-thread executor (X5)
    TileRenderer m_renderer;
    Flood m_flood;

    FractalView *m_view = nullptr;
    QPushButton *m_renderButton = nullptr;
    QPushButton *m_waitButton = nullptr;
    QPushButton *m_floodButton = nullptr;
    QPushButton *m_pauseButton = nullptr;
    QPushButton *m_cancelButton = nullptr;
    QPushButton *m_slowButton = nullptr;
    QPushButton *m_timelineButton = nullptr;
    QLabel *m_timelineLabel = nullptr;
    std::array<QProgressBar *, TileRenderer::kWorkers> m_bars {};
    std::array<QLabel *, TileRenderer::kWorkers> m_barNotes {};
    Heartbeat *m_heartbeat = nullptr;
    QLabel *m_state = nullptr;
    QLabel *m_latenessLabel = nullptr;
    QLabel *m_itemsLabel = nullptr;
    QLabel *m_depthLabel = nullptr;
    QLabel *m_tilesLabel = nullptr;
    SparkLine *m_rateGraph = nullptr;
    SparkLine *m_depthGraph = nullptr;
    SparkLine *m_latenessGraph = nullptr;
    QPlainTextEdit *m_log = nullptr;
    QPlainTextEdit *m_slowLog = nullptr;

    QTimer m_timer;
    QElapsedTimer m_sinceTick;
    QElapsedTimer m_sinceSample;
    QElapsedTimer m_uptime;
    double m_latenessMs = 0; // of the last tick
    double m_sampleLatenessMs = 0; // worst in the current sample
    double m_maxLatenessMs = 0; // worst since resetMaxLateness()
    quint64 m_ranAtSample = 0;
    double m_itemsPerSecond = 0;
    int m_waitDepth = 0;
    bool m_shutDown = false;
};

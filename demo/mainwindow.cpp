#include "mainwindow.h"

#include "slowreports.h"
#include "traffic.h"
#include "widgets.h"

#include <QtCore/QDateTime>
#include <QtCore/QDir>
#include <QtCore/QElapsedTimer>
#include <QtCore/QLocale>
#include <QtCore/QThreadPool>
#include <QtGui/QCloseEvent>
#include <QtGui/QFontDatabase>
#include <QtWidgets/QFormLayout>
#include <QtWidgets/QGridLayout>
#include <QtWidgets/QGroupBox>
#include <QtWidgets/QHBoxLayout>
#include <QtWidgets/QLabel>
#include <QtWidgets/QPlainTextEdit>
#include <QtWidgets/QProgressBar>
#include <QtWidgets/QPushButton>
#include <QtWidgets/QVBoxLayout>

#include <algorithm>

namespace {

constexpr QSize kCanvas(576, 576);
constexpr int kTileSize = 48;
constexpr int kSampleMs = 100; // graphs and labels refresh at this rate

QColor workerColour(int worker)
{
    static const QColor colours[] = { QColor(0x4c, 0xc9, 0xf0), QColor(0xf7, 0x25, 0x85),
                                      QColor(0x9b, 0xe5, 0x64), QColor(0xff, 0xb7, 0x03) };
    return colours[worker % 4];
}

QString number(double value, int decimals = 0)
{
    return QLocale().toString(value, 'f', decimals);
}

QString number(quint64 value)
{
    return QLocale().toString(value);
}

} // namespace

MainWindow::MainWindow(QWidget *parent)
    : QWidget(parent), m_gui(*qdispatch::mainThreadExecutor()), m_renderer(kCanvas, kTileSize),
      m_flood()
{
    setWindowTitle(QStringLiteral("QDispatch demo: worker threads, one GUI thread"));

    m_view = new FractalView(kCanvas);
    m_log = new QPlainTextEdit;
    m_log->setReadOnly(true);
    m_log->setMaximumBlockCount(500);
    m_log->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m_log->setMinimumHeight(120);

    auto *side = new QVBoxLayout;
    side->addWidget(makeControls());
    side->addWidget(makeWorkers());
    side->addWidget(makeGuiPanel(), 1);

    auto *top = new QHBoxLayout;
    top->addWidget(m_view, 3);
    top->addLayout(side, 2);

    auto *logBox = new QGroupBox(QStringLiteral("Log (workers write it with post())"));
    auto *logLayout = new QVBoxLayout(logBox);
    logLayout->setContentsMargins(6, 6, 6, 6);
    logLayout->addWidget(m_log);

    auto *bottom = new QHBoxLayout;
    bottom->addWidget(logBox, 1);
    bottom->addWidget(makeSlowPanel(), 1);

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(top, 4);
    layout->addLayout(bottom, 1);
    resize(1000, 820);

    connect(&m_renderer, &TileRenderer::tileShown, this,
            [this](int, const QRect &rect, const QImage &image, int worker) {
                m_view->placeTile(rect, image, workerColour(worker));
            });
    connect(&m_renderer, &TileRenderer::tileCancelled, this,
            [this](int, const QRect &rect) { m_view->markCancelled(rect); });
    connect(&m_renderer, &TileRenderer::progress, this,
            [this](int worker, double fraction, quint64 sent, quint64 run) {
                m_bars[size_t(worker)]->setValue(int(fraction * 1000));
                m_barNotes[size_t(worker)]->setText(
                    QStringLiteral("%1 sent → %2 ran").arg(number(sent), number(run)));
            });
    connect(&m_renderer, &TileRenderer::logLine, this, &MainWindow::log);
    connect(&m_renderer, &TileRenderer::finished, this, &MainWindow::updateButtons);
    connect(&m_flood, &Flood::finished, this, [this](quint64 items, qint64 ms) {
        log(QStringLiteral("flood: all %1 items ran in %2 ms (%3 items/s); worst timer "
                           "lateness %4 ms")
                .arg(number(items), number(quint64(ms)), number(m_flood.itemsPerSecond()),
                     number(m_maxLatenessMs, 1)));
        updateButtons();
    });

    // The GUI thread's pulse. PreciseTimer, so that lateness means the thread was busy, not
    // that Qt rounded the interval.
    m_timer.setTimerType(Qt::PreciseTimer);
    m_timer.setInterval(kTimerIntervalMs);
    connect(&m_timer, &QTimer::timeout, this, &MainWindow::onTick);
    m_sinceTick.start();
    m_sinceSample.start();
    m_uptime.start();
    m_timer.start();

    log(QStringLiteral("GUI thread ready. Render, then try Wait for everything, Flood, Cancel, "
                       "or close the window mid-work."));
    updateButtons();
}

MainWindow::~MainWindow()
{
    // Before any member goes: the renderer's and the flood's items call into this window.
    shutdown();
    // Both are stopped; nothing they could still emit (a late QFutureWatcher notification)
    // should reach a window that is half destroyed.
    m_renderer.disconnect(this);
    m_flood.disconnect(this);
}

QWidget *MainWindow::makeControls()
{
    m_renderButton = new QPushButton(QStringLiteral("Render"));
    m_waitButton = new QPushButton(QStringLiteral("Wait for everything"));
    m_floodButton = new QPushButton(QStringLiteral("Flood"));
    m_pauseButton = new QPushButton(QStringLiteral("Pause"));
    m_pauseButton->setCheckable(true);
    m_cancelButton = new QPushButton(QStringLiteral("Cancel"));
    m_slowButton = new QPushButton(QStringLiteral("Slow item"));
    m_timelineButton = new QPushButton(QStringLiteral("Record timeline"));
    m_timelineLabel = new QLabel;
    m_timelineLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_timelineLabel->setWordWrap(true);

    m_renderButton->setToolTip(QStringLiteral("Workers render the tiles and hand them over"));
    m_waitButton->setToolTip(
        QStringLiteral("The GUI thread waits for the render and the flood with runUntilFuture()"));
    m_floodButton->setToolTip(QStringLiteral("%1 threads post %2 tiny items each")
                                  .arg(kFloodProducers)
                                  .arg(number(quint64(kFloodItemsEach))));
    m_cancelButton->setToolTip(
        QStringLiteral("Cancels the queued tile deliveries and stops every worker"));
    m_slowButton->setToolTip(QStringLiteral("A worker sends the GUI thread an item that keeps it "
                                            "busy for %1 ms: see the Slow items panel")
                                 .arg(kSlowItemMs));

    connect(m_renderButton, &QPushButton::clicked, this, &MainWindow::startRender);
    connect(m_waitButton, &QPushButton::clicked, this, [this] { waitForEverything(); });
    connect(m_floodButton, &QPushButton::clicked, this, [this] { startFlood(); });
    connect(m_pauseButton, &QPushButton::toggled, this, &MainWindow::setPaused);
    connect(m_cancelButton, &QPushButton::clicked, this, [this] { cancelWork(); });
    connect(m_slowButton, &QPushButton::clicked, this, &MainWindow::runSlowItem);
    m_timelineButton->setToolTip(
        QStringLiteral("Records what every executor does for %1 s into a Chrome trace file "
                       "(open it in ui.perfetto.dev or speedscope)")
            .arg(kTimelineMs / 1000));
    connect(m_timelineButton, &QPushButton::clicked, this, [this] { recordTimeline(); });

    auto *box = new QWidget;
    auto *grid = new QGridLayout(box);
    grid->setContentsMargins(0, 0, 0, 0);
    grid->addWidget(m_renderButton, 0, 0);
    grid->addWidget(m_waitButton, 0, 1, 1, 2);
    grid->addWidget(m_floodButton, 1, 0);
    grid->addWidget(m_pauseButton, 1, 1);
    grid->addWidget(m_cancelButton, 1, 2);
    grid->addWidget(m_slowButton, 2, 0);
    grid->addWidget(m_timelineButton, 2, 1, 1, 2);
    grid->addWidget(m_timelineLabel, 3, 0, 1, 3);
    return box;
}

QWidget *MainWindow::makeWorkers()
{
    auto *box = new QGroupBox(QStringLiteral("Workers: progress through postLatest()"));
    auto *grid = new QGridLayout(box);
    grid->setVerticalSpacing(4);
    for (int w = 0; w < TileRenderer::kWorkers; ++w) {
        auto *name = new QLabel(QStringLiteral("<span style='color:%1'>■</span> %2")
                                    .arg(workerColour(w).name())
                                    .arg(w + 1));
        auto *bar = new QProgressBar;
        bar->setRange(0, 1000);
        bar->setValue(0);
        bar->setTextVisible(false);
        bar->setFixedHeight(14);
        bar->setStyleSheet(QStringLiteral("QProgressBar { border: 1px solid palette(mid); "
                                          "border-radius: 3px; background: palette(base); }"
                                          "QProgressBar::chunk { background: %1; }")
                               .arg(workerColour(w).name()));
        auto *note = new QLabel(QStringLiteral("idle"));
        note->setMinimumWidth(130);
        note->setAlignment(Qt::AlignRight | Qt::AlignVCenter);
        grid->addWidget(name, w, 0);
        grid->addWidget(bar, w, 1);
        grid->addWidget(note, w, 2);
        m_bars[size_t(w)] = bar;
        m_barNotes[size_t(w)] = note;
    }
    grid->setColumnStretch(1, 1);
    return box;
}

QWidget *MainWindow::makeGuiPanel()
{
    auto *box = new QGroupBox(QStringLiteral("GUI thread"));
    auto *layout = new QVBoxLayout(box);
    layout->setSpacing(4);

    m_heartbeat = new Heartbeat;
    layout->addWidget(m_heartbeat);

    auto *form = new QFormLayout;
    form->setHorizontalSpacing(10);
    form->setVerticalSpacing(3);
    m_state = new QLabel;
    m_latenessLabel = new QLabel;
    m_itemsLabel = new QLabel;
    m_depthLabel = new QLabel;
    m_tilesLabel = new QLabel;
    form->addRow(QStringLiteral("State"), m_state);
    form->addRow(QStringLiteral("Timer lateness"), m_latenessLabel);
    form->addRow(QStringLiteral("Items run"), m_itemsLabel);
    form->addRow(QStringLiteral("Queue depth"), m_depthLabel);
    form->addRow(QStringLiteral("Tiles"), m_tilesLabel);
    layout->addLayout(form);

    m_rateGraph = new SparkLine(QStringLiteral("items/s"), QString(), QColor(0x4c, 0xc9, 0xf0));
    m_depthGraph =
        new SparkLine(QStringLiteral("queue depth"), QString(), QColor(0xff, 0xb7, 0x03));
    m_latenessGraph = new SparkLine(QStringLiteral("timer lateness"), QStringLiteral("ms"),
                                    QColor(0xf7, 0x25, 0x85));
    layout->addWidget(m_rateGraph);
    layout->addWidget(m_depthGraph);
    layout->addWidget(m_latenessGraph);
    layout->addStretch(1);
    return box;
}

QWidget *MainWindow::makeSlowPanel()
{
    auto *box = new QGroupBox(QStringLiteral("Slow items (qdispatch.slow)"));
    auto *layout = new QVBoxLayout(box);
    layout->setContentsMargins(6, 6, 6, 6);
    m_slowLog = new QPlainTextEdit;
    m_slowLog->setReadOnly(true);
    m_slowLog->setMaximumBlockCount(SlowReports::kKept);
    m_slowLog->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m_slowLog->setPlaceholderText(
        QStringLiteral("QDispatch reports here every item that runs longer than %1 ms on the GUI "
                       "thread, or starts more than %2 ms late. Press Slow item.")
            .arg(qdispatch::mainThreadExecutor()->slowRunThreshold().count())
            .arg(qdispatch::mainThreadExecutor()->slowDeliveryThreshold().count()));
    layout->addWidget(m_slowLog);
    for (const QString &text : slowReports().last())
        showSlowReport(text);
    connect(&slowReports(), &SlowReports::reported, this, &MainWindow::showSlowReport);
    return box;
}

void MainWindow::showSlowReport(const QString &text)
{
    QString shown = text;
    shown.remove(QLatin1String("QDispatch: "));
    m_slowLog->appendPlainText(
        QStringLiteral("%1  %2").arg(number(double(m_uptime.elapsed()) / 1000.0, 3), shown));
}

void MainWindow::recordTimeline(int ms)
{
    if (m_shutDown || !m_timelineButton->isEnabled())
        return;
    const QString path = QDir::temp().filePath(
        QStringLiteral("qdispatch-demo-%1.json")
            .arg(QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-hhmmss"))));
    if (!qdispatch::startTrace(path)) {
        m_timelineLabel->setText(QStringLiteral("Could not record a timeline into %1").arg(path));
        Q_EMIT timelineWritten(path, false);
        return;
    }
    m_timelineButton->setEnabled(false);
    m_timelineLabel->setText(QStringLiteral("Recording a timeline for %1 s...").arg(ms / 1000.0));
    log(QStringLiteral("timeline: recording for %1 ms").arg(ms));
    QTimer::singleShot(ms, this, [this, path] {
        const bool ok = qdispatch::stopTrace();
        m_timelineButton->setEnabled(true);
        m_timelineLabel->setText(
            ok ? QStringLiteral("Timeline written to %1").arg(path)
               : QStringLiteral("Could not write the timeline to %1").arg(path));
        log(m_timelineLabel->text());
        Q_EMIT timelineWritten(path, ok);
    });
}

void MainWindow::runSlowItem()
{
    if (m_shutDown)
        return;
    log(QStringLiteral("slow item: a pool thread sends the GUI thread an item that keeps it "
                       "busy for %1 ms")
            .arg(kSlowItemMs));
    QThreadPool::globalInstance()->start([] {
        try {
            // The mistake the report is there to find: work that belongs on a worker, done in
            // an item on the GUI thread. The window freezes meanwhile.
            qdispatch::runOnMainThread([] {
                QElapsedTimer busy;
                busy.start();
                while (busy.elapsed() < kSlowItemMs) { }
            });
        } catch (const qdispatch::ExecutorError &) {
            // The application is closing: nothing to show it in.
        }
    });
}

void MainWindow::startRender()
{
    if (m_shutDown || m_renderer.isRunning())
        return;
    m_view->reset(kTileSize);
    for (size_t w = 0; w < m_bars.size(); ++w) {
        m_bars[w]->setValue(0);
        m_barNotes[w]->setText(QStringLiteral("starting"));
    }
    m_renderer.start();
    updateButtons();
}

MainWindow::WaitReport MainWindow::waitForEverything()
{
    WaitReport report;
    if (m_shutDown || m_waitDepth > 0)
        return report;
    startRender();
    ++m_waitDepth;
    updateButtons();
    log(QStringLiteral("GUI thread: waiting for the render and the flood with runUntilFuture()"));

    const quint64 ticksBefore = ticks();
    const int shownBefore = m_renderer.counts().shown;
    QElapsedTimer clock;
    clock.start();

    // The point of the demo. The workers are blocked on this thread (each waits until its
    // oldest tile was taken), so job().waitForFinished() here would never return. These calls
    // wait while running every item the workers send, and the timer, paint events and input
    // of this window keep going too (RunMode::AllEvents). Waiting for one future after the
    // other is waiting for both: each returns once its work and everything it sent is done.
    m_gui.runUntilFuture(m_renderer.job());
    m_gui.runUntilFuture(m_flood.producers());

    report.waited = true;
    report.milliseconds = clock.elapsed();
    report.ticks = ticks() - ticksBefore;
    report.tilesArrived = m_renderer.counts().shown - shownBefore;
    --m_waitDepth;
    log(QStringLiteral("GUI thread: runUntilFuture() returned after %1 ms; meanwhile %2 tiles "
                       "arrived and the timer ticked %3 times")
            .arg(report.milliseconds)
            .arg(report.tilesArrived)
            .arg(report.ticks));
    updateButtons();
    return report;
}

void MainWindow::startFlood(int producers, int itemsEach)
{
    if (m_shutDown || !m_flood.start(producers, itemsEach))
        return;
    resetMaxLateness();
    log(QStringLiteral("flood: %1 threads post %2 items each")
            .arg(producers)
            .arg(number(quint64(itemsEach))));
    updateButtons();
}

int MainWindow::cancelWork()
{
    const bool rendering = m_renderer.isRunning();
    const int cancelled = m_renderer.cancel();
    if (m_flood.isRunning()) {
        m_flood.cancel();
        log(QStringLiteral("cancel: flood producers stopped (what they posted still runs)"));
    }
    if (rendering)
        log(QStringLiteral("cancel: %1 queued tile deliveries cancelled; they will never run")
                .arg(cancelled));
    m_pauseButton->setChecked(false); // the next render starts unpaused
    updateButtons();
    return cancelled;
}

void MainWindow::setPaused(bool paused)
{
    m_renderer.setPaused(paused);
    if (m_pauseButton->isChecked() != paused)
        m_pauseButton->setChecked(paused);
    m_pauseButton->setText(paused ? QStringLiteral("Resume") : QStringLiteral("Pause"));
}

void MainWindow::shutdown()
{
    if (m_shutDown)
        return;
    m_shutDown = true;
    updateButtons();
    m_state->setText(QStringLiteral("closing: stopping the workers"));
    m_renderer.stop();
    m_flood.stop();
}

int MainWindow::progressPermille(int worker) const
{
    return m_bars[size_t(worker)]->value();
}

quint64 MainWindow::ticks() const
{
    return m_heartbeat->ticks();
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    shutdown();
    event->accept();
}

void MainWindow::onTick()
{
    const double intervalMs = double(m_sinceTick.nsecsElapsed()) / 1e6;
    m_sinceTick.start();
    m_latenessMs = std::max(0.0, intervalMs - kTimerIntervalMs);
    m_sampleLatenessMs = std::max(m_sampleLatenessMs, m_latenessMs);
    m_maxLatenessMs = std::max(m_maxLatenessMs, m_latenessMs);
    m_heartbeat->advance();
    if (m_sinceSample.elapsed() >= kSampleMs)
        takeSample();
    Q_EMIT ticked();
}

void MainWindow::takeSample()
{
    const double seconds = double(m_sinceSample.nsecsElapsed()) / 1e9;
    m_sinceSample.start();
    const quint64 ran = traffic().ran.load();
    m_itemsPerSecond = double(ran - m_ranAtSample) / seconds;
    m_ranAtSample = ran;
    const quint64 depth = m_gui.pendingCount(); // X10

    m_rateGraph->addSample(m_itemsPerSecond);
    m_depthGraph->addSample(double(depth));
    m_latenessGraph->addSample(m_sampleLatenessMs);

    if (m_shutDown)
        m_state->setText(QStringLiteral("closed: all work stopped"));
    else if (m_waitDepth > 0)
        m_state->setText(QStringLiteral("inside runUntilFuture(), still painting"));
    else
        m_state->setText(QStringLiteral("idle in the event loop"));
    if (m_pauseButton->isChecked())
        m_state->setText(m_state->text() + QStringLiteral(" (workers paused)"));
    m_latenessLabel->setText(QStringLiteral("now %1 ms · worst %2 ms")
                                 .arg(number(m_sampleLatenessMs, 1), number(m_maxLatenessMs, 1)));
    m_itemsLabel->setText(QStringLiteral("%1 · %2 /s").arg(number(ran), number(m_itemsPerSecond)));
    m_depthLabel->setText(QStringLiteral("%1  (pendingCount())").arg(number(depth)));
    const TileRenderer::Counts c = m_renderer.counts();
    m_tilesLabel->setText(QStringLiteral("%1 rendered · %2 shown · %3 cancelled of %4")
                              .arg(c.rendered)
                              .arg(c.shown)
                              .arg(c.cancelled)
                              .arg(m_renderer.tileCount()));
    m_sampleLatenessMs = 0;
}

void MainWindow::log(const QString &text)
{
    m_log->appendPlainText(QStringLiteral("%1  %2").arg(
        number(double(m_uptime.elapsed()) / 1000.0, 3).rightJustified(8), text));
}

void MainWindow::updateButtons()
{
    const bool rendering = m_renderer.isRunning();
    const bool flooding = m_flood.isRunning();
    m_renderButton->setEnabled(!m_shutDown && !rendering);
    m_waitButton->setEnabled(!m_shutDown && m_waitDepth == 0);
    m_floodButton->setEnabled(!m_shutDown && !flooding);
    m_pauseButton->setEnabled(!m_shutDown);
    m_cancelButton->setEnabled(!m_shutDown && (rendering || flooding));
    m_slowButton->setEnabled(!m_shutDown);
}

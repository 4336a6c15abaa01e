// QDispatch demo: worker threads render a fractal and feed a Qt Widgets window through the GUI
// thread's executor, while the GUI thread can wait for all of it without freezing.
//
//   qdispatch-demo                   opens the window
//   qdispatch-demo --selftest        runs the whole scenario and checks it (offscreen by default)
//   qdispatch-demo --screenshot FILE saves a PNG of the window in the middle of its work
//
// See docs/demo.md for what each panel shows.

#include "mainwindow.h"
#include "selftest.h"
#include "slowreports.h"

#include <QtCore/QCommandLineParser>
#include <QtCore/QThread>
#include <QtGui/QPalette>
#include <QtWidgets/QApplication>
#include <QtWidgets/QStyleFactory>

#include <chrono>
#include <cstring>

namespace {

bool hasArgument(int argc, char *argv[], const char *name)
{
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], name) == 0)
            return true;
    }
    return false;
}

// The offscreen platform warns, for every window shown, that it cannot pass size hints on.
// Nothing is wrong; the self-test's report reads better without it. Only that line is dropped.
// QDispatch's slow-item reports also go to the window's panel (X10), and on to the default
// handler like every other message.
QtMessageHandler g_defaultMessageHandler = nullptr;

void dropOffscreenNoise(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    if (type == QtWarningMsg && message.contains(QLatin1String("propagateSizeHints")))
        return;
    if (context.category && std::strcmp(context.category, "qdispatch.slow") == 0
        && QCoreApplication::instance())
        slowReports().add(message);
    g_defaultMessageHandler(type, context, message);
}

// Fusion with a dark palette: the same look on every platform, offscreen included.
void applyLook(QApplication &app)
{
    app.setStyle(QStyleFactory::create(QStringLiteral("Fusion")));
    QPalette p;
    const QColor window(0x2b, 0x2f, 0x36);
    const QColor base(0x1f, 0x22, 0x28);
    const QColor text(0xe6, 0xe8, 0xeb);
    p.setColor(QPalette::Window, window);
    p.setColor(QPalette::WindowText, text);
    p.setColor(QPalette::Base, base);
    p.setColor(QPalette::AlternateBase, window);
    p.setColor(QPalette::Text, text);
    p.setColor(QPalette::Button, QColor(0x38, 0x3d, 0x46));
    p.setColor(QPalette::ButtonText, text);
    p.setColor(QPalette::Highlight, QColor(0x3d, 0xae, 0xe9));
    p.setColor(QPalette::HighlightedText, Qt::black);
    p.setColor(QPalette::ToolTipBase, base);
    p.setColor(QPalette::ToolTipText, text);
    p.setColor(QPalette::PlaceholderText, QColor(0x9a, 0xa0, 0xa8));
    p.setColor(QPalette::Mid, QColor(0x4a, 0x50, 0x5a));
    p.setColor(QPalette::Disabled, QPalette::ButtonText, QColor(0x7a, 0x80, 0x88));
    p.setColor(QPalette::Disabled, QPalette::WindowText, QColor(0x7a, 0x80, 0x88));
    app.setPalette(p);
}

} // namespace

int main(int argc, char *argv[])
{
    // The self-test needs no display: unless told otherwise, it runs on the offscreen platform.
    if (hasArgument(argc, argv, "--selftest") && qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    g_defaultMessageHandler = qInstallMessageHandler(dropOffscreenNoise);

    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("qdispatch-demo"));
    applyLook(app);
    slowReports(); // created on the GUI thread, before any report can arrive
    QThread::currentThread()->setObjectName(QStringLiteral("GUI")); // how reports name it

    // X10: report items that hold the GUI thread for more than three frames, or that start more
    // than 100 ms after they were sent, unless QDISPATCH_SLOW_ITEM_MS says otherwise.
    if (!qEnvironmentVariableIsSet("QDISPATCH_SLOW_ITEM_MS")) {
        using namespace std::chrono_literals;
        qdispatch::mainThreadExecutor()->setSlowItemThresholds(50ms, 100ms);
    }

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Worker threads render a fractal into a window through QDispatch."));
    parser.addHelpOption();
    const QCommandLineOption selfTest(
        QStringLiteral("selftest"),
        QStringLiteral("Run the whole scenario headless, print each check, exit 0 only if "
                       "all passed."));
    const QCommandLineOption screenshot(
        QStringLiteral("screenshot"),
        QStringLiteral("Save a PNG of the window in the middle of its work, then exit."),
        QStringLiteral("file"));
    parser.addOption(selfTest);
    parser.addOption(screenshot);
    parser.process(app);

    if (parser.isSet(selfTest))
        return runSelfTest();
    if (parser.isSet(screenshot))
        return takeScreenshot(parser.value(screenshot));

    MainWindow window;
    window.show();
    return QApplication::exec();
}

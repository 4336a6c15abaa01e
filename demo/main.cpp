// QDispatch demo: worker threads render a fractal and feed a Qt Widgets window through the GUI
// thread's executor, while the GUI thread can wait for all of it without freezing.
//
//   qdispatch-demo                   opens the window
//   qdispatch-demo --selftest        runs the whole scenario and checks it (offscreen by default)
//   qdispatch-demo --screenshot FILE saves a PNG of the window in the middle of its work
//   qdispatch-demo --help            prints the usage; needs no display
//
// A command-line error prints the error and the usage and exits with code 2, also without a
// display: the arguments are parsed before the QApplication (and its platform) exists.
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
#include <cstdio>
#include <cstring>

namespace {

// The demo's options, declared alike in both parses of main().
void declareOptions(QCommandLineParser &parser)
{
    parser.setApplicationDescription(
        QStringLiteral("Worker threads render a fractal into a window through QDispatch."));
    parser.setSingleDashWordOptionMode(QCommandLineParser::ParseAsLongOptions);
    parser.addHelpOption();
    parser.addOption(QCommandLineOption(
        QStringLiteral("selftest"),
        QStringLiteral("Run the whole scenario headless, print each check, exit 0 only if "
                       "all passed.")));
    parser.addOption(QCommandLineOption(
        QStringLiteral("screenshot"),
        QStringLiteral("Save a PNG of the window in the middle of its work, then exit."),
        QStringLiteral("file")));
}

// The options QGuiApplication and QApplication take for themselves (and the X11 ones of the xcb
// platform). QApplication removes them from the arguments, so the parse before it exists must
// not call them unknown.
bool isQtOption(const QString &name)
{
    static const char *const qtOptions[] = { "platform",      "platformpluginpath",
                                             "platformtheme", "plugin",
                                             "qmljsdebugger", "qwindowgeometry",
                                             "qwindowicon",   "qwindowtitle",
                                             "reverse",       "session",
                                             "style",         "stylesheet",
                                             "widgetcount",   "display",
                                             "geometry",      "title",
                                             "icon",          "name",
                                             "visual",        "ncols",
                                             "cmap",          "im",
                                             "inputstyle",    "nograb",
                                             "dograb",        "sync",
                                             "testability" };
    for (const char *option : qtOptions) {
        if (name == QLatin1String(option))
            return true;
    }
    return false;
}

// --help and command-line errors, answered before any QApplication exists, so that they work
// without a display. Returns the exit code when the demo should stop here, or -1 to go on;
// `selfTest` tells whether --selftest was given.
int answerWithoutDisplay(int &argc, char *argv[], bool &selfTest)
{
    QStringList arguments;
    for (int i = 0; i < argc; ++i)
        arguments << QString::fromLocal8Bit(argv[i]);
    QCommandLineParser parser;
    declareOptions(parser);
    const bool parsed = parser.parse(arguments);

    QStringList unknown; // unknown to the demo and to Qt
    const QStringList unknownNames = parser.unknownOptionNames();
    for (const QString &name : unknownNames) {
        if (!isQtOption(name))
            unknown << name;
    }
    // Only Qt's own options unknown: QApplication takes them, and the parse after it checks
    // the rest. --help-all (Qt's options too) needs that application as well.
    const bool error = !parsed && (unknownNames.isEmpty() || !unknown.isEmpty());
    const bool help = parser.isSet(QStringLiteral("help"));
    selfTest = parser.isSet(QStringLiteral("selftest"));
    if (!error && !help)
        return -1;

    // A core application has no platform and needs no display; it gives helpText() the
    // executable's name.
    QCoreApplication textOnly(argc, argv);
    if (error) {
        QString message = parser.errorText();
        if (!unknown.isEmpty()) {
            const QString names = unknown.join(QStringLiteral(", "));
            message = unknown.size() == 1 ? QStringLiteral("Unknown option '%1'.").arg(names)
                                          : QStringLiteral("Unknown options: %1.").arg(names);
        }
        std::fprintf(stderr, "%s: %s\n\n%s", qPrintable(QCoreApplication::applicationName()),
                     qPrintable(message), qPrintable(parser.helpText()));
        return 2;
    }
    std::fputs(qPrintable(parser.helpText()), stdout);
    return 0;
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
    if (context.category && std::strcmp(context.category, "qdispatch.slow") == 0 &&
        QCoreApplication::instance())
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
    QCoreApplication::setApplicationName(QStringLiteral("qdispatch-demo"));
    bool selfTest = false;
    if (const int exitCode = answerWithoutDisplay(argc, argv, selfTest); exitCode >= 0)
        return exitCode;

    // The self-test needs no display: unless told otherwise, it runs on the offscreen platform.
    if (selfTest && qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    g_defaultMessageHandler = qInstallMessageHandler(dropOffscreenNoise);

    QApplication app(argc, argv);
    applyLook(app);
    slowReports(); // created on the GUI thread, before any report can arrive
    QThread::currentThread()->setObjectName(QStringLiteral("GUI")); // how reports name it

    // X10: report items that hold the GUI thread for more than three frames, or that start more
    // than 100 ms after they were sent, unless QDISPATCH_SLOW_ITEM_MS says otherwise.
    if (!qEnvironmentVariableIsSet("QDISPATCH_SLOW_ITEM_MS")) {
        using namespace std::chrono_literals;
        qdispatch::mainThreadExecutor()->setSlowItemThresholds(50ms, 100ms);
    }

    // Parsed again without Qt's own options, which QApplication has taken out; this also
    // answers --help-all, which lists Qt's options and so needs the application.
    QCommandLineParser parser;
    declareOptions(parser);
    parser.process(app);

    if (parser.isSet(QStringLiteral("selftest")))
        return runSelfTest();
    if (parser.isSet(QStringLiteral("screenshot")))
        return takeScreenshot(parser.value(QStringLiteral("screenshot")));

    MainWindow window;
    window.show();
    return QApplication::exec();
}

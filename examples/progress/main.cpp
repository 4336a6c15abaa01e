// Progress reporting through postLatest(): a worker reports every one of its 100,000 steps to a
// progress bar. Each report replaces the one still queued with the same key, so the GUI thread
// runs a few of them, as fast as it can, and never falls behind by more than one; the last
// report always runs.

#include <qdispatch/currentthreadexecutor.h>

#include <QtConcurrent/QtConcurrentRun>
#include <QtWidgets/QApplication>
#include <QtWidgets/QProgressBar>

#include <cstdio>

int main(int argc, char *argv[])
{
    QApplication app(argc, argv);
    constexpr int steps = 100000;
    QProgressBar bar;
    bar.setRange(0, steps);
    bar.show();

    qdispatch::CurrentThreadExecutor gui; // made on the GUI thread, so its items run there
    int updatesRun = 0; // touched on the GUI thread only

    QFuture<void> job = QtConcurrent::run([&gui, &bar, &updatesRun] {
        for (int step = 1; step <= steps; ++step) {
            // The key (here the bar's address) says which queued report this one replaces.
            gui.postLatest(&bar, [&bar, &updatesRun, step] {
                bar.setValue(step);
                ++updatesRun;
            });
        }
    });

    // Runs the reports as they come, and every report queued before the worker finished.
    gui.runUntilFuture(job);

    std::printf("progress: the worker sent %d reports, the GUI thread ran %d, the bar shows %d\n",
                steps, updatesRun, bar.value());
    return bar.value() == steps && updatesRun >= 1 && updatesRun <= steps ? 0 : 1;
}

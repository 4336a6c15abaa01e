// QDispatch quick start, the program README.md quotes: a worker thread updates a widget through
// the GUI thread and waits for each update, while the GUI thread waits for the worker. The
// window keeps painting, and the two waits do not deadlock.
//
// It builds against an installed QDispatch (find_package, see CMakeLists.txt) and inside
// QDispatch's own tree; CTest runs it on the offscreen platform and checks what it prints.

#include <qdispatch/currentthreadexecutor.h>

#include <QtConcurrent/QtConcurrentRun>
#include <QtWidgets/QApplication>
#include <QtWidgets/QLabel>

#include <cstdio>

int main(int argc, char *argv[])
{
    QApplication app(argc, argv);
    QLabel label;
    label.show();

    // [quickstart] README.md quotes the lines between the two markers.
    qdispatch::CurrentThreadExecutor gui; // made on the GUI thread, so its items run there

    QFuture<int> job = QtConcurrent::run([&gui, &label] {
        int sum = 0;
        for (int step = 1; step <= 10; ++step) {
            sum += step; // the slow work, on a pool thread
            // Widgets belong to the GUI thread: run this there, and block until it has run.
            gui.invoke([&label, step] { label.setText(QString::number(step)); });
        }
        return sum;
    });

    // Wait for the worker without freezing: the window keeps painting and the worker's invoke()
    // calls run here. job.waitForFinished() would run no events, so a worker calling in through
    // Qt::BlockingQueuedConnection would block on its first call and both would wait forever.
    gui.runUntilFuture(job);
    // [quickstart]

    const int sum = job.result();
    std::printf("quickstart: the worker summed %d, the label shows %s\n", sum,
                qPrintable(label.text()));
    return sum == 55 && label.text() == QStringLiteral("10") ? 0 : 1;
}

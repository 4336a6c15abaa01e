// The GUI thread waits for a worker that itself needs the GUI thread, twice: with Qt alone, and
// with QDispatch.
//
// With Qt alone the worker updates the label through Qt::BlockingQueuedConnection, which blocks
// the worker until the GUI thread has run the call, while the GUI thread blocks in
// QThread::wait() until the worker has finished, running no events. Each waits for the other: a
// deadlock. So that the program can show it and still end, the GUI thread waits with a deadline;
// when the deadline passes, it runs its event loop until the worker is done, which delivers the
// worker's calls and frees it.
//
// With QDispatch the worker calls invoke() and the GUI thread waits in runUntilFuture(), which
// runs the worker's calls while it waits: both finish, and no deadline is needed.

#include <qdispatch/currentthreadexecutor.h>

#include <QtConcurrent/QtConcurrentRun>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QEventLoop>
#include <QtCore/QThread>
#include <QtWidgets/QApplication>
#include <QtWidgets/QLabel>

#include <cstdio>
#include <memory>

namespace {

constexpr int steps = 5;

// Qt alone. Returns true when the GUI thread's wait ended by itself, false when it deadlocked.
bool waitWithQtAlone(QLabel &label)
{
    std::unique_ptr<QThread> worker(QThread::create([&label] {
        for (int step = 1; step <= steps; ++step) {
            QMetaObject::invokeMethod(
                &label, [&label, step] { label.setText(QString::number(step)); },
                Qt::BlockingQueuedConnection);
        }
    }));
    worker->start();

    // The deadlock: no events run during this wait, so the worker's first call never returns.
    const bool endedByItself = worker->wait(QDeadlineTimer(1000));

    // The way out that this program allows itself: run events until the worker has finished.
    QEventLoop loop;
    QObject::connect(worker.get(), &QThread::finished, &loop, &QEventLoop::quit);
    if (!worker->isFinished())
        loop.exec();
    worker->wait();
    return endedByItself;
}

// QDispatch. Returns true when the GUI thread's wait ended by itself.
bool waitWithQDispatch(QLabel &label)
{
    qdispatch::CurrentThreadExecutor gui; // made on the GUI thread, so its items run there
    QFuture<void> job = QtConcurrent::run([&gui, &label] {
        for (int step = 1; step <= steps; ++step)
            gui.invoke([&label, step] { label.setText(QString::number(step)); });
    });
    // Runs the worker's invoke() calls while it waits. The deadline is only a safety net.
    return gui.runUntilFuture(job, QDeadlineTimer(30000));
}

} // namespace

int main(int argc, char *argv[])
{
    QApplication app(argc, argv);
    QLabel label(QStringLiteral("0"));
    label.show();

    const bool qtEnded = waitWithQtAlone(label);
    std::printf("guiwait: Qt::BlockingQueuedConnection and QThread::wait(): %s\n",
                qtEnded ? "the wait ended by itself" : "deadlock (the wait gave up after 1 s)");

    label.setText(QStringLiteral("0"));
    const bool qdispatchEnded = waitWithQDispatch(label);
    std::printf("guiwait: QDispatch invoke() and runUntilFuture(): %s, the label shows %s\n",
                qdispatchEnded ? "the wait ended by itself" : "the wait gave up",
                qPrintable(label.text()));

    return !qtEnded && qdispatchEnded && label.text() == QString::number(steps) ? 0 : 1;
}

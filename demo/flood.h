// QDispatch demo: a flood of tiny updates posted to the GUI thread from several threads.
#pragma once

#include <qdispatch/currentthreadexecutor.h>

#include <QtCore/QElapsedTimer>
#include <QtCore/QFuture>
#include <QtCore/QFutureWatcher>
#include <QtCore/QObject>
#include <QtCore/QThreadPool>

#include <atomic>

// Producer threads post() as many tiny items as they can (X1). Each item updates a few
// counters on the GUI thread, standing in for "one row appended to a model". QDispatch wakes
// the GUI thread once per burst and runs the items in slices of a few milliseconds, so the
// window keeps painting and its timer keeps firing while hundreds of thousands go through.
//
// GUI thread only, except posted(), which any thread may call.
class Flood final : public QObject
{
    Q_OBJECT

public:
    explicit Flood(QObject *parent = nullptr);
    ~Flood() override; // stop()

    // Starts `producers` threads posting `itemsEach` items each; false when one is running.
    bool start(int producers, int itemsEach);
    // Stops the producers. Items already posted still run: a post has no future to cancel.
    void cancel();
    // cancel(), then runs everything already posted: afterwards no item of this flood is left.
    // Final: for an owner that is about to go; start() does nothing afterwards.
    void stop();

    // Producers still posting, or items of theirs still queued.
    bool isRunning() const { return m_producers.isRunning() || m_ran < m_posted.load(); }
    // Finishes when every producer has returned (its items may still be queued).
    QFuture<void> producers() const { return QFuture<void>(m_producers); }

    quint64 requested() const { return m_requested; }
    quint64 posted() const { return m_posted.load(); }
    quint64 ran() const { return m_ran; }
    // Items per second over the flood so far, from its first item run to its last.
    double itemsPerSecond() const;

Q_SIGNALS:
    // After the last item of the flood ran.
    void finished(quint64 itemsRun, qint64 milliseconds);

private:
    int produce(int itemsEach); // on a producer thread
    void onProducersFinished();

    qdispatch::CurrentThreadExecutor &m_gui; // every item has this object as its context (X8)

    QThreadPool m_pool;
    QFuture<int> m_producers;
    QFutureWatcher<int> m_watcher;
    std::atomic<bool> m_stopping { false };
    std::atomic<quint64> m_posted { 0 };

    // GUI thread only.
    bool m_shutDown = false;
    quint64 m_requested = 0;
    quint64 m_ran = 0;
    quint64 m_checksum = 0;
    QElapsedTimer m_clock;
    qint64 m_firstRunNs = -1;
    qint64 m_lastRunNs = -1;
};

#include "flood.h"

#include "traffic.h"

#include <QtConcurrent/QtConcurrentMap>

Flood::Flood(QObject *parent) : QObject(parent), m_gui(*qdispatch::mainThreadExecutor())
{
    connect(&m_watcher, &QFutureWatcherBase::finished, this, &Flood::onProducersFinished);
}

Flood::~Flood()
{
    stop();
}

bool Flood::start(int producers, int itemsEach)
{
    if (isRunning() || m_shutDown)
        return false;
    m_pool.waitForDone(); // the last flood's tasks have returned, or are about to
    m_pool.setMaxThreadCount(producers);
    m_stopping.store(false);
    m_posted.store(0);
    m_requested = quint64(producers) * quint64(itemsEach);
    m_ran = 0;
    m_checksum = 0;
    m_firstRunNs = m_lastRunNs = -1;
    m_clock.start();

    m_producers = QtConcurrent::mapped(&m_pool, QList<int>(producers, itemsEach),
                                       [this](int count) { return produce(count); });
    m_watcher.setFuture(m_producers);
    return true;
}

void Flood::cancel()
{
    m_stopping.store(true);
}

void Flood::stop()
{
    m_shutDown = true; // from here on, onProducersFinished() posts nothing
    cancel();
    // Every item a producer posted was accepted before the producers' future finished, so
    // this returns only once all of them have run (C8). The second call runs what was posted
    // after that: the "finished" item that onProducersFinished() may have queued.
    m_gui.runUntilFuture(m_producers);
    m_gui.runPending();
    m_pool.waitForDone();
}

double Flood::itemsPerSecond() const
{
    if (m_ran < 2 || m_lastRunNs <= m_firstRunNs)
        return 0.0;
    return double(m_ran - 1) * 1e9 / double(m_lastRunNs - m_firstRunNs);
}

int Flood::produce(int itemsEach)
{
    int i = 0;
    for (; i < itemsEach && !m_stopping.load(std::memory_order_relaxed); ++i) {
        // `this` is the item's context (X8): were the Flood gone before the item ran, the
        // executor would skip it.
        m_gui.post(this, counted([this, value = quint64(i)] {
                       // The "update": cheap on purpose, so what is measured is the dispatching.
                       const qint64 now = m_clock.nsecsElapsed();
                       if (m_ran++ == 0)
                           m_firstRunNs = now;
                       m_lastRunNs = now;
                       m_checksum += value;
                   }));
        m_posted.fetch_add(1, std::memory_order_relaxed);
    }
    return i;
}

void Flood::onProducersFinished()
{
    if (!m_producers.isFinished() || m_shutDown)
        return; // a late notice about an earlier flood, or the owner is closing
    // Posted from the GUI thread itself (allowed for post(), X1) after every producer item
    // was accepted, so it runs after all of them (C4): the flood is over when it runs.
    m_gui.post(this, [this] { Q_EMIT finished(m_ran, m_clock.elapsed()); });
}

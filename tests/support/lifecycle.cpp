#include "lifecycle.h"

#include <QtCore/QMutexLocker>

using qdispatch::CurrentThreadExecutor;
using qdispatch::ExecutorError;

namespace qdispatchtest {

QList<int> Journal::callOrder() const
{
    QMutexLocker locker(&mutex);
    return calls;
}

QThread *Journal::ranOn(int id) const
{
    QMutexLocker locker(&mutex);
    return calledOn.value(id);
}

QThread *Journal::diedOn(int id) const
{
    QMutexLocker locker(&mutex);
    return destroyedOn.value(id);
}

std::thread::id Journal::diedOnId(int id) const
{
    QMutexLocker locker(&mutex);
    return destroyedOnId.value(id);
}

Probe::Probe(std::shared_ptr<Journal> journal, int id) : m_journal(std::move(journal)), m_id(id)
{
    m_journal->alive.fetch_add(1);
}

Probe::~Probe()
{
    if (!m_journal)
        return;
    {
        QMutexLocker locker(&m_journal->mutex);
        m_journal->destroyedOn.insert(m_id, QThread::currentThread());
        m_journal->destroyedOnId.insert(m_id, std::this_thread::get_id());
    }
    m_journal->alive.fetch_sub(1);
    m_journal->destroyed.release();
}

int Probe::operator()()
{
    {
        QMutexLocker locker(&m_journal->mutex);
        m_journal->calls.append(m_id);
        m_journal->calledOn.insert(m_id, QThread::currentThread());
    }
    m_journal->called.release();
    return m_id;
}

QString brokenProblem(const QFuture<int> &future)
{
    if (!future.isFinished())
        return QStringLiteral("the future is not finished");
    const Thrown t = thrownBy([f = future]() mutable { f.waitForFinished(); });
    if (t.executorError && t.code == ExecutorError::Code::Broken)
        return {};
    if (t.executorError)
        return QStringLiteral("ExecutorError with another code: %1").arg(t.message);
    return t.other ? QStringLiteral("an exception of another type")
                   : QStringLiteral("finished without an exception");
}

QString brokenProblem(const QList<QFuture<int>> &futures)
{
    for (const QFuture<int> &future : futures) {
        const QString problem = brokenProblem(future);
        if (!problem.isEmpty())
            return problem;
    }
    return {};
}

Submitted submitProbes(CurrentThreadExecutor *executor, const std::shared_ptr<Journal> &journal,
                       const QList<int> &ids)
{
    Submitted result;
    for (int id : ids) {
        const int code =
            errorCodeOf([&] { result.futures.append(executor->submit(Probe(journal, id))); });
        if (code == kBroken)
            ++result.brokenErrors;
        else if (code != kNothingThrown)
            ++result.otherErrors;
    }
    return result;
}

Submitted submitProbesFromWorker(CurrentThreadExecutor *executor,
                                 const std::shared_ptr<Journal> &journal, const QList<int> &ids)
{
    return onWorker([&] { return submitProbes(executor, journal, ids); });
}

QString whereTheyWent(const Journal &journal, const Submitted &submitted, QThread *ranOn,
                      QThread *failedOn)
{
    const int n = int(submitted.futures.size());
    if (ranOn) {
        QList<int> inOrder;
        for (int id = 0; id < n; ++id)
            inOrder.append(id);
        if (journal.callOrder() != inOrder)
            return QStringLiteral("the probes did not all run, in their order");
        for (int id = 0; id < n; ++id) {
            if (journal.ranOn(id) != ranOn || journal.diedOn(id) != ranOn)
                return QStringLiteral("probe %1 ran or died on another thread").arg(id);
            const QFuture<int> &future = submitted.futures.at(id);
            if (errorCodeOf(future) != kNothingThrown || future.result() != id)
                return QStringLiteral("probe %1 has no result, or the wrong one").arg(id);
        }
    } else {
        const QString problem = brokenProblem(submitted.futures);
        if (!problem.isEmpty())
            return problem;
        if (journal.called.available() != 0)
            return QStringLiteral("a probe ran");
        for (int id = 0; id < n; ++id) {
            if (journal.diedOn(id) != failedOn)
                return QStringLiteral("probe %1 died on another thread").arg(id);
        }
    }
    if (journal.alive.load() != 0)
        return QStringLiteral("%1 probes are still alive").arg(journal.alive.load());
    return {};
}

BlockedOwner::BlockedOwner(bool useQThread, CurrentThreadExecutor *old)
    : m_thread(useQThread, [this, old] {
          m_executor = std::make_unique<CurrentThreadExecutor>(old);
          m_qthread = QThread::currentThread();
          m_id = std::this_thread::get_id();
          m_ready.release();
          m_released = m_go.tryAcquire(1, kJoinMs);
      })
{ }

BlockedOwner::~BlockedOwner()
{
    m_go.release();
    (void)m_thread.join();
}

bool BlockedOwner::waitReady()
{
    if (!m_ready.tryAcquire(1, kHandshakeMs))
        return false;
    m_thread.watchFinished(); // the executor exists: see AnyThread::watchFinished()
    return true;
}

bool BlockedOwner::finish()
{
    m_go.release();
    return m_thread.join() && m_released;
}

const QRegularExpression &foreignDestructionMessage()
{
    static const QRegularExpression re(QStringLiteral("destroyed on another thread"));
    return re;
}

} // namespace qdispatchtest

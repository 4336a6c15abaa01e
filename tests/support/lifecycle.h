// Tools of the tests of C10..C13 (tst_lifecycle, tst_shutdown): callables that record where they
// ran and where they were destroyed, and owner threads that hold their executor while they run
// no events.
#pragma once

#include "testsupport.h"

#include <QtCore/QHash>
#include <QtCore/QList>
#include <QtCore/QMutex>
#include <QtCore/QRegularExpression>
#include <QtCore/QString>

#include <atomic>
#include <memory>
#include <thread>

namespace qdispatchtest {

// What the probes of one test did: which ids were called, in which order, on which thread, and
// on which thread each probe that was handed to an executor was finally destroyed.
struct Journal
{
    mutable QMutex mutex;
    QList<int> calls;
    QHash<int, QThread *> calledOn;
    QHash<int, QThread *> destroyedOn;
    QHash<int, std::thread::id> destroyedOnId;
    Semaphore called;
    Semaphore destroyed;
    std::atomic<int> alive { 0 };

    QList<int> callOrder() const;
    QThread *ranOn(int id) const;
    QThread *diedOn(int id) const;
    std::thread::id diedOnId(int id) const;
};

// A move-only callable returning its id. Only the instance that holds the journal (the last one
// moved into) records its destruction, so temporaries on the submitting thread do not count.
class Probe
{
public:
    Probe(std::shared_ptr<Journal> journal, int id);
    Probe(Probe &&other) noexcept : m_journal(std::move(other.m_journal)), m_id(other.m_id) { }
    Probe(const Probe &) = delete;
    Probe &operator=(const Probe &) = delete;
    Probe &operator=(Probe &&) = delete;
    ~Probe();
    int operator()();

private:
    std::shared_ptr<Journal> m_journal;
    int m_id;
};

// Empty when `future` is finished with ExecutorError{Broken} stored (C12), else what is wrong.
QString brokenProblem(const QFuture<int> &future);
// The same for every future: the first problem found, or empty.
QString brokenProblem(const QList<QFuture<int>> &futures);

struct Submitted
{
    QList<QFuture<int>> futures;
    int brokenErrors = 0;
    int otherErrors = 0;
};

// Submits Probe(id) for every id from the calling thread (which must not be the owner).
Submitted submitProbes(qdispatch::CurrentThreadExecutor *executor,
                       const std::shared_ptr<Journal> &journal, const QList<int> &ids);
// The same from a worker thread, joined before it returns.
Submitted submitProbesFromWorker(qdispatch::CurrentThreadExecutor *executor,
                                 const std::shared_ptr<Journal> &journal, const QList<int> &ids);

// Where the probes 0..n-1 went that an executor still held when it broke (C12), once they had the
// chance to: with `ranOn`, they ran there in their order, gave their ids as results and were
// destroyed there; with ranOn null, none ran, their futures hold Broken, and each was destroyed
// on `failedOn`. Either way none is left alive. Empty, or what is wrong.
QString whereTheyWent(const Journal &journal, const Submitted &submitted, QThread *ranOn,
                      QThread *failedOn);

// An owner thread that constructs an executor (chained to `old`), announces it, and then blocks,
// running no events at all, until finish(): items submitted meanwhile stay queued.
class BlockedOwner
{
public:
    explicit BlockedOwner(bool useQThread, qdispatch::CurrentThreadExecutor *old = nullptr);
    ~BlockedOwner();

    [[nodiscard]] bool waitReady();
    // Lets the owner return; true when it then ended in time, having been let go (not timed out).
    [[nodiscard]] bool finish();
    qdispatch::CurrentThreadExecutor *executor() const { return m_executor.get(); }
    std::unique_ptr<qdispatch::CurrentThreadExecutor> takeExecutor()
    {
        return std::move(m_executor);
    }
    QThread *qthread() const { return m_qthread; }
    std::thread::id id() const { return m_id; }
    void deleteQThreadObject() { m_thread.deleteQThread(); }

private:
    Semaphore m_ready;
    Semaphore m_go;
    std::unique_ptr<qdispatch::CurrentThreadExecutor> m_executor;
    QThread *m_qthread = nullptr;
    std::thread::id m_id;
    bool m_released = false;
    AnyThread m_thread; // last: starts once everything above exists
};

// The qCritical() of C13's programming error: destroyed on another thread while its owner runs.
const QRegularExpression &foreignDestructionMessage();

} // namespace qdispatchtest

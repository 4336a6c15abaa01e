// Tests of the queue's own machinery (src/itemqueue.cpp, docs/architecture.md "The queue"): a flood
// that producers queued while the owner was busy is put in order a step at a time, what is left
// of it moves down the chain in order when the executor breaks in the middle of that, and the
// memory the flood's batch took is given back once nothing is queued. The rules guarded are named
// per test. Threads are ordered by joins (never sleeps).

#include <qdispatch/currentthreadexecutor.h>

#include "testsupport.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QTimer>
#include <QtTest/QTest>

#include <vector>

using namespace qdispatch;
using namespace qdispatchtest;

namespace {

// Long enough that putting it in order (tens of nanoseconds an item) takes several of a drain's
// 4 ms time slices on any machine this runs on.
constexpr int kFlood = 1000000;

// The order in which the posted items ran, and how many times the timer had fired when the first
// of them ran.
struct Record
{
    std::vector<int> order;
    int ticksBeforeFirst = -1;
};

// Posts kFlood items, numbered in order, from another thread, and returns once they are queued.
bool postFlood(CurrentThreadExecutor &target, Record &record, const int &ticks)
{
    record.order.reserve(kFlood);
    Worker producer([&] {
        for (int i = 0; i < kFlood; ++i) {
            target.post([&record, &ticks, i] {
                if (record.order.empty())
                    record.ticksBeforeFirst = ticks;
                record.order.push_back(i);
            });
        }
    });
    return producer.join();
}

bool ranInOrder(const Record &record)
{
    if (record.order.size() != size_t(kFlood))
        return false;
    for (int i = 0; i < kFlood; ++i) {
        if (record.order[size_t(i)] != i)
            return false;
    }
    return true;
}

} // namespace

class TestQueue : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void c3_c4_floodIsPutInOrderBetweenTimeSlices();
    void c4_c12_breakWhileAFloodIsPutInOrderHandsItOnInOrder();
    void c4_floodsMemoryIsGivenBack_data();
    void c4_floodsMemoryIsGivenBack();
};

// C4: a million items queued at once run in the order they were posted. C3: putting them in
// order takes several time slices, and the thread's timers run between those slices, before the
// first item of the flood runs (P5: a flood must not hold up a timer).
void TestQueue::c3_c4_floodIsPutInOrderBetweenTimeSlices()
{
    CurrentThreadExecutor ex;
    Record record;
    int ticks = 0;
    QVERIFY(postFlood(ex, record, ticks));

    QTimer timer;
    timer.setTimerType(Qt::PreciseTimer);
    QObject::connect(&timer, &QTimer::timeout, [&ticks] { ++ticks; });
    timer.start(1);
    const QDeadlineTimer deadline(60000);
    while (record.order.size() < size_t(kFlood) && !deadline.hasExpired())
        QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents);

    QVERIFY(ranInOrder(record));
    QVERIFY2(record.ticksBeforeFirst >= 1,
             "the timer never fired while the flood was being put in order");
    QCOMPARE(ex.stats().run, quint64(kFlood));
}

// C12 with C4: the executor breaks while its owner is still putting a flood in order (a timer
// between two time slices shuts it down). Nothing of the flood has run; all of it moves to the
// older executor, in order, and runs there.
void TestQueue::c4_c12_breakWhileAFloodIsPutInOrderHandsItOnInOrder()
{
    CurrentThreadExecutor older;
    CurrentThreadExecutor newer(&older);
    Record record;
    int ticks = 0;
    QVERIFY(postFlood(newer, record, ticks));

    ExecutorStats atBreak;
    QTimer::singleShot(0, [&] {
        atBreak = newer.stats();
        newer.shutdown();
    });
    const QDeadlineTimer deadline(60000);
    while (!newer.isBroken() && !deadline.hasExpired())
        QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents);
    QVERIFY(newer.isBroken());
    // The point of the test: the break came while the flood was being put in order.
    QCOMPARE(atBreak.run, quint64(0));
    QCOMPARE(atBreak.accepted, quint64(kFlood));
    QVERIFY(QTest::qWaitFor([&] { return record.order.size() == size_t(kFlood); }, 60000));

    QVERIFY(ranInOrder(record));
    QCOMPARE(newer.stats().handedOff, quint64(kFlood));
    QCOMPARE(older.stats().run, quint64(kFlood));
}

// docs/architecture.md, "A flood's memory": the batch of a million items (two vectors of 8 MB)
// keeps its memory while the flood goes on and gives it back when the owner finds nothing
// queued, or when a batch after it needs less than a quarter of it. The memory is measured right
// after the flood's last item (the owner found nothing queued), or in an item that the flood's
// last item queued (the owner never found the queue empty: only the quarter rule can have given
// it back). C4 on the way: the flood ran in order. Checked where malloc's own count means
// something (glibc, no sanitizer allocator).
void TestQueue::c4_floodsMemoryIsGivenBack_data()
{
    addRows<bool>("smallBatchAfter",
                  { { "nothing queued after it", false }, { "a small batch after it", true } });
}

void TestQueue::c4_floodsMemoryIsGivenBack()
{
    QFETCH(bool, smallBatchAfter);
    CurrentThreadExecutor ex;
    Record record;
    record.order.reserve(kFlood);
    int ticks = 0;
    const qint64 before = heapInUseKb();
    QVERIFY(postFlood(ex, record, ticks));
    qint64 after = 0;
    bool measured = false;
    const auto measure = [&] {
        after = heapInUseKb();
        measured = true;
    };
    if (smallBatchAfter)
        ex.post([&] { ex.post(measure); });

    const QDeadlineTimer deadline(60000);
    while ((record.order.size() < size_t(kFlood) || (smallBatchAfter && !measured)) &&
           !deadline.hasExpired())
        QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents);
    QVERIFY(ranInOrder(record));
    if (!smallBatchAfter)
        measure();
    QVERIFY(measured);
    if (!kHeapCounted)
        return;
    // The items themselves are gone; what a kept batch would hold is 16 MB.
    QVERIFY2(after - before < 1024,
             qPrintable(QStringLiteral("%1 kB more in use after the flood than before it")
                            .arg(after - before)));
}

QTEST_GUILESS_MAIN(TestQueue)
#include "tst_queue.moc"

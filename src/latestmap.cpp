// postLatest() (X2): the items whose callable a newer call with the same key replaces in place,
// and the map of an executor that finds them, also across a hand-off down the chain.
#include "latestmap_p.h"

#include "executorstate_p.h"
#include "itemqueue_p.h"
#include "waitchains_p.h"

#include <QtCore/QSet>

namespace qdispatch::detail {

void LatestItem::run() noexcept
{
    if (auto work = home->takeLatestPayload(this)) {
        ranName = work->callableName(); // X10: a report about this item names the payload
        nameRunningItem(work->identity()); // X11: so does describeWaits()
        passClaimTo(*work); // the payload starts or skips itself (X8 context), for the books
        ExecutorState::runItem(work.release());
    } else {
        begin(true); // skipped; not reached: a queued latest-item always holds a payload
    }
}

void LatestItem::fail(const std::exception_ptr &error) noexcept
{
    if (auto work = home->takeLatestPayload(this))
        work->fail(error);
}

LatestMap::Put LatestMap::put(const StateLock &, const void *key,
                              std::unique_ptr<WorkItem> &payload, LatestItem *fresh)
{
    std::lock_guard locker(m_mutex);
    if (LatestItem *queued = m_items.value(key)) {
        std::swap(queued->payload, payload);
        return Put::Replaced;
    }
    fresh->payload = std::move(payload);
    m_items.insert(key, fresh);
    return Put::Listed;
}

std::unique_ptr<WorkItem> LatestMap::take(LatestItem *item)
{
    // Not the state mutex: the owner thread calls this with its claim on the item open, and a
    // thread that breaks the executor holds the state mutex while it waits for that claim to
    // close (C4).
    std::lock_guard locker(m_mutex);
    const auto it = m_items.constFind(item->key);
    if (it != m_items.cend() && it.value() == item)
        m_items.erase(it);
    return std::move(item->payload);
}

void LatestMap::adopt(const StateLock &, const std::vector<LatestItem *> &items,
                      const std::shared_ptr<ExecutorState> &home)
{
    // Each key now names its item here. The moved item sits behind anything queued here
    // already, so it is the one a later postLatest() replaces: the newest value still runs last
    // (C4), and an older item here with the same key simply runs.
    std::lock_guard locker(m_mutex);
    for (LatestItem *item : items) {
        item->home = home;
        m_items.insert(item->key, item);
    }
}

std::vector<LatestItem *> LatestMap::takeQueued(const StateLock &, WorkItem *first)
{
    // An item claimed to run may still be listed until it takes its payload: only those in the
    // queue are kept.
    std::vector<LatestItem *> queued;
    std::lock_guard locker(m_mutex);
    if (!m_items.isEmpty() && first) {
        QSet<const WorkItem *> listed;
        for (LatestItem *item : std::as_const(m_items))
            listed.insert(item);
        for (WorkItem *item = first; item && queued.size() < size_t(listed.size());
             item = ItemQueue::next(item)) {
            if (listed.contains(item))
                queued.push_back(static_cast<LatestItem *>(item));
        }
    }
    m_items.clear();
    return queued;
}

} // namespace qdispatch::detail

// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// postLatest() (X2): the queued items whose callable a newer call with the same key replaces, and
// the map that finds them by key.
#pragma once

#include "statelock_p.h"

#include <qdispatch/currentthreadexecutor.h>

#include <QtCore/QHash>

#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace qdispatch::detail {

class ExecutorState;

// X2: a queued slot whose callable a newer postLatest() with the same key may replace.
class LatestItem final : public WorkItem
{
public:
    LatestItem(std::shared_ptr<ExecutorState> home, const void *key)
        : home(std::move(home)), key(key)
    { }
    void run() noexcept override;
    void fail(const std::exception_ptr &error) noexcept override;
    CallableName callableName() const noexcept override { return ranName; }

    // Whose map guards `payload` (and these fields) while it is queued. A hand-off moves it to
    // the receiving executor under both executors' state locks, while the item is queued.
    std::shared_ptr<ExecutorState> home;
    const void *const key;
    std::unique_ptr<WorkItem> payload;

    CallableName ranName; // X10: the payload's, once run() took it
};

// X2: an executor's queued latest-items that are still replaceable, by key, and their payloads.
// It has a mutex of its own, taken after the state mutex where both are needed: the owner thread
// takes a payload with its claim on the item open, which a thread breaking the executor waits for
// while it holds the state mutex (C4).
class LatestMap
{
public:
    enum class Put {
        Replaced, // a queued item had the key: the payloads were swapped
        Listed // none had: the fresh item holds the payload and is listed, to be queued
    };

    LatestMap() = default;
    LatestMap(const LatestMap &) = delete;
    LatestMap &operator=(const LatestMap &) = delete;

    // Swaps `payload` with that of the queued item with this key (the caller destroys the old
    // one, unlocked), or gives it to `fresh` and lists `fresh` under the key.
    Put put(const StateLock &, const void *key, std::unique_ptr<WorkItem> &payload,
            LatestItem *fresh);
    // Without the state lock: the payload of a latest-item about to run or fail, which stops
    // being replaceable.
    std::unique_ptr<WorkItem> take(LatestItem *item);
    // A hand-off brings `items` here: they are homed at `home` (this map's executor) and listed
    // by their keys.
    void adopt(const StateLock &, const std::vector<LatestItem *> &items,
               const std::shared_ptr<ExecutorState> &home);
    // Breaking: the listed items among the queue `first` (linked oldest first), in its order, to
    // stay replaceable where the queue goes. Forgets every item.
    std::vector<LatestItem *> takeQueued(const StateLock &, WorkItem *first);

private:
    std::mutex m_mutex;
    QHash<const void *, LatestItem *> m_items;
};

} // namespace qdispatch::detail

// The randomised model test (tst_model.cpp): the invariants checked after every round.
#include "model.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace model {

MessageCounts countMessages(const QStringList &texts)
{
    MessageCounts counts;
    for (const QString &text : texts) {
        if (text.contains(QStringLiteral("will never run")))
            ++counts.neverRun;
        else if (text.contains(QStringLiteral("model post")))
            ++counts.postThrew;
        else if (text.contains(QStringLiteral("destroyed on another thread")))
            ++counts.foreignDestroy;
        else
            counts.other.append(text);
    }
    return counts;
}

// --------------------------------------------------------------------------------- verification

QString describe(const ItemRec &r)
{
    static const char *const kinds[] = { "submit", "post", "postLatest" };
    return QStringLiteral("%1 #%2 (producer %3, seq %4, target executor %5)")
        .arg(QLatin1String(kinds[int(r.kind)]))
        .arg(r.id)
        .arg(r.producer)
        .arg(r.seq)
        .arg(r.target);
}

QStringList verify(World &w, const MessageCounts &messages)
{
    QStringList problems;
    auto problem = [&](const QString &text) {
        if (problems.size() < 20)
            problems.append(text);
    };
    // The threads an item sent to executor `t` may run on: those of t's chain (C1, C11).
    auto allowed = [&](int t) {
        std::set<int> threads;
        for (int e = t; e >= 0; e = w.execs[size_t(e)].oldId)
            threads.insert(w.execs[size_t(e)].owner);
        return threads;
    };
    std::map<std::tuple<int, int, int>, std::vector<std::pair<std::uint64_t, std::uint64_t>>> order;
    int neverRunPosts = 0;
    int threwPosts = 0;
    for (const auto &p : w.records) {
        const ItemRec &r = *p;
        const int runs = r.runs.load();
        if (runs > 1)
            problem(QStringLiteral("C3: %1 ran %2 times").arg(describe(r)).arg(runs));
        if (r.destroyed.load() != 1)
            problem(QStringLiteral("C12: the callable of %1 was destroyed %2 times")
                        .arg(describe(r))
                        .arg(r.destroyed.load()));
        if (runs > 0 && !allowed(r.target).count(r.ranOn.load()))
            problem(QStringLiteral("C1/C11: %1 ran on model thread %2, not on a thread of its "
                                   "executor's chain")
                        .arg(describe(r))
                        .arg(r.ranOn.load()));
        if (!r.accepted) {
            if (runs > 0)
                problem(QStringLiteral("C7/C11: %1 was rejected (code %2) but ran")
                            .arg(describe(r))
                            .arg(r.rejected));
            if (!r.destroyedInCall.load())
                problem(QStringLiteral("C7/C11: %1 was rejected but its callable lived on")
                            .arg(describe(r)));
            continue;
        }
        if (runs == 1 && r.kind != Kind::Latest)
            order[{ r.producer, r.target, r.ranOn.load() }].emplace_back(r.seq,
                                                                         r.startIndex.load());
        if (r.kind != Kind::Submit) {
            if (runs == 0 && !r.destroyedInCall.load())
                ++neverRunPosts; // X1: reported with qWarning
            if (runs == 0 && r.destroyedInCall.load())
                w.stats.replaced.fetch_add(1); // X2: replaced by a newer postLatest
            if (r.kind == Kind::Post && r.destroyedInCall.load())
                problem(QStringLiteral("X1: %1 was accepted but destroyed in the call")
                            .arg(describe(r)));
            if (r.threw.load())
                ++threwPosts;
            if (runs)
                w.stats.ran.fetch_add(1);
            continue;
        }
        QFuture<int> f = r.future;
        if (!f.isFinished()) {
            problem(QStringLiteral("C12: the future of %1 never finished (ran %2 times)")
                        .arg(describe(r))
                        .arg(runs));
            continue;
        }
        const std::uint64_t cancel = r.cancelStamp.load();
        const std::uint64_t contextGone = r.contextGoneStamp.load();
        if (runs && contextGone && contextGone < r.prevMark.load())
            problem(QStringLiteral("X8: %1 ran although its context object was destroyed before "
                                   "it started (destroyed at %2, previous mark on its thread %3)")
                        .arg(describe(r))
                        .arg(contextGone)
                        .arg(r.prevMark.load()));
        if (runs && cancel) {
            w.stats.c6Checked.fetch_add(1);
            if (cancel < r.prevMark.load())
                problem(QStringLiteral("C6: %1 ran although its future was cancelled before it "
                                       "started (cancel stamp %2, previous mark on its thread %3)")
                            .arg(describe(r))
                            .arg(cancel)
                            .arg(r.prevMark.load()));
        }
        // Qt 6.4 marks a future that holds an exception as cancelled too: look for the
        // exception first, then tell a plain cancel from a result.
        try {
            f.waitForFinished();
            if (f.isCanceled()) {
                w.stats.cancelled.fetch_add(1);
                if (!cancel && r.hasContext && runs == 0)
                    w.stats.contextsSkipped.fetch_add(1); // X8: skipped, its context gone
                else if (!cancel)
                    problem(QStringLiteral("C6: %1 is cancelled but nobody cancelled it")
                                .arg(describe(r)));
            } else if (runs != 1 || r.threw.load()) {
                problem(QStringLiteral("C5: %1 has a result but ran %2 times (threw: %3)")
                            .arg(describe(r))
                            .arg(runs)
                            .arg(r.threw.load()));
            } else if (f.resultCount() != 1 || f.result() != r.id) {
                problem(QStringLiteral("C5: %1 has the wrong result").arg(describe(r)));
            } else {
                w.stats.ran.fetch_add(1);
            }
        } catch (const ExecutorError &error) {
            w.stats.broken.fetch_add(1);
            if (error.code() != ExecutorError::Code::Broken)
                problem(QStringLiteral("C12: %1 failed with ExecutorError code %2")
                            .arg(describe(r))
                            .arg(int(error.code())));
            if (runs)
                problem(QStringLiteral("C12: %1 failed as Broken but had run").arg(describe(r)));
        } catch (const ModelError &) {
            w.stats.threw.fetch_add(1);
            if (runs != 1 || !r.threw.load())
                problem(QStringLiteral("C5: %1 holds its exception but did not throw it")
                            .arg(describe(r)));
        } catch (...) {
            problem(
                QStringLiteral("C5: %1 holds an exception of an unexpected type").arg(describe(r)));
        }
    }
    // C4: the items of one producer, sent to one executor, that ran on one thread started in
    // the order the producer sent them.
    for (auto &[key, list] : order) {
        std::sort(list.begin(), list.end());
        for (size_t i = 1; i < list.size(); ++i) {
            if (list[i].second < list[i - 1].second) {
                problem(QStringLiteral("C4: producer %1's items to executor %2 ran out of order on "
                                       "thread %3: seq %4 started after seq %5")
                            .arg(std::get<0>(key))
                            .arg(std::get<1>(key))
                            .arg(std::get<2>(key))
                            .arg(list[i - 1].first)
                            .arg(list[i].first));
                break;
            }
        }
    }
    const int warned = messages.neverRun;
    if (warned != neverRunPosts)
        problem(QStringLiteral("X1: %1 posted items never ran but %2 were reported")
                    .arg(neverRunPosts)
                    .arg(warned));
    const int criticals = messages.postThrew;
    if (criticals != threwPosts)
        problem(QStringLiteral("X1: %1 posted items threw but %2 were reported")
                    .arg(threwPosts)
                    .arg(criticals));
    return problems;
}

} // namespace model

// What the benchmark found, and the three ways it tells it: a text table, JSON and an SVG chart.
#pragma once

#include <QtCore/QJsonArray>
#include <QtCore/QJsonObject>
#include <QtCore/QString>

#include <optional>
#include <vector>

namespace bench {

struct Scenario;

// One way of doing a scenario's work (QDispatch's or a baseline) and its measured samples.
struct Variant {
    QString key; // stable name in the JSON, e.g. "then_context"
    QString label; // for people, e.g. "makeReadyFuture().then(context)"
    QString shortLabel; // in ratios, e.g. "then(context)"
    bool qdispatch = false; // drawn highlighted; ratios are QDispatch variants ÷ baselines
    std::vector<double> samples; // one per repetition
    QJsonArray details; // per-repetition extras (flood duration, RSS stages, ...)
    QString skipped; // not empty: why this variant was not measured

    std::optional<double> median() const;
};

// A ratio to report (`baseline` set), or an absolute figure (`baseline` empty), and optionally
// the target it is held to.
struct Check {
    enum class Bound { None, AtLeast, AtMost };

    QString variant;
    QString baseline;
    Bound bound = Bound::None;
    double limit = 0;

    std::optional<double> value(const Scenario &scenario) const;
    // Empty when there is no target, else "met", "missed" or "not measured".
    QString verdict(const Scenario &scenario) const;
    // "≥ 5x" or, with `ascii`, ">= 5x"; "≤ 20 ms" for an absolute target.
    QString targetText(const QString &unit, bool ascii = true) const;
};

struct Scenario {
    QString id; // "P1"
    QString title;
    QString unit; // "items/s", "µs per round trip", "ms", "MiB"
    bool higherIsBetter = true;
    qint64 items = 0;
    std::vector<Variant> variants;
    std::vector<Check> checks;

    const Variant *find(const QString &key) const;
    Variant &variant(const QString &key);
};

// A number with a unit, the way the table and the chart print it ("2.41 M items/s").
QString formatValue(double value, const QString &unit);

QString textTable(const std::vector<Scenario> &scenarios, const QJsonObject &machine);
QJsonObject toJson(const std::vector<Scenario> &scenarios, const QJsonObject &machine,
                   const QJsonObject &config);
QString toSvg(const std::vector<Scenario> &scenarios, const QJsonObject &machine);

} // namespace bench

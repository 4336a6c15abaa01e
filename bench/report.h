// What the benchmark found, and the ways it tells it: a text table, a Markdown table for
// docs/benchmarks.md, JSON and an SVG chart.
//
// The unit of a result is a comparison: one QDispatch measurement and one baseline, run as
// pairs (QDispatch, baseline, QDispatch, baseline, ...). Each pair gives one ratio, QDispatch's
// figure ÷ the baseline's; a comparison reports the median of its ratios and their range, so a
// change of the machine's speed during the run moves both sides of a ratio alike.
#pragma once

#include <QtCore/QJsonArray>
#include <QtCore/QJsonObject>
#include <QtCore/QString>

#include <optional>
#include <vector>

namespace bench {

// The median and the extremes of some values.
struct Spread
{
    double median = 0;
    double min = 0;
    double max = 0;
};
std::optional<Spread> spreadOf(const std::vector<double> &values);

// One side of a comparison: a way of doing the scenario's work, and its figure in each pair.
struct Side
{
    QString key; // stable name in the JSON, e.g. "then_context"
    QString label; // for people, e.g. "readyFuture().then(context), owner in a QEventLoop"
    QString shortLabel; // in ratios, e.g. "then(context)"
    std::vector<double> samples; // one per pair
    QJsonArray details; // per-pair extras (flood duration, RSS stages, ...)
};

// A target of docs/contract.md: a bound on the median ratio, or on the median of QDispatch's own
// figure (P5).
struct Target
{
    enum class Bound { AtLeast, AtMost };
    enum class On { Ratio, Figure };

    Bound bound = Bound::AtLeast;
    double limit = 0;
    On on = On::Ratio;

    static Target ratioAtLeast(double limit) { return { Bound::AtLeast, limit, On::Ratio }; }
    static Target ratioAtMost(double limit) { return { Bound::AtMost, limit, On::Ratio }; }
    static Target figureAtMost(double limit) { return { Bound::AtMost, limit, On::Figure }; }

    bool holdsFor(double value) const
    {
        return bound == Bound::AtLeast ? value >= limit : value <= limit;
    }
    // ">= 0.9x", "<= 20 ms"; with `ascii` false "≥ 0.9x".
    QString text(const QString &unit, bool ascii = true) const;
};

enum class Verdict { NoTarget, Met, NotMet, NotMeasured };
QString verdictText(Verdict verdict); // "MET", "NOT MET", "not measured", ""

struct Comparison
{
    Side qdispatch;
    Side baseline;
    std::optional<Target> target;
    QString skipped; // not empty: why this comparison was not measured

    std::vector<double> ratios() const; // one per complete pair
    std::optional<Spread> ratio() const;
    std::optional<Spread> figure() const; // QDispatch's own figure
    // What the target is judged on: the ratios, or QDispatch's figure.
    std::optional<Spread> judged() const;
    Verdict verdict() const; // judged on the median
    // True when the median meets the target but some pair did not (or the other way round).
    bool rangeCrossesTarget() const;
};

struct Scenario
{
    QString id; // "P1"
    QString title;
    QString unit; // "items/s", "µs", "ms", "MiB"
    bool higherIsBetter = true;
    qint64 items = 0;
    std::vector<Comparison> comparisons;
};

// A number with a unit, the way the table and the chart print it ("2.41 M items/s").
QString formatValue(double value, const QString &unit);
QString formatRatio(double ratio); // "4.52x", "0.0051x"

QString textTable(const std::vector<Scenario> &scenarios, const QJsonObject &machine);
QString markdownTable(const std::vector<Scenario> &scenarios);
QJsonObject toJson(const std::vector<Scenario> &scenarios, const QJsonObject &machine,
                   const QJsonObject &config);
QString toSvg(const std::vector<Scenario> &scenarios, const QJsonObject &machine,
              const QJsonObject &config);

} // namespace bench

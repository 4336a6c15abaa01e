#include "report.h"

#include <QtCore/QStringList>

#include <algorithm>
#include <cmath>

using namespace Qt::StringLiterals;

namespace bench {

std::optional<Spread> spreadOf(const std::vector<double> &values)
{
    if (values.empty())
        return std::nullopt;
    std::vector<double> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    const std::size_t middle = sorted.size() / 2;
    const double median =
        sorted.size() % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    return Spread { median, sorted.front(), sorted.back() };
}

QString Target::text(const QString &unit, bool ascii) const
{
    const QString op =
        bound == Bound::AtLeast ? (ascii ? u">="_s : u"≥"_s) : (ascii ? u"<="_s : u"≤"_s);
    const QString number = QString::number(limit, 'g', 3);
    return on == On::Figure ? u"%1 %2 %3"_s.arg(op, number, unit) : u"%1 %2x"_s.arg(op, number);
}

QString verdictText(Verdict verdict)
{
    switch (verdict) {
    case Verdict::Met:
        return u"MET"_s;
    case Verdict::NotMet:
        return u"NOT MET"_s;
    case Verdict::NotMeasured:
        return u"not measured"_s;
    case Verdict::NoTarget:
        break;
    }
    return {};
}

std::vector<double> Comparison::ratios() const
{
    std::vector<double> result;
    const std::size_t pairs = std::min(qdispatch.samples.size(), baseline.samples.size());
    for (std::size_t i = 0; i < pairs; ++i) {
        if (baseline.samples[i] != 0)
            result.push_back(qdispatch.samples[i] / baseline.samples[i]);
    }
    return result;
}

std::optional<Spread> Comparison::ratio() const
{
    return spreadOf(ratios());
}

std::optional<Spread> Comparison::figure() const
{
    return spreadOf(qdispatch.samples);
}

std::optional<Spread> Comparison::judged() const
{
    return target && target->on == Target::On::Figure ? figure() : ratio();
}

Verdict Comparison::verdict() const
{
    if (!target)
        return Verdict::NoTarget;
    const std::optional<Spread> value = judged();
    if (!value)
        return Verdict::NotMeasured;
    return target->holdsFor(value->median) ? Verdict::Met : Verdict::NotMet;
}

bool Comparison::rangeCrossesTarget() const
{
    const std::optional<Spread> value = judged();
    return target && value && target->holdsFor(value->min) != target->holdsFor(value->max);
}

QString formatValue(double value, const QString &unit)
{
    if (unit == u"items/s") {
        if (value >= 1e6)
            return u"%1 M items/s"_s.arg(value / 1e6, 0, 'f', 2);
        return u"%1 k items/s"_s.arg(value / 1e3, 0, 'f', 1);
    }
    if (unit == u"µs")
        return u"%1 µs"_s.arg(value, 0, 'f', 2);
    return u"%1 %2"_s.arg(value, 0, 'f', 1).arg(unit);
}

QString formatRatio(double ratio)
{
    if (ratio < 0.1)
        return u"%1x"_s.arg(ratio, 0, 'g', 2);
    return u"%1x"_s.arg(ratio, 0, 'f', ratio < 10 ? 2 : 1);
}

namespace {

QString direction(const Scenario &scenario)
{
    return scenario.higherIsBetter ? u"higher is better"_s : u"lower is better"_s;
}

// What a ratio above 1 means in this scenario's unit.
QString ratioMeaning(const Scenario &scenario)
{
    if (scenario.unit == u"items/s")
        return u"a ratio above 1: QDispatch is faster"_s;
    if (scenario.unit == u"MiB")
        return u"a ratio below 1: QDispatch uses less memory"_s;
    return u"a ratio below 1: QDispatch is better"_s;
}

QString rangeText(const Spread &spread, bool ratio, const QString &unit)
{
    if (ratio)
        return u"%1 .. %2"_s.arg(formatRatio(spread.min), formatRatio(spread.max));
    return u"%1 .. %2"_s.arg(formatValue(spread.min, unit), formatValue(spread.max, unit));
}

QString comparisonLabel(const Comparison &comparison)
{
    return u"%1 ÷ %2"_s.arg(comparison.qdispatch.shortLabel, comparison.baseline.shortLabel);
}

QString medianText(const Side &side, const QString &unit)
{
    const std::optional<Spread> spread = spreadOf(side.samples);
    return spread ? formatValue(spread->median, unit) : u"n/a"_s;
}

QString machineLine(const QJsonObject &machine)
{
    return u"%1, %2 cores; Qt %3; %4; %5 build; %6"_s.arg(
        machine[u"cpu"_s].toString(), QString::number(machine[u"cores"_s].toInt()),
        machine[u"qtVersion"_s].toString(), machine[u"compiler"_s].toString(),
        machine[u"buildType"_s].toString(), machine[u"date"_s].toString());
}

QString xmlEscaped(QString text)
{
    return text.replace(u'&', u"&amp;"_s).replace(u'<', u"&lt;"_s).replace(u'>', u"&gt;"_s);
}

QJsonObject spreadJson(const std::optional<Spread> &spread)
{
    if (!spread)
        return {};
    return { { u"median"_s, spread->median },
             { u"min"_s, spread->min },
             { u"max"_s, spread->max } };
}

QJsonArray numbers(const std::vector<double> &values)
{
    QJsonArray array;
    for (double value : values)
        array.append(value);
    return array;
}

} // namespace

QString textTable(const std::vector<Scenario> &scenarios, const QJsonObject &machine)
{
    QStringList lines;
    lines << u"QDispatch benchmark. Each ratio is QDispatch ÷ baseline in the scenario's unit: "
             "the median of the per-pair ratios"_s
          << u"(QDispatch and its baseline run alternately), then [min .. max] of those ratios."_s
          << machineLine(machine) << QString();
    const auto row = [](const QString &what, const QString &mine, const QString &theirs,
                        const QString &ratio, const QString &range, const QString &target,
                        const QString &verdict) {
        return u"    %1 %2 %3 %4 %5 %6 %7"_s.arg(what, -54)
            .arg(mine, -16)
            .arg(theirs, -16)
            .arg(ratio, -9)
            .arg(range, -20)
            .arg(target, -15)
            .arg(verdict)
            .trimmed()
            .prepend(u"    "_s);
    };
    for (const Scenario &scenario : scenarios) {
        lines << u"%1  %2  [%3, %4; %5]"_s.arg(scenario.id, scenario.title, scenario.unit,
                                               direction(scenario), ratioMeaning(scenario));
        lines << row(u"comparison"_s, u"QDispatch"_s, u"baseline"_s, u"ratio"_s, u"[min .. max]"_s,
                     u"target"_s, QString());
        for (const Comparison &comparison : scenario.comparisons) {
            if (!comparison.skipped.isEmpty()) {
                lines << row(comparisonLabel(comparison), u"skipped: "_s + comparison.skipped, {},
                             {}, {}, {}, {});
                continue;
            }
            const std::optional<Spread> ratio = comparison.ratio();
            QString target;
            QString verdict = verdictText(comparison.verdict());
            if (comparison.target) {
                target = comparison.target->on == Target::On::Figure
                    ? u"QDispatch "_s + comparison.target->text(scenario.unit)
                    : comparison.target->text(scenario.unit);
                if (comparison.target->on == Target::On::Figure && comparison.figure())
                    verdict += u" (QDispatch [%1])"_s.arg(
                        rangeText(*comparison.figure(), false, scenario.unit));
                if (comparison.rangeCrossesTarget())
                    verdict += u" (the range crosses the target)"_s;
            }
            lines << row(comparisonLabel(comparison),
                         medianText(comparison.qdispatch, scenario.unit),
                         medianText(comparison.baseline, scenario.unit),
                         ratio ? formatRatio(ratio->median) : u"n/a"_s,
                         ratio ? u"[%1]"_s.arg(rangeText(*ratio, true, scenario.unit)) : QString(),
                         target, verdict);
        }
        lines << QString();
    }
    return lines.join(u'\n');
}

QString markdownTable(const std::vector<Scenario> &scenarios)
{
    QStringList lines;
    lines << u"| id | QDispatch | baseline | QDispatch median | baseline median | ratio, median "
             "[min .. max] | target | verdict |"_s
          << u"| --- | --- | --- | --- | --- | --- | --- | --- |"_s;
    for (const Scenario &scenario : scenarios) {
        for (const Comparison &comparison : scenario.comparisons) {
            const QString sides = u"| %1 | %2 | %3 "_s.arg(scenario.id, comparison.qdispatch.label,
                                                           comparison.baseline.label);
            if (!comparison.skipped.isEmpty()) {
                lines << sides + u"| skipped: %1 | | | | |"_s.arg(comparison.skipped);
                continue;
            }
            QString mine = medianText(comparison.qdispatch, scenario.unit);
            QString target;
            QString verdict;
            if (comparison.target) {
                const bool onFigure = comparison.target->on == Target::On::Figure;
                target = (onFigure ? u"QDispatch "_s : QString()) +
                    comparison.target->text(scenario.unit, false);
                if (onFigure && comparison.figure())
                    mine += u" [%1]"_s.arg(rangeText(*comparison.figure(), false, scenario.unit));
                verdict = u"**%1**"_s.arg(verdictText(comparison.verdict()));
                if (comparison.rangeCrossesTarget())
                    verdict += u" (range crosses)"_s;
            }
            const std::optional<Spread> ratio = comparison.ratio();
            const QString ratioText = ratio
                ? u"%1 [%2]"_s.arg(formatRatio(ratio->median), rangeText(*ratio, true, {}))
                : u"n/a"_s;
            lines << sides +
                    u"| %1 | %2 | %3 | %4 | %5 |"_s.arg(
                        mine, medianText(comparison.baseline, scenario.unit), ratioText, target,
                        verdict);
        }
    }
    return lines.join(u'\n');
}

QJsonObject toJson(const std::vector<Scenario> &scenarios, const QJsonObject &machine,
                   const QJsonObject &config)
{
    const auto sideJson = [](const Side &side, const QString &unit) {
        QJsonObject object { { u"key"_s, side.key },
                             { u"label"_s, QString(side.label).remove(u'`') },
                             { u"samples"_s, numbers(side.samples) },
                             { u"unit"_s, unit } };
        if (const std::optional<Spread> spread = spreadOf(side.samples))
            object[u"spread"_s] = spreadJson(spread);
        if (!side.details.isEmpty())
            object[u"details"_s] = side.details;
        return object;
    };
    QJsonArray scenarioArray;
    for (const Scenario &scenario : scenarios) {
        QJsonArray comparisons;
        for (const Comparison &comparison : scenario.comparisons) {
            QJsonObject object { { u"qdispatch"_s, sideJson(comparison.qdispatch, scenario.unit) },
                                 { u"baseline"_s, sideJson(comparison.baseline, scenario.unit) } };
            if (!comparison.skipped.isEmpty())
                object[u"skipped"_s] = comparison.skipped;
            object[u"ratios"_s] = numbers(comparison.ratios());
            if (const std::optional<Spread> ratio = comparison.ratio())
                object[u"ratio"_s] = spreadJson(ratio);
            if (comparison.target) {
                const Target &target = *comparison.target;
                object[u"target"_s] = QJsonObject {
                    { u"on"_s, target.on == Target::On::Ratio ? u"ratio"_s : u"qdispatchFigure"_s },
                    { u"bound"_s,
                      target.bound == Target::Bound::AtLeast ? u"atLeast"_s : u"atMost"_s },
                    { u"limit"_s, target.limit },
                    { u"text"_s, target.text(scenario.unit) },
                    { u"judgedOnMedian"_s, spreadJson(comparison.judged()) }
                };
                object[u"verdict"_s] = verdictText(comparison.verdict());
                object[u"rangeCrossesTarget"_s] = comparison.rangeCrossesTarget();
            }
            comparisons.append(object);
        }
        scenarioArray.append(QJsonObject { { u"id"_s, scenario.id },
                                           { u"title"_s, scenario.title },
                                           { u"unit"_s, scenario.unit },
                                           { u"higherIsBetter"_s, scenario.higherIsBetter },
                                           { u"items"_s, scenario.items },
                                           { u"comparisons"_s, comparisons } });
    }
    return { { u"machine"_s, machine },
             { u"config"_s, config },
             { u"ratioDefinition"_s,
               u"per pair: QDispatch sample / baseline sample, the two run one after the other; "
               "reported: median, min and max of the per-pair ratios"_s },
             { u"scenarios"_s, scenarioArray } };
}

namespace {

// The chart: one row per comparison. A dot is the median, a bar the range, a dashed line the
// target and a green band the side of it where the target is met.
class Chart
{
public:
    static constexpr int kWidth = 1260;
    static constexpr int kPlotX = 410;
    static constexpr int kPlotWidth = 440;
    static constexpr int kTextX = kPlotX + kPlotWidth + 16;
    static constexpr int kRow = 24;

    void text(int x, int y, const QString &cssClass, const QString &content)
    {
        m_body << u"<text x=\"%1\" y=\"%2\" class=\"%3\">%4</text>"_s.arg(x).arg(y).arg(
            cssClass, xmlEscaped(content));
    }
    void line(double x1, int y1, double x2, int y2, const QString &cssClass)
    {
        m_body << u"<line x1=\"%1\" y1=\"%2\" x2=\"%3\" y2=\"%4\" class=\"%5\"/>"_s
                      .arg(x1, 0, 'f', 1)
                      .arg(y1)
                      .arg(x2, 0, 'f', 1)
                      .arg(y2)
                      .arg(cssClass);
    }
    void rect(double x, int y, double width, int height, const QString &cssClass)
    {
        m_body << u"<rect x=\"%1\" y=\"%2\" width=\"%3\" height=\"%4\" class=\"%5\"/>"_s
                      .arg(x, 0, 'f', 1)
                      .arg(y)
                      .arg(std::max(width, 0.0), 0, 'f', 1)
                      .arg(height)
                      .arg(cssClass);
    }

    // One row: the spread on the axis `toX`, the target band and line (none: nullptr), and the
    // text at the right. A pointer rather than an optional: GCC 12 at -O3 warns of an optional
    // target it thinks uninitialised.
    template<typename ToX>
    void row(const QString &label, const std::optional<Spread> &spread, const Target *target,
             Verdict verdict, const QString &right, ToX toX)
    {
        const int top = m_y;
        const int middle = top + kRow / 2;
        text(30, middle + 4, u"label"_s, label);
        if (target) {
            const double at = toX(target->limit);
            if (target->bound == Target::Bound::AtLeast)
                rect(at, top + 2, kPlotX + kPlotWidth - at, kRow - 4, u"zone"_s);
            else
                rect(kPlotX, top + 2, at - kPlotX, kRow - 4, u"zone"_s);
            line(at, top, at, top + kRow, u"target"_s);
        }
        const QString dotClass = verdict == Verdict::Met ? u"met"_s
            : verdict == Verdict::NotMet                 ? u"missed"_s
                                                         : u"info"_s;
        if (spread) {
            line(toX(spread->min), middle, toX(spread->max), middle, u"range "_s + dotClass);
            line(toX(spread->min), middle - 5, toX(spread->min), middle + 5,
                 u"range "_s + dotClass);
            line(toX(spread->max), middle - 5, toX(spread->max), middle + 5,
                 u"range "_s + dotClass);
            m_body << u"<circle cx=\"%1\" cy=\"%2\" r=\"5\" class=\"dot %3\"/>"_s
                          .arg(toX(spread->median), 0, 'f', 1)
                          .arg(middle)
                          .arg(dotClass);
        }
        text(kTextX, middle + 4, u"value "_s + dotClass, right);
        m_y += kRow;
    }

    int m_y = 0;
    QStringList m_body;
};

QString rowText(const Comparison &comparison, const std::optional<Spread> &spread, bool ratio,
                const QString &unit)
{
    if (!comparison.skipped.isEmpty())
        return u"skipped: "_s + comparison.skipped;
    if (!spread)
        return u"n/a"_s;
    QString text =
        u"%1  [%2]"_s.arg(ratio ? formatRatio(spread->median) : formatValue(spread->median, unit),
                          rangeText(*spread, ratio, unit));
    const bool targetHere =
        comparison.target && (comparison.target->on == Target::On::Ratio) == ratio;
    if (targetHere)
        text += u"  target %1: %2"_s.arg(comparison.target->text(unit, false),
                                         verdictText(comparison.verdict()));
    return text;
}

} // namespace

QString toSvg(const std::vector<Scenario> &scenarios, const QJsonObject &machine,
              const QJsonObject &config)
{
    Chart chart;
    int &y = chart.m_y;

    // A log axis wide enough for every ratio, range and ratio target, in whole decades.
    double low = 0.5;
    double high = 2;
    for (const Scenario &scenario : scenarios) {
        for (const Comparison &comparison : scenario.comparisons) {
            // A ratio of 0 (a lateness of 0 ms) has no place on a log axis: it is drawn at the
            // left edge, and the axis stops at 0.0001x.
            if (const std::optional<Spread> ratio = comparison.ratio()) {
                low = std::min(low, std::max(ratio->min, 1e-4));
                high = std::max(high, ratio->max);
            }
            if (comparison.target && comparison.target->on == Target::On::Ratio) {
                low = std::min(low, comparison.target->limit);
                high = std::max(high, comparison.target->limit);
            }
        }
    }
    const double firstDecade = std::floor(std::log10(low));
    const double lastDecade = std::ceil(std::log10(high));
    const auto ratioX = [&](double ratio) {
        const double position =
            (std::log10(std::max(ratio, 1e-9)) - firstDecade) / (lastDecade - firstDecade);
        return Chart::kPlotX + std::clamp(position, 0.0, 1.0) * Chart::kPlotWidth;
    };

    y = 30;
    chart.text(20, y, u"h1"_s,
               u"QDispatch benchmark: ratios to baselines measured in the same run"_s);
    y += 20;
    chart.text(20, y, u"note"_s, machineLine(machine));
    y += 16;
    chart.text(
        20, y, u"note"_s,
        u"Ratio = QDispatch ÷ baseline, in the scenario's unit. Each comparison ran %1 "
        "pairs, P7's %2 (QDispatch, baseline, QDispatch, baseline, ...): dot = median of the "
        "per-pair ratios, bar = min .. max."_s.arg(config[u"pairs"_s].toInt())
            .arg(config[u"pairsP7"_s].toInt()));
    y += 16;
    chart.text(20, y, u"note"_s,
               u"Dashed line: a target; green band: where it is met. Green dot: target met, "
               "red: not met, blue: no target (for information)."_s);
    y += 14;

    // The grid goes under the rows already drawn: it is inserted where the panel began.
    const auto axis = [&](qsizetype panelStart, int top, int bottom,
                          const std::vector<std::pair<double, QString>> &ticks) {
        Chart grid;
        for (const auto &[x, label] : ticks) {
            grid.line(x, top, x, bottom, label == u"1x" ? u"one"_s : u"grid"_s);
            grid.text(int(x) - 12, top - 4, u"tick"_s, label);
        }
        for (qsizetype i = 0; i < grid.m_body.size(); ++i)
            chart.m_body.insert(panelStart + i, grid.m_body.at(i));
    };
    std::vector<std::pair<double, QString>> ratioTicks;
    for (double decade = firstDecade; decade <= lastDecade; ++decade) {
        const double value = std::pow(10.0, decade);
        ratioTicks.emplace_back(ratioX(value), QString::number(value, 'g', 4) + u'x');
    }

    // Panel 1: every ratio.
    y += 28;
    chart.text(20, y - 10, u"h2"_s, u"Ratios (log scale)"_s);
    const int ratioTop = y + 8;
    const qsizetype ratioStart = chart.m_body.size();
    y = ratioTop;
    for (const Scenario &scenario : scenarios) {
        y += 6;
        chart.text(20, y + 12, u"h3"_s, u"%1 · %2"_s.arg(scenario.id, scenario.title));
        chart.text(Chart::kTextX, y + 12, u"note"_s, ratioMeaning(scenario));
        y += 18;
        for (const Comparison &comparison : scenario.comparisons) {
            const Target *const target =
                comparison.target && comparison.target->on == Target::On::Ratio
                ? &*comparison.target
                : nullptr;
            const Verdict verdict = target ? comparison.verdict() : Verdict::NoTarget;
            chart.row(comparisonLabel(comparison), comparison.ratio(), target, verdict,
                      rowText(comparison, comparison.ratio(), true, scenario.unit), ratioX);
        }
    }
    axis(ratioStart, ratioTop, y, ratioTicks);
    chart.rect(10, ratioTop - 46, Chart::kWidth - 20, y - ratioTop + 52, u"panel"_s);

    // Panel 2: the targets on QDispatch's own figure (P5's worst lateness), on a linear axis.
    std::vector<std::pair<const Scenario *, const Comparison *>> absolute;
    for (const Scenario &scenario : scenarios) {
        for (const Comparison &comparison : scenario.comparisons) {
            if (comparison.target && comparison.target->on == Target::On::Figure)
                absolute.emplace_back(&scenario, &comparison);
        }
    }
    if (!absolute.empty()) {
        y += 44;
        chart.text(20, y - 10, u"h2"_s, u"Targets on QDispatch's own figure (linear scale)"_s);
        const int top = y + 8;
        const qsizetype panelStart = chart.m_body.size();
        y = top + 6;
        double largest = 0;
        for (const auto &[scenario, comparison] : absolute) {
            largest = std::max(largest, 2 * comparison->target->limit);
            if (const std::optional<Spread> figure = comparison->figure())
                largest = std::max(largest, figure->max);
        }
        const double step = largest > 50 ? 20 : largest > 20 ? 10 : 5;
        const double axisEnd = std::ceil(largest / step) * step;
        const auto figureX = [&](double value) {
            return Chart::kPlotX + std::clamp(value / axisEnd, 0.0, 1.0) * Chart::kPlotWidth;
        };
        for (const auto &[scenario, comparison] : absolute) {
            chart.row(u"%1 %2: worst timer lateness"_s.arg(scenario->id,
                                                           comparison->qdispatch.shortLabel),
                      comparison->figure(), comparison->target ? &*comparison->target : nullptr,
                      comparison->verdict(),
                      rowText(*comparison, comparison->figure(), false, scenario->unit), figureX);
        }
        std::vector<std::pair<double, QString>> ticks;
        const QString unit = absolute.front().first->unit;
        for (double value = 0; value <= axisEnd + step / 2; value += step)
            ticks.emplace_back(figureX(value), u"%1 %2"_s.arg(value).arg(unit));
        axis(panelStart, top, y, ticks);
        chart.rect(10, top - 46, Chart::kWidth - 20, y - top + 52, u"panel"_s);
    }
    y += 16;

    const QString style = u"<style>"
                          "text{font-family:sans-serif;fill:#222}"
                          ".h1{font-size:18px;font-weight:bold}"
                          ".h2{font-size:15px;font-weight:bold}"
                          ".h3{font-size:13px;font-weight:bold}"
                          ".note{font-size:12px;fill:#555}"
                          ".tick{font-size:11px;fill:#555}"
                          ".label,.value{font-size:12px}"
                          ".grid{stroke:#ddd;stroke-width:1}"
                          ".one{stroke:#888;stroke-width:1.5}"
                          ".zone{fill:#1a7f37;fill-opacity:0.12}"
                          ".target{stroke:#333;stroke-width:1.5;stroke-dasharray:4 3}"
                          ".range{stroke-width:2}"
                          ".range.met{stroke:#1a7f37}.range.missed{stroke:#c62828}"
                          ".range.info{stroke:#1f6fb5}"
                          ".dot.met{fill:#1a7f37}.dot.missed{fill:#c62828}.dot.info{fill:#1f6fb5}"
                          ".value.met{fill:#1a7f37}.value.missed{fill:#c62828}"
                          ".panel{fill:none;stroke:#d0d4d8}"
                          "</style>"_s;
    return u"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%1\" height=\"%2\" "
           "viewBox=\"0 0 %1 %2\">\n%3\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
           "%4\n</svg>\n"_s.arg(Chart::kWidth)
               .arg(y + 10)
               .arg(style, chart.m_body.join(u'\n'));
}

} // namespace bench

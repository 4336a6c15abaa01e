#include "report.h"

#include <QtCore/QStringList>

#include <algorithm>

using namespace Qt::StringLiterals;

namespace bench {

std::optional<double> Variant::median() const
{
    if (samples.empty())
        return std::nullopt;
    std::vector<double> sorted = samples;
    std::sort(sorted.begin(), sorted.end());
    const std::size_t middle = sorted.size() / 2;
    return sorted.size() % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

std::optional<double> Check::value(const Scenario &scenario) const
{
    const Variant *measured = scenario.find(variant);
    const std::optional<double> mine = measured ? measured->median() : std::nullopt;
    if (!mine || baseline.isEmpty())
        return mine;
    const Variant *other = scenario.find(baseline);
    const std::optional<double> theirs = other ? other->median() : std::nullopt;
    if (!theirs || *theirs == 0)
        return std::nullopt;
    return *mine / *theirs;
}

QString Check::verdict(const Scenario &scenario) const
{
    const std::optional<double> measured = value(scenario);
    if (bound == Bound::None)
        return {};
    if (!measured)
        return u"not measured"_s;
    const bool met = bound == Bound::AtLeast ? *measured >= limit : *measured <= limit;
    return met ? u"met"_s : u"missed"_s;
}

QString Check::targetText(const QString &unit, bool ascii) const
{
    if (bound == Bound::None)
        return {};
    const QString op =
        bound == Bound::AtLeast ? (ascii ? u">="_s : u"≥"_s) : (ascii ? u"<="_s : u"≤"_s);
    const QString number = QString::number(limit, 'g', 3);
    return baseline.isEmpty() ? u"%1 %2 %3"_s.arg(op, number, unit) : u"%1 %2x"_s.arg(op, number);
}

const Variant *Scenario::find(const QString &key) const
{
    const auto it = std::find_if(variants.begin(), variants.end(),
                                 [&](const Variant &v) { return v.key == key; });
    return it == variants.end() ? nullptr : &*it;
}

Variant &Scenario::variant(const QString &key)
{
    return *const_cast<Variant *>(std::as_const(*this).find(key));
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

namespace {

QString formatRatio(double ratio)
{
    if (ratio < 0.1)
        return u"%1x"_s.arg(ratio, 0, 'g', 2);
    return u"%1x"_s.arg(ratio, 0, 'f', ratio < 10 ? 2 : 1);
}

QString checkLabel(const Scenario &scenario, const Check &check)
{
    const Variant *measured = scenario.find(check.variant);
    const QString mine = measured ? measured->shortLabel : check.variant;
    if (check.baseline.isEmpty())
        return mine;
    const Variant *other = scenario.find(check.baseline);
    return u"%1 ÷ %2"_s.arg(mine, other ? other->shortLabel : check.baseline);
}

QString checkValueText(const Scenario &scenario, const Check &check)
{
    const std::optional<double> value = check.value(scenario);
    if (!value)
        return u"n/a"_s;
    return check.baseline.isEmpty() ? formatValue(*value, scenario.unit) : formatRatio(*value);
}

QString direction(const Scenario &scenario)
{
    return scenario.higherIsBetter ? u"higher is better"_s : u"lower is better"_s;
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

} // namespace

QString textTable(const std::vector<Scenario> &scenarios, const QJsonObject &machine)
{
    constexpr int kLabelWidth = 58;
    QStringList lines;
    lines
        << u"QDispatch benchmark: medians; ratio = QDispatch ÷ baseline, measured in the same run"_s
        << machineLine(machine) << QString();
    for (const Scenario &scenario : scenarios) {
        lines << u"%1  %2  [%3, %4]"_s.arg(scenario.id, scenario.title, scenario.unit,
                                           direction(scenario));
        for (const Variant &variant : scenario.variants) {
            const std::optional<double> median = variant.median();
            const QString value = median ? formatValue(*median, scenario.unit)
                                         : u"skipped: %1"_s.arg(variant.skipped);
            lines << u"    %1 %2"_s.arg(variant.label, -kLabelWidth).arg(value);
        }
        for (const Check &check : scenario.checks) {
            QString line = u"    %1 %2"_s.arg(checkLabel(scenario, check), -kLabelWidth)
                               .arg(checkValueText(scenario, check), -16);
            if (check.bound != Check::Bound::None)
                line += u"target %1 %2"_s.arg(check.targetText(scenario.unit), -18)
                            .arg(check.verdict(scenario));
            lines << line.trimmed().prepend(u"    "_s);
        }
        lines << QString();
    }
    return lines.join(u'\n');
}

QJsonObject toJson(const std::vector<Scenario> &scenarios, const QJsonObject &machine,
                   const QJsonObject &config)
{
    QJsonArray scenarioArray;
    for (const Scenario &scenario : scenarios) {
        QJsonArray variants;
        for (const Variant &variant : scenario.variants) {
            QJsonObject object { { u"key"_s, variant.key },
                                 { u"label"_s, variant.label },
                                 { u"qdispatch"_s, variant.qdispatch } };
            if (const std::optional<double> median = variant.median()) {
                object[u"median"_s] = *median;
                QJsonArray samples;
                for (double sample : variant.samples)
                    samples.append(sample);
                object[u"samples"_s] = samples;
            } else {
                object[u"skipped"_s] = variant.skipped;
            }
            if (!variant.details.isEmpty())
                object[u"details"_s] = variant.details;
            variants.append(object);
        }
        QJsonArray checks;
        for (const Check &check : scenario.checks) {
            QJsonObject object { { u"variant"_s, check.variant },
                                 { u"kind"_s,
                                   check.baseline.isEmpty() ? u"absolute"_s : u"ratio"_s } };
            if (!check.baseline.isEmpty())
                object[u"baseline"_s] = check.baseline;
            if (const std::optional<double> value = check.value(scenario))
                object[u"value"_s] = *value;
            if (check.bound != Check::Bound::None) {
                object[u"target"_s] = check.targetText(scenario.unit);
                object[u"verdict"_s] = check.verdict(scenario);
            }
            checks.append(object);
        }
        scenarioArray.append(QJsonObject { { u"id"_s, scenario.id },
                                           { u"title"_s, scenario.title },
                                           { u"unit"_s, scenario.unit },
                                           { u"higherIsBetter"_s, scenario.higherIsBetter },
                                           { u"items"_s, scenario.items },
                                           { u"variants"_s, variants },
                                           { u"checks"_s, checks } });
    }
    return { { u"machine"_s, machine },
             { u"config"_s, config },
             { u"ratioDefinition"_s, u"QDispatch median / baseline median"_s },
             { u"scenarios"_s, scenarioArray } };
}

QString toSvg(const std::vector<Scenario> &scenarios, const QJsonObject &machine)
{
    constexpr int kWidth = 980;
    constexpr int kBarX = 360;
    constexpr int kBarMax = 420;
    constexpr int kRow = 24;
    constexpr int kCheckRow = 18;

    QStringList body;
    int y = 30;
    body << u"<text x=\"20\" y=\"%1\" class=\"h1\">QDispatch benchmark: medians, measured in one "
            "run</text>"_s.arg(y);
    y += 20;
    body << u"<text x=\"20\" y=\"%1\" class=\"note\">%2</text>"_s.arg(y).arg(
        xmlEscaped(machineLine(machine)));
    y += 16;
    body << u"<text x=\"20\" y=\"%1\" class=\"note\">Bars are to scale within each panel; "
            "ratios are QDispatch ÷ baseline.</text>"_s.arg(y);
    y += 20;

    for (const Scenario &scenario : scenarios) {
        const int top = y;
        y += 26;
        body << u"<text x=\"20\" y=\"%1\" class=\"h2\">%2 · %3</text>"_s.arg(y).arg(
            scenario.id, xmlEscaped(scenario.title));
        y += 16;
        body << u"<text x=\"20\" y=\"%1\" class=\"note\">%2, %3</text>"_s.arg(y).arg(
            xmlEscaped(scenario.unit), direction(scenario));
        y += 10;

        double largest = 0;
        for (const Variant &variant : scenario.variants)
            largest = std::max(largest, variant.median().value_or(0));
        for (const Variant &variant : scenario.variants) {
            const std::optional<double> median = variant.median();
            const int barTop = y + 4;
            body << u"<text x=\"30\" y=\"%1\" class=\"label\">%2</text>"_s.arg(barTop + 14)
                        .arg(xmlEscaped(variant.label));
            if (median && largest > 0) {
                const int width = std::max(2, int(*median / largest * kBarMax + 0.5));
                body << u"<rect x=\"%1\" y=\"%2\" width=\"%3\" height=\"18\" class=\"%4\"/>"_s
                            .arg(kBarX)
                            .arg(barTop)
                            .arg(width)
                            .arg(variant.qdispatch ? u"qd"_s : u"base"_s);
                body << u"<text x=\"%1\" y=\"%2\" class=\"value\">%3</text>"_s
                            .arg(kBarX + width + 6)
                            .arg(barTop + 14)
                            .arg(xmlEscaped(formatValue(*median, scenario.unit)));
            } else {
                body << u"<text x=\"%1\" y=\"%2\" class=\"note\">skipped: %3</text>"_s.arg(kBarX)
                            .arg(barTop + 14)
                            .arg(xmlEscaped(variant.skipped));
            }
            y += kRow;
        }
        y += 6;
        for (const Check &check : scenario.checks) {
            y += kCheckRow;
            QString text =
                u"%1 = %2"_s.arg(checkLabel(scenario, check), checkValueText(scenario, check));
            const QString verdict = check.verdict(scenario);
            if (!verdict.isEmpty())
                text += u"  (target %1: %2)"_s.arg(check.targetText(scenario.unit, false), verdict);
            body << u"<text x=\"30\" y=\"%1\" class=\"check %2\">%3</text>"_s.arg(y).arg(
                verdict == u"met" || verdict == u"missed" ? verdict : u"info"_s, xmlEscaped(text));
        }
        y += 14;
        body << u"<rect x=\"10\" y=\"%1\" width=\"%2\" height=\"%3\" class=\"panel\"/>"_s
                    .arg(top + 6)
                    .arg(kWidth - 20)
                    .arg(y - top - 6);
        y += 6;
    }

    const QString style = u"<style>"
                          "text{font-family:sans-serif;fill:#222}"
                          ".h1{font-size:18px;font-weight:bold}"
                          ".h2{font-size:15px;font-weight:bold}"
                          ".note{font-size:12px;fill:#666}"
                          ".label,.value{font-size:12px}"
                          ".check{font-size:12px}"
                          ".met{fill:#1a7f37}.missed{fill:#c62828}.info{fill:#444}"
                          ".qd{fill:#1f6fb5}.base{fill:#a0a4a8}"
                          ".panel{fill:none;stroke:#d0d4d8}"
                          "</style>"_s;
    return u"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%1\" height=\"%2\" "
           "viewBox=\"0 0 %1 %2\">\n%3\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
           "%4\n</svg>\n"_s.arg(kWidth)
               .arg(y + 10)
               .arg(style, body.join(u'\n'));
}

} // namespace bench

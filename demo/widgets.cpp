#include "widgets.h"

#include <QtCore/QLocale>
#include <QtCore/QTime>
#include <QtGui/QPainter>
#include <QtGui/QPainterPath>

#include <algorithm>
#include <cmath>

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int kSamples = 80; // 8 s of history at one sample per 100 ms
const QColor kEmptyCell(0x26, 0x2a, 0x33);
const QColor kGridLine(0x33, 0x38, 0x44);

} // namespace

// --- FractalView -------------------------------------------------------------------------------

FractalView::FractalView(QSize canvasSize, QWidget *parent)
    : QWidget(parent), m_canvas(canvasSize, QImage::Format_RGB32)
{
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
    setMinimumSize(canvasSize / 2);
    reset(64);
}

void FractalView::reset(int tileSize)
{
    m_canvas.fill(kEmptyCell);
    QPainter painter(&m_canvas);
    painter.setPen(kGridLine);
    for (int x = 0; x < m_canvas.width(); x += tileSize)
        painter.drawLine(x, 0, x, m_canvas.height() - 1);
    for (int y = 0; y < m_canvas.height(); y += tileSize)
        painter.drawLine(0, y, m_canvas.width() - 1, y);
    update();
}

void FractalView::placeTile(const QRect &rect, const QImage &tile, const QColor &workerColour)
{
    QPainter painter(&m_canvas);
    painter.drawImage(rect.topLeft(), tile);
    painter.fillRect(QRect(rect.topLeft() + QPoint(2, 2), QSize(5, 5)), workerColour);
    update();
}

void FractalView::markCancelled(const QRect &rect)
{
    QPainter painter(&m_canvas);
    painter.fillRect(rect.adjusted(1, 1, 0, 0), QBrush(QColor(0xd0, 0x50, 0x50), Qt::BDiagPattern));
    update();
}

QSize FractalView::sizeHint() const
{
    return m_canvas.size();
}

void FractalView::paintEvent(QPaintEvent *)
{
    QPainter painter(this);
    painter.fillRect(rect(), QColor(0x1b, 0x1e, 0x24));
    // Keep the aspect ratio, centred.
    const QSize scaled = m_canvas.size().scaled(size(), Qt::KeepAspectRatio);
    const QRect target(QPoint((width() - scaled.width()) / 2, (height() - scaled.height()) / 2),
                       scaled);
    painter.setRenderHint(QPainter::SmoothPixmapTransform);
    painter.drawImage(target, m_canvas);
}

// --- Heartbeat ---------------------------------------------------------------------------------

Heartbeat::Heartbeat(QWidget *parent) : QWidget(parent)
{
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
}

void Heartbeat::advance()
{
    ++m_ticks;
    update();
}

QSize Heartbeat::sizeHint() const
{
    return { 320, 64 };
}

void Heartbeat::paintEvent(QPaintEvent *)
{
    QPainter painter(this);
    painter.setRenderHint(QPainter::Antialiasing);

    // A ring of twelve dots; the bright one moves a step per tick (one turn per second).
    const int diameter = height() - 8;
    const QPointF centre(4 + diameter / 2.0, height() / 2.0);
    const int lit = int(m_ticks % 60) / 5;
    for (int i = 0; i < 12; ++i) {
        const double angle = (i * 30.0 - 90.0) * kPi / 180.0;
        const QPointF at =
            centre + QPointF(std::cos(angle), std::sin(angle)) * (diameter / 2.0 - 5);
        const int age = (lit - i + 12) % 12; // 0 for the head of the trail
        QColor colour(0x3d, 0xae, 0xe9);
        colour.setAlphaF(age < 6 ? 1.0 - age * 0.15 : 0.12);
        painter.setPen(Qt::NoPen);
        painter.setBrush(colour);
        painter.drawEllipse(at, 4.0, 4.0);
    }

    const QRect text(diameter + 16, 0, width() - diameter - 16, height());
    QFont big = font();
    big.setPointSizeF(font().pointSizeF() * 1.6);
    big.setBold(true);
    painter.setFont(big);
    painter.setPen(palette().color(QPalette::WindowText));
    painter.drawText(text.adjusted(0, 4, 0, -height() / 2), Qt::AlignLeft | Qt::AlignVCenter,
                     QTime::currentTime().toString(QStringLiteral("hh:mm:ss.z")));
    painter.setFont(font());
    painter.drawText(text.adjusted(0, height() / 2, 0, -4), Qt::AlignLeft | Qt::AlignVCenter,
                     QStringLiteral("16 ms GUI timer: %1 ticks").arg(QLocale().toString(m_ticks)));
}

// --- SparkLine ---------------------------------------------------------------------------------

SparkLine::SparkLine(const QString &title, const QString &unit, const QColor &colour,
                     QWidget *parent)
    : QWidget(parent), m_title(title), m_unit(unit), m_colour(colour)
{
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
}

void SparkLine::addSample(double value)
{
    m_samples.append(value);
    if (m_samples.size() > kSamples)
        m_samples.removeFirst();
    update();
}

QSize SparkLine::sizeHint() const
{
    return { 320, 46 };
}

void SparkLine::paintEvent(QPaintEvent *)
{
    QPainter painter(this);
    painter.setRenderHint(QPainter::Antialiasing);
    const QRectF area = QRectF(rect()).adjusted(0.5, 0.5, -0.5, -0.5);
    painter.setPen(palette().color(QPalette::Mid));
    painter.setBrush(palette().color(QPalette::Base));
    painter.drawRect(area);

    const double peak =
        m_samples.isEmpty() ? 0.0 : *std::max_element(m_samples.cbegin(), m_samples.cend());
    const double scale = std::max(peak, 1.0); // a flat line at the bottom when all is zero
    const double step = area.width() / (kSamples - 1);
    if (m_samples.size() > 1) {
        QPainterPath line;
        const double firstX = area.right() - (m_samples.size() - 1) * step;
        for (int i = 0; i < m_samples.size(); ++i) {
            const QPointF p(firstX + i * step,
                            area.bottom() - 2 - (area.height() - 16) * m_samples[i] / scale);
            if (i == 0)
                line.moveTo(p);
            else
                line.lineTo(p);
        }
        QPainterPath fill = line;
        fill.lineTo(area.right(), area.bottom());
        fill.lineTo(firstX, area.bottom());
        QColor under = m_colour;
        under.setAlpha(50);
        painter.fillPath(fill, under);
        painter.setPen(QPen(m_colour, 1.5));
        painter.setBrush(Qt::NoBrush);
        painter.drawPath(line);
    }

    const double now = m_samples.isEmpty() ? 0.0 : m_samples.last();
    painter.setPen(palette().color(QPalette::Text));
    painter.drawText(area.adjusted(6, 2, -6, 0), Qt::AlignLeft | Qt::AlignTop, m_title);
    painter.drawText(
        area.adjusted(6, 2, -6, 0), Qt::AlignRight | Qt::AlignTop,
        QStringLiteral("now %1 %3 · peak %2 %3")
            .arg(QLocale().toString(now, 'f', 0), QLocale().toString(peak, 'f', 0), m_unit));
}

// QDispatch demo: the custom widgets of the window. They know nothing about threads: every
// call on them happens on the GUI thread, which is what QDispatch is there to guarantee.
#pragma once

#include <QtCore/QList>
#include <QtGui/QColor>
#include <QtGui/QImage>
#include <QtWidgets/QWidget>

// The fractal canvas: tiles are drawn into it as they arrive; cancelled tiles are hatched.
class FractalView final : public QWidget
{
public:
    explicit FractalView(QSize canvasSize, QWidget *parent = nullptr);

    // Clears the canvas to an empty grid of `tileSize` cells.
    void reset(int tileSize);
    // Draws a finished tile, with a small corner mark in the colour of the worker that made it.
    void placeTile(const QRect &rect, const QImage &tile, const QColor &workerColour);
    // Hatches a tile whose delivery was cancelled before it ran.
    void markCancelled(const QRect &rect);

    QSize sizeHint() const override;

protected:
    void paintEvent(QPaintEvent *event) override;

private:
    QImage m_canvas;
};

// Proof that the GUI thread is alive: a spinner and a clock that move one step per tick of the
// window's 16 ms timer. If the GUI thread blocks, they freeze.
class Heartbeat final : public QWidget
{
public:
    explicit Heartbeat(QWidget *parent = nullptr);

    void advance(); // one timer tick
    quint64 ticks() const { return m_ticks; }

    QSize sizeHint() const override;

protected:
    void paintEvent(QPaintEvent *event) override;

private:
    quint64 m_ticks = 0;
};

// A small live graph of the last few seconds of one measurement.
class SparkLine final : public QWidget
{
public:
    SparkLine(const QString &title, const QString &unit, const QColor &colour,
              QWidget *parent = nullptr);

    void addSample(double value);

    QSize sizeHint() const override;

protected:
    void paintEvent(QPaintEvent *event) override;

private:
    QString m_title;
    QString m_unit;
    QColor m_colour;
    QList<double> m_samples; // oldest first, at most kSamples
};

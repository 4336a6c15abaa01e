// QDispatch demo: --selftest and --screenshot.
#pragma once

#include <QtCore/QString>

// Drives the whole scenario (render and wait, flood, cancel, close mid-work) on real windows,
// prints every check with PASS or FAIL, and returns 0 only when all passed. A step that does
// not finish in time (a deadlock) is reported by a watchdog thread, which exits with 1.
// Needs a QApplication; runs under any platform, including offscreen.
int runSelfTest();

// Opens the window, lets it render and flood until about two thirds of the tiles are in,
// saves a grab of the window to `file` (PNG) and returns 0 (1 on failure).
int takeScreenshot(const QString &file);

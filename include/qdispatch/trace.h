/// \file
/// X12: a timeline of what every executor does, written as Chrome Trace Event Format JSON, which
/// Perfetto (ui.perfetto.dev), Qt Creator's Chrome Trace Format viewer and speedscope open.
/// Included by `<qdispatch/currentthreadexecutor.h>`; docs/diagnostics.md says what the file holds.
#pragma once

#include <qdispatch/qdispatch_export.h>

#include <QtCore/QString>

namespace qdispatch {

/// X12: starts recording a timeline into `filePath`: every item an executor runs (on its owner
/// thread, with an arrow from the thread that submitted it), and every runUntilFuture() and
/// invoke() wait. Executors that exist already are traced too. The file is opened (created or
/// truncated) here and written by stopTrace(), or at a normal process exit (a return from
/// main() or std::exit()) if stopTrace() was not called.
///
/// Any thread. Returns false, with a warning in the logging category "qdispatch.trace", when
/// the file cannot be opened for writing, when a trace is being recorded already (that one goes
/// on unchanged; the environment variable QDISPATCH_TRACE may have started it), and in a library
/// built with QDISPATCH_DIAGNOSTICS off. At most QDISPATCH_TRACE_MAX_EVENTS events (read here;
/// 1,000,000 by default) are kept besides the thread names: the oldest go first, and the file
/// says how many went.
QDISPATCH_EXPORT bool startTrace(const QString &filePath);

/// X12: stops recording and writes the file that startTrace() (or QDISPATCH_TRACE) opened. The
/// writing happens on the calling thread, which may take a moment for a long trace; items keep
/// running meanwhile, untraced. Any thread. Returns true once the file is written; false, with
/// a warning in "qdispatch.trace", when no trace is being recorded or the file could not be
/// written.
QDISPATCH_EXPORT bool stopTrace();

} // namespace qdispatch

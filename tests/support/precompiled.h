// The headers nearly every test includes, compiled once per build into a precompiled header
// that every test of the same language standard reuses (tests/CMakeLists.txt). Parsing Qt's
// headers is about half of what compiling a test costs; this file is never included by hand.
#pragma once

#include "testsupport.h"

#include <qdispatch/currentthreadexecutor.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QFuture>
#include <QtCore/QPromise>
#include <QtCore/QRegularExpression>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

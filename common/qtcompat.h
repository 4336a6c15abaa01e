// Not part of the QDispatch API: a helper shared by the tests, the demo and the benchmark, never
// installed. It spells Qt calls whose names changed within the supported Qt range (6.4 to the
// newest), so that no target uses deprecated API on any of them.
#pragma once

#include <QtCore/QFuture>
#include <QtCore/QtGlobal>

#include <type_traits>
#include <utility>

namespace qdispatch_compat {

// A finished QFuture<void>. QtFuture::makeReadyFuture() is deprecated from Qt 6.6 on, where
// makeReadyVoidFuture() replaces it.
inline QFuture<void> readyFuture()
{
#if QT_VERSION >= QT_VERSION_CHECK(6, 6, 0)
    return QtFuture::makeReadyVoidFuture();
#else
    return QtFuture::makeReadyFuture();
#endif
}

// A finished QFuture<T> holding `value` (makeReadyValueFuture() from Qt 6.6 on).
template<typename T> QFuture<std::decay_t<T>> readyFuture(T &&value)
{
#if QT_VERSION >= QT_VERSION_CHECK(6, 6, 0)
    return QtFuture::makeReadyValueFuture(std::forward<T>(value));
#else
    return QtFuture::makeReadyFuture(std::forward<T>(value));
#endif
}

} // namespace qdispatch_compat

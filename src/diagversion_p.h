// This file is not part of the QDispatch API. It may change from version to version without
// notice, or even be removed.
//
// X10-X12: the version of the settings that the owner thread's drains read before every item.
#pragma once

#include <atomic>
#include <cstdint>

namespace qdispatch::detail {

// Moves whenever one of the settings a drain reads before each item changes: an executor's
// slow-item thresholds (X10), the hang threshold (X10, X11) or whether a trace is recorded (X12).
// A drain compares it with the value it read last, one load per item, and reads the settings
// again when it moved (ItemBooks): one load instead of one per setting. On a cache line of its
// own, which every owner thread reads and nothing writes but a switch.
struct alignas(64) DiagnosticsVersion
{
    std::atomic<std::uint32_t> value { 0 };
};
inline DiagnosticsVersion g_diagnosticsVersion;

// After the setting's own store: a drain that sees the new version sees the new setting.
inline void diagnosticsSettingsChanged() noexcept
{
    g_diagnosticsVersion.value.fetch_add(1, std::memory_order_release);
}

inline std::uint32_t diagnosticsVersion() noexcept
{
    return g_diagnosticsVersion.value.load(std::memory_order_acquire);
}

} // namespace qdispatch::detail

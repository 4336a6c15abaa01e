// The plainest coroutine type there is, for the tests of <qdispatch/coro.h> (X6) and for the
// consumers in tests/headers and tests/package: it starts at once, frees itself at the end, and
// offers the awaitables nothing (no await_transform, no executor, no scheduler). X6 says
// resumeOn() and resultOf() work in any coroutine; the tests use this one, and QCoro's Task in
// tst_qcoro. C++20 only.
#pragma once

#include <coroutine>
#include <exception>

namespace qdispatchtest {

struct Detached
{
    struct promise_type
    {
        Detached get_return_object() noexcept { return {}; }
        std::suspend_never initial_suspend() noexcept { return {}; }
        std::suspend_never final_suspend() noexcept { return {}; }
        void return_void() noexcept { }
        void unhandled_exception() noexcept { std::terminate(); }
    };
};

} // namespace qdispatchtest

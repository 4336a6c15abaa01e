// Compiled as C++17 by the coro_needs_cxx20 test, which passes only when the compiler stops
// with the header's own message (X6: the coroutine header is for C++20 consumers only).
#include <qdispatch/coro.h>

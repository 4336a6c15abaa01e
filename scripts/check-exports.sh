#!/usr/bin/env bash
# E1: lists the dynamic symbols a shared libqdispatch exports and fails on any that is not
# QDispatch's: the library is built with hidden visibility, and only what QDISPATCH_EXPORT marks
# may leave it. Allowed, by pattern on the demangled names (nm -D --defined-only -C):
#   - anything in namespace qdispatch, with its typeinfo, vtable and thunks;
#   - the standard library's own template instantiations and their typeinfo (kinds W, V, u:
#     weak or unique, one copy per program). libstdc++ declares namespace std with default
#     visibility, so the compiler exports every instantiation the library makes of it; they are
#     the standard library's, identical wherever they are made, and no part of QDispatch's API.
# Everything else fails: a function outside the namespace, an extern "C" symbol, a Qt template
# instantiated with default visibility.
#
# Usage: scripts/check-exports.sh <libqdispatch.so>
#        scripts/check-exports.sh --self-test   (proves the filter rejects a planted symbol)
set -euo pipefail

# Reads "kind name" lines; prints the ones not allowed.
unexpected() {
    awk '{
        kind = $1
        name = substr($0, length($1) + 2)
        if (name ~ /^((typeinfo|typeinfo name|vtable|VTT|construction vtable|guard variable) for |(non-)?virtual thunk to )?qdispatch::/)
            next
        if (kind ~ /^[WVu]$/ && name ~ /^((typeinfo|typeinfo name|vtable) for )?([^ (]+ )*std::/)
            next
        print
    }'
}

if [ "${1:-}" = "--self-test" ]; then
    sample='T qdispatch::executorOf(QThread*)
V typeinfo for qdispatch::ExecutorError
W void std::vector<int, std::allocator<int> >::_M_realloc_insert<int const&>(int const&)
T plantedOutsideTheNamespace()
T std::notQDispatchs()
W QList<int>::append(int)'
    got=$(printf '%s\n' "$sample" | unexpected)
    want='T plantedOutsideTheNamespace()
T std::notQDispatchs()
W QList<int>::append(int)'
    if [ "$got" != "$want" ]; then
        printf 'check-exports: self-test FAILED: the filter let through or rejected the wrong ones:\n%s\n' "$got" >&2
        exit 1
    fi
    echo "check-exports: self-test passed (3 planted symbols rejected, 3 allowed ones kept)"
    exit 0
fi

library=${1:?usage: check-exports.sh <libqdispatch.so> | --self-test}
symbols=$(nm -D --defined-only -C "$library" | awk '{ $1 = ""; sub(/^ /, ""); print }' | sort -u)
count=$(printf '%s\n' "$symbols" | grep -c .)
ours=$(printf '%s\n' "$symbols" | grep -c ' qdispatch::\| for qdispatch::' || true)
bad=$(printf '%s\n' "$symbols" | unexpected)
if [ -n "$bad" ]; then
    echo "check-exports: $library exports symbols that are not QDispatch's API:" >&2
    printf '  %s\n' "$bad" >&2
    exit 1
fi
echo "check-exports: $library exports $count symbols, all allowed ($ours in namespace qdispatch, the rest the standard library's template instantiations)"

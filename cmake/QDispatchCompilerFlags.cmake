# Warning and sanitizer flags shared by every target of the project (library, tests, demo).
# They are applied through an interface target so that they never leak into a user's build
# through the exported QDispatch::QDispatch target.
add_library(qdispatch_project_flags INTERFACE)
target_compile_options(qdispatch_project_flags INTERFACE -Wall -Wextra -Wpedantic)
if(QDISPATCH_WARNINGS_AS_ERRORS)
    target_compile_options(qdispatch_project_flags INTERFACE -Werror)
endif()
target_compile_definitions(qdispatch_project_flags INTERFACE
    QT_NO_KEYWORDS QT_NO_CAST_FROM_ASCII QT_NO_CAST_TO_ASCII)
if(QDISPATCH_SANITIZE)
    target_compile_options(qdispatch_project_flags INTERFACE
        -fsanitize=${QDISPATCH_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
    target_link_options(qdispatch_project_flags INTERFACE -fsanitize=${QDISPATCH_SANITIZE})
endif()
# The linker of the project's own executables (QDISPATCH_LINKER, e.g. lld): the tests are some
# sixty executables, and linking each with a debug build's information is most of what an
# incremental build does. When the compiler cannot use the one named, the default one links.
if(QDISPATCH_LINKER)
    include(CheckLinkerFlag)
    check_linker_flag(CXX "-fuse-ld=${QDISPATCH_LINKER}" QDISPATCH_LINKER_WORKS)
    if(QDISPATCH_LINKER_WORKS)
        target_link_options(qdispatch_project_flags INTERFACE "-fuse-ld=${QDISPATCH_LINKER}")
    else()
        message(STATUS "QDispatch: the linker '${QDISPATCH_LINKER}' does not work with "
                       "${CMAKE_CXX_COMPILER}; the default linker links")
    endif()
endif()
# common/: helpers shared by the tests, the demo and the benchmark (never installed).
target_include_directories(qdispatch_project_flags INTERFACE
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/common>)

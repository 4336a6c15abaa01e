# CTest driver (E2): builds and runs a consumer that finds QDispatch through pkg-config, with
# qmake or with Meson, against an installed QDispatch.
#   cmake -DTOOL=qmake|meson -DTOOL_PROGRAM=<qmake6 or meson> -DSOURCE_DIR=<tests dir>
#         -DWORK_DIR=<scratch> [-DBUILD_DIR=<QDispatch's build tree>] -P run.cmake
# With BUILD_DIR, QDispatch is installed from it into a scratch prefix first and pkg-config is
# pointed at that prefix; without it, the QDispatch installed on the system is used (the Debian
# package check, scripts/debian-package.sh).
cmake_minimum_required(VERSION 3.21)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/src)

function(run)
    execute_process(COMMAND ${ARGN} WORKING_DIRECTORY ${WORK_DIR}/build
        RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    message(STATUS "${out}")
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "command failed (${rc}): ${ARGN}")
    endif()
endfunction()

file(MAKE_DIRECTORY ${WORK_DIR}/build)
if(DEFINED BUILD_DIR)
    run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
    file(GLOB_RECURSE pc ${WORK_DIR}/prefix/qdispatch.pc)
    if(NOT pc)
        message(FATAL_ERROR "the install has no qdispatch.pc")
    endif()
    get_filename_component(pcdir ${pc} DIRECTORY)
    set(ENV{PKG_CONFIG_PATH} "${pcdir}")
endif()
run(pkg-config --print-errors --cflags --libs qdispatch)

file(COPY ${SOURCE_DIR}/package/consumer.cpp DESTINATION ${WORK_DIR}/src)
if(TOOL STREQUAL "qmake")
    file(COPY ${SOURCE_DIR}/pkgconfig/consumer.pro DESTINATION ${WORK_DIR}/src)
    run(${TOOL_PROGRAM} ${WORK_DIR}/src/consumer.pro)
    run(make)
elseif(TOOL STREQUAL "meson")
    file(COPY ${SOURCE_DIR}/pkgconfig/meson.build DESTINATION ${WORK_DIR}/src)
    file(REMOVE_RECURSE ${WORK_DIR}/build)
    execute_process(COMMAND ${TOOL_PROGRAM} setup ${WORK_DIR}/build ${WORK_DIR}/src
        RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    message(STATUS "${out}")
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "meson setup failed (${rc})")
    endif()
    run(${TOOL_PROGRAM} compile)
else()
    message(FATAL_ERROR "TOOL must be qmake or meson")
endif()
run(${WORK_DIR}/build/consumer)
message(STATUS "pkgconfig: the ${TOOL} consumer built against qdispatch.pc and ran")

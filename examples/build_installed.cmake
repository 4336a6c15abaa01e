# CTest driver: builds the examples the way a user's project would. Each example is configured
# on its own (it finds QDispatch with find_package), built and run on the offscreen platform;
# each program checks itself and exits non-zero when something went wrong.
# Inputs: EXAMPLES_DIR, EXAMPLES (a list of the examples' folders; each builds a program of the
# folder's name), WORK_DIR; optional: BUILD_DIR (QDispatch's build tree, installed first into a
# scratch prefix; without it the QDispatch installed on the system is used), GENERATOR,
# CXX_COMPILER, CXX_FLAGS (the sanitizer flags the library was built with, or empty).
cmake_minimum_required(VERSION 3.21)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

function(run)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    message(STATUS "${out}")
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "command failed (${rc}): ${ARGN}")
    endif()
endfunction()

# Built to be run once, not debugged: no optimisation and no debug information.
set(options -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
            "-DCMAKE_EXE_LINKER_FLAGS=${CXX_FLAGS}")
if(DEFINED BUILD_DIR)
    run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
    list(APPEND options -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
endif()
if(GENERATOR)
    list(APPEND options -G ${GENERATOR})
endif()
if(CXX_COMPILER)
    list(APPEND options -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
endif()

set(ENV{QT_QPA_PLATFORM} offscreen)
foreach(example IN LISTS EXAMPLES)
    set(build ${WORK_DIR}/${example})
    run(${CMAKE_COMMAND} -S ${EXAMPLES_DIR}/${example} -B ${build} ${options})
    run(${CMAKE_COMMAND} --build ${build})
    file(GLOB program ${build}/${example} ${build}/*/${example})
    if(NOT program)
        message(FATAL_ERROR "the example's program ${example} was not built in ${build}")
    endif()
    run(${program})
endforeach()
message(STATUS "examples built against the installed QDispatch and ran: ${EXAMPLES}")

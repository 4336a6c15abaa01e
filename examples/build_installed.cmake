# CTest driver: builds an example the way a user's project would. QDispatch is installed from
# the build tree into a scratch prefix, then the example is configured on its own (it finds
# QDispatch with find_package), built and run on the offscreen platform.
# Inputs: BUILD_DIR, EXAMPLE_DIR, PROGRAM (the executable it builds), WORK_DIR, GENERATOR,
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

run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} -S ${EXAMPLE_DIR} -B ${WORK_DIR}/build -G ${GENERATOR}
    -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
    -DCMAKE_BUILD_TYPE=Debug
    "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
    "-DCMAKE_EXE_LINKER_FLAGS=${CXX_FLAGS}")
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)

file(GLOB program ${WORK_DIR}/build/${PROGRAM} ${WORK_DIR}/build/*/${PROGRAM})
if(NOT program)
    message(FATAL_ERROR "the example's program was not built in ${WORK_DIR}/build")
endif()
set(ENV{QT_QPA_PLATFORM} offscreen)
run(${program})

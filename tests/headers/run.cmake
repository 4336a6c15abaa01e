# CTest driver of the header check (tests/headers/CMakeLists.txt): configures and builds the
# consumer translation unit with one compiler and one C++ standard.
# Inputs: COMPILER, STANDARD, WORK_DIR, GENERATOR, INCLUDE_DIRS (a |-separated list), QT6_DIR.
if(NOT COMPILER)
    message(FATAL_ERROR "headers: the compiler of this check is not installed (setup.sh installs g++ and clang)")
endif()
file(REMOVE_RECURSE ${WORK_DIR})
foreach(step configure build)
    if(step STREQUAL "configure")
        set(command ${CMAKE_COMMAND} -S ${CMAKE_CURRENT_LIST_DIR} -B ${WORK_DIR} -G ${GENERATOR}
            -DCMAKE_CXX_COMPILER=${COMPILER} -DCMAKE_CXX_STANDARD=${STANDARD}
            "-DQDISPATCH_INCLUDE_DIRS=${INCLUDE_DIRS}" -DQt6_DIR=${QT6_DIR})
    else()
        set(command ${CMAKE_COMMAND} --build ${WORK_DIR})
    endif()
    execute_process(COMMAND ${command} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "headers: ${step} with ${COMPILER}, C++${STANDARD} failed:\n${out}")
    endif()
endforeach()
message(STATUS "headers: every public header compiled warning-free with ${COMPILER}, C++${STANDARD}")

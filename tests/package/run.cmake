# CTest driver: install QDispatch from the build tree into a scratch prefix, then configure,
# build and run the consumer project against it (find_package), and again via add_subdirectory.
# Inputs: BUILD_DIR, SOURCE_DIR, WORK_DIR, CXX_FLAGS, GENERATOR.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

function(run)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}")
    endif()
    message(STATUS "${out}")
endfunction()

run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)

foreach(mode find_package add_subdirectory)
    set(consumer ${WORK_DIR}/${mode})
    run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package -B ${consumer} -G ${GENERATOR}
        -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix
        -DQDISPATCH_CONSUMER_MODE=${mode}
        -DQDISPATCH_SOURCE_DIR=${SOURCE_DIR}
        -DCMAKE_BUILD_TYPE=Debug
        "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
        "-DCMAKE_EXE_LINKER_FLAGS=${CXX_FLAGS}")
    run(${CMAKE_COMMAND} --build ${consumer})
    foreach(std 17 20)
        run(${consumer}/consumer_cxx${std})
    endforeach()
endforeach()
message(STATUS "package: find_package and add_subdirectory consumers built and ran (C++17 and C++20)")

# CTest driver: install QDispatch from the build tree into a scratch prefix, then configure,
# build and run the consumer project against it (find_package), again via add_subdirectory, and
# again with FetchContent from a git repository.
# Inputs: BUILD_DIR, SOURCE_DIR, WORK_DIR, CXX_FLAGS, GENERATOR, GIT (the git executable).
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

# FetchContent clones a git URL. The source tree itself may have uncommitted changes (which a
# clone would not see) and may not be a git repository at all, so the tree as it is now is
# copied, without build output and git metadata, into a fresh repository of one commit.
if(NOT GIT)
    message(FATAL_ERROR "git not found: the FetchContent consumer needs it (scripts/setup.sh installs it)")
endif()
set(repo ${WORK_DIR}/qdispatch-git)
file(GLOB entries RELATIVE ${SOURCE_DIR} ${SOURCE_DIR}/*) # dot files included
foreach(entry IN LISTS entries)
    if(NOT entry MATCHES "^(build|build-.*|\\.git)$")
        file(COPY ${SOURCE_DIR}/${entry} DESTINATION ${repo})
    endif()
endforeach()
set(git_quiet -c user.name=qdispatch-test -c user.email=test@qdispatch.invalid -c init.defaultBranch=main)
run(${GIT} ${git_quiet} -C ${repo} init -q)
run(${GIT} ${git_quiet} -C ${repo} add -A)
run(${GIT} ${git_quiet} -C ${repo} commit -q -m "QDispatch as the test found it")
execute_process(COMMAND ${GIT} -C ${repo} rev-parse HEAD
    OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "git rev-parse failed in ${repo}")
endif()

foreach(mode find_package add_subdirectory fetchcontent)
    set(consumer ${WORK_DIR}/${mode})
    run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package -B ${consumer} -G ${GENERATOR}
        -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix
        -DQDISPATCH_CONSUMER_MODE=${mode}
        -DQDISPATCH_SOURCE_DIR=${SOURCE_DIR}
        -DQDISPATCH_GIT_REPOSITORY=file://${repo}
        -DQDISPATCH_GIT_TAG=${commit}
        -DGIT_EXECUTABLE=${GIT}
        -DCMAKE_BUILD_TYPE=Debug
        # Built to be used, not debugged: one translation unit for the library, no debug
        # information (a third of the test's time otherwise).
        -DCMAKE_UNITY_BUILD=ON
        -DCMAKE_CXX_FLAGS_DEBUG=-O0
        "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
        "-DCMAKE_EXE_LINKER_FLAGS=${CXX_FLAGS}")
    run(${CMAKE_COMMAND} --build ${consumer})
    foreach(std 17 20)
        run(${consumer}/consumer_cxx${std})
    endforeach()
endforeach()
message(STATUS "package: find_package, add_subdirectory and FetchContent consumers built and ran (C++17 and C++20)")

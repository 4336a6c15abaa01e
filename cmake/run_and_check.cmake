# CTest driver: runs a command and checks its exit code and its output together (CTest's
# PASS_REGULAR_EXPRESSION alone ignores the exit code, and WILL_FAIL cannot be combined with it).
#
#   cmake [-DEXIT_CODE=<number>|nonzero] [-DOUTPUT_REGEX=<regex>] [-DSET_ENV=NAME=VALUE,...]
#         [-DUNSET_ENV=NAME,...] -P run_and_check.cmake -- <command> [arguments...]
#
# EXIT_CODE: the exit code expected (default 0); "nonzero" accepts any exit code but 0. A crash
# or a signal never passes. OUTPUT_REGEX must match stdout and stderr together. SET_ENV and
# UNSET_ENV change the command's environment (comma-separated lists).
cmake_minimum_required(VERSION 3.21)
if(NOT DEFINED EXIT_CODE)
    set(EXIT_CODE 0)
endif()

set(command "")
set(after_separator FALSE)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE ${last})
    if(after_separator)
        string(REPLACE ";" "\\;" argument "${CMAKE_ARGV${i}}") # one argument, not a list
        list(APPEND command "${argument}")
    elseif("${CMAKE_ARGV${i}}" STREQUAL "--")
        set(after_separator TRUE)
    endif()
endforeach()
if(NOT command)
    message(FATAL_ERROR "run_and_check: no command given after --")
endif()

if(DEFINED UNSET_ENV)
    string(REPLACE "," ";" names "${UNSET_ENV}")
    foreach(name IN LISTS names)
        unset(ENV{${name}})
    endforeach()
endif()
if(DEFINED SET_ENV)
    string(REPLACE "," ";" assignments "${SET_ENV}")
    foreach(assignment IN LISTS assignments)
        string(FIND "${assignment}" "=" at)
        if(at LESS 1)
            message(FATAL_ERROR "run_and_check: SET_ENV entry '${assignment}' is not NAME=VALUE")
        endif()
        string(SUBSTRING "${assignment}" 0 ${at} name)
        math(EXPR at "${at} + 1")
        string(SUBSTRING "${assignment}" ${at} -1 value)
        set(ENV{${name}} "${value}")
    endforeach()
endif()

execute_process(COMMAND ${command} RESULT_VARIABLE rc OUTPUT_VARIABLE output ERROR_VARIABLE output)
message("${output}")
message(STATUS "run_and_check: exit code ${rc}")

if(NOT rc MATCHES "^-?[0-9]+$")
    message(FATAL_ERROR "run_and_check: the command did not exit normally: ${rc}")
endif()
if(EXIT_CODE STREQUAL "nonzero")
    if(rc EQUAL 0)
        message(FATAL_ERROR "run_and_check: expected a non-zero exit code, got 0")
    endif()
elseif(NOT rc EQUAL EXIT_CODE)
    message(FATAL_ERROR "run_and_check: expected exit code ${EXIT_CODE}, got ${rc}")
endif()
if(DEFINED OUTPUT_REGEX AND NOT output MATCHES "${OUTPUT_REGEX}")
    message(FATAL_ERROR "run_and_check: the output does not match the regular expression: ${OUTPUT_REGEX}")
endif()

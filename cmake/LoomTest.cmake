# Build time, for a clean build without ccache (what CI does). Most of a translation unit's
# parsing is the same few headers (the standard library, nlohmann/json, GoogleTest): with
# LOOM_PCH each side of the build parses them once into a precompiled header that its targets
# share (REUSE_FROM): loom_pch_library for src/ and the loom binary, loom_pch_test for the tests.
# A shared PCH is only valid for units compiled with the donor's flags (GCC says so under
# -Winvalid-pch, which CMake adds, and parses the headers instead), so every unit then gets
# -pthread, as gRPC's targets give theirs. Not for ccache: GCC's .gch is not reproducible, so
# ccache would miss on every unit that uses one.
option(LOOM_PCH "Precompiled headers for the libraries and the tests" OFF)
set(LOOM_PCH_LIBRARY_HEADERS <algorithm> <chrono> <cstdint> <cstring> <functional> <map> <memory>
    <mutex> <optional> <regex> <set> <sstream> <string> <string_view> <thread> <unordered_map>
    <utility> <variant> <vector> <nlohmann/json.hpp>)
set(LOOM_PCH_TEST_HEADERS ${LOOM_PCH_LIBRARY_HEADERS} <atomic> <gtest/gtest.h>)
# LOOM_TEST_OPTIMIZE (say -O1): the optimization of the tests' own code (the *_test.cc files and
# their helpers) only; the libraries they test stay as built for the loom binary.
set(LOOM_TEST_OPTIMIZE "" CACHE STRING "Optimization flag of the tests' own code (empty: the build type's)")
if(NOT LOOM_TEST_OPTIMIZE MATCHES "^(-O[0-3gs])?$")
  message(FATAL_ERROR "LOOM_TEST_OPTIMIZE: '${LOOM_TEST_OPTIMIZE}' is not one of -O0 -O1 -O2 -O3 -Og -Os")
endif()
if(LOOM_PCH)
  add_compile_options(-pthread)
endif()

# loom_pch_donor(<target> HEADERS ... [OPTIONS ...] [LIBS ...]): an empty object library whose
# only product is the precompiled header others reuse.
function(loom_pch_donor NAME)
  cmake_parse_arguments(P "" "" "HEADERS;OPTIONS;LIBS" ${ARGN})
  set(source ${CMAKE_BINARY_DIR}/${NAME}.cc)
  file(CONFIGURE OUTPUT ${source} CONTENT "// The translation unit that builds ${NAME}'s precompiled header.\n")
  add_library(${NAME} OBJECT ${source})
  target_link_libraries(${NAME} PRIVATE ${P_LIBS})
  target_compile_options(${NAME} PRIVATE ${P_OPTIONS})
  target_precompile_headers(${NAME} PRIVATE ${P_HEADERS})
endfunction()

if(LOOM_PCH)
  loom_pch_donor(loom_pch_library HEADERS ${LOOM_PCH_LIBRARY_HEADERS}
    LIBS nlohmann_json::nlohmann_json Threads::Threads)
  loom_pch_donor(loom_pch_test HEADERS ${LOOM_PCH_TEST_HEADERS} OPTIONS ${LOOM_TEST_OPTIMIZE}
    LIBS nlohmann_json::nlohmann_json Threads::Threads GTest::gtest)
endif()

# loom_test_target(<target>): what every target of the tests' own code gets: LOOM_TEST_OPTIMIZE
# and the tests' precompiled header.
function(loom_test_target TARGET)
  target_compile_options(${TARGET} PRIVATE ${LOOM_TEST_OPTIMIZE})
  target_include_directories(${TARGET} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  if(LOOM_PCH)
    target_link_libraries(${TARGET} PRIVATE GTest::gtest)
    target_precompile_headers(${TARGET} REUSE_FROM loom_pch_test)
  endif()
endfunction()

# How long each libFuzzer test (tests/serving/fuzz, tests/security/fuzz) runs, its seed corpus
# included. `make test` sets it: 60 s, or 20 s under CI (CI=true).
set(LOOM_FUZZ_SECONDS 60 CACHE STRING "Seconds each libFuzzer test runs")
if(NOT LOOM_FUZZ_SECONDS MATCHES "^[1-9][0-9]*$")
  message(FATAL_ERROR "LOOM_FUZZ_SECONDS: '${LOOM_FUZZ_SECONDS}' is not a whole number of seconds")
endif()

# CTest starts the longest tests first when it knows their times (Testing/Temporary/
# CTestCostData.txt, written by each run); a clean build has none, so the long ones carry their
# cost: the seconds of one run at -j2 on 2 cores. The fuzzers, whose clang build counts in
# theirs, set it where they are added.
set(LOOM_TEST_COSTS
  pytorchjob_example_test 65 trainjob_example_test 60 storage_s3_integration_test 55
  accuracy_test 50 storage_data_cli_s3_test 25 workflow_engine_test 20
  workflow_container_pods_test 20 workflow_daemon_test 20 distributed_netns_test 18
  tfjob_example_test 17 pods_cli_test 15 container_podman_test 15 security_test 13
  distributed_train_test 12)

# loom_test(NAME <name> LABEL unit|integration|e2e SOURCES ... LIBS ...)
# A GoogleTest binary registered with CTest under one label. Tests see LOOM_SOURCE_DIR and
# LOOM_BINARY (the loom executable) in their environment.
function(loom_test)
  cmake_parse_arguments(T "" "NAME;LABEL;TIMEOUT" "SOURCES;LIBS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  loom_test_target(${T_NAME})
  add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set(env "LOOM_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
  if(TARGET loom)
    list(APPEND env "LOOM_BINARY=$<TARGET_FILE:loom>")
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT} ENVIRONMENT "${env}")
  list(FIND LOOM_TEST_COSTS ${T_NAME} at)
  if(at GREATER -1)
    math(EXPR at "${at} + 1")
    list(GET LOOM_TEST_COSTS ${at} cost)
    set_tests_properties(${T_NAME} PROPERTIES COST ${cost})
  endif()
endfunction()

# loom_library(<name> SOURCES ... DEPS ...): the library of one src/ module.
function(loom_library NAME)
  cmake_parse_arguments(L "" "" "SOURCES;DEPS" ${ARGN})
  add_library(loom_${NAME} STATIC ${L_SOURCES})
  target_include_directories(loom_${NAME} PUBLIC ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(loom_${NAME} PUBLIC ${L_DEPS})
  if(LOOM_PCH)
    target_precompile_headers(loom_${NAME} REUSE_FROM loom_pch_library)
  endif()
endfunction()

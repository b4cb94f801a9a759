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
  accuracy_test 50 serving_serve_s3_test 35 storage_data_cli_s3_test 25 workflow_engine_test 20
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
  target_include_directories(${T_NAME} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
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
endfunction()

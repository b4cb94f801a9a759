# What the fuzzers' own projects share (tests/serving/fuzz, tests/security/fuzz; built with clang
# by run_libfuzzer.sh, not part of the main build: GCC has no libFuzzer): C++20, the JSON/YAML
# libraries, and loom_fuzzer(NAME SOURCES ... LIBS ...), one target built with
# -fsanitize=fuzzer,address,undefined. LOOM_ROOT is the repository (sources are named from it).
set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
get_filename_component(LOOM_ROOT ${CMAKE_CURRENT_LIST_DIR}/../.. ABSOLUTE)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(Threads REQUIRED)

function(loom_fuzzer NAME)
  cmake_parse_arguments(F "" "" "SOURCES;LIBS" ${ARGN})
  set(sanitize -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_executable(${NAME} ${F_SOURCES})
  target_include_directories(${NAME} PRIVATE ${LOOM_ROOT}/src)
  # What src/core/CMakeLists.txt gives core/json.cc (the library versions it reports).
  target_compile_definitions(${NAME} PRIVATE LOOM_YAML_CPP_VERSION="${yaml-cpp_VERSION}")
  # Line tables are all a sanitizer's stack trace needs (file:line per frame); full -g costs
  # 15% more compile time.
  target_compile_options(${NAME} PRIVATE -O1 -gline-tables-only ${sanitize})
  target_link_options(${NAME} PRIVATE ${sanitize})
  target_link_libraries(${NAME} PRIVATE nlohmann_json::nlohmann_json yaml-cpp Threads::Threads ${F_LIBS})
endfunction()

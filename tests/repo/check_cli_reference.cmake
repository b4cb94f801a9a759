# Fails when REFERENCE (docs/cli.md) differs from what `LOOM help --markdown` prints, and says
# how to regenerate it. cmake -DLOOM=... -DREFERENCE=... -P check_cli_reference.cmake
execute_process(COMMAND ${LOOM} help --markdown OUTPUT_VARIABLE generated RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${LOOM} help --markdown exited ${rc}")
endif()
file(READ ${REFERENCE} checked_in)
if(NOT generated STREQUAL checked_in)
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/cli.md.generated "${generated}")
  execute_process(COMMAND diff -u ${REFERENCE} ${CMAKE_CURRENT_BINARY_DIR}/cli.md.generated)
  message(FATAL_ERROR "${REFERENCE} is not current: regenerate it with `build/loom help --markdown > docs/cli.md`")
endif()
message(STATUS "${REFERENCE} is current")

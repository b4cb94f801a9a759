# The client half of loom_net: a libcurl wrapper (http_client.{h,cc}), the only code that includes curl.
find_package(CURL REQUIRED)
list(APPEND LOOM_NET_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/http_client.cc)
list(APPEND LOOM_NET_DEPS CURL::libcurl)

# The server half of loom_net: libmicrohttpd (epoll, a fixed pool of event threads), chosen by
# measurement against Boost.Beast, libevent's evhttp and cpp-httplib (src/serving/README.md).
pkg_check_modules(MICROHTTPD REQUIRED IMPORTED_TARGET libmicrohttpd)
list(APPEND LOOM_NET_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/http_server.cc)
list(APPEND LOOM_NET_DEPS PkgConfig::MICROHTTPD Threads::Threads)

# The server half of loom_net: libmicrohttpd (epoll, a fixed pool of event threads), chosen by
# measurement against Boost.Beast, libevent's evhttp and cpp-httplib (src/serving/README.md);
# and gRPC's wire protocol on libnghttp2 (HTTP/2 framing and HPACK only, our own event loops),
# chosen by measurement against gRPC++'s server (src/serving/README.md, "gRPC").
pkg_check_modules(MICROHTTPD REQUIRED IMPORTED_TARGET libmicrohttpd)
pkg_check_modules(NGHTTP2 REQUIRED IMPORTED_TARGET libnghttp2)
list(APPEND LOOM_NET_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/listen.cc ${CMAKE_CURRENT_SOURCE_DIR}/http_server.cc
     ${CMAKE_CURRENT_SOURCE_DIR}/grpc_http2_server.cc)
list(APPEND LOOM_NET_DEPS PkgConfig::MICROHTTPD PkgConfig::NGHTTP2 Threads::Threads)

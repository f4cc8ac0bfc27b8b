# CMake toolchain file: cross-builds crmsync for arm64 (aarch64) Linux on an
# amd64 Debian 12 host, with Debian's cross compiler (g++-aarch64-linux-gnu)
# and the arm64 multiarch libraries (libgrpc++-dev:arm64, libprotobuf-dev:arm64,
# libssl-dev:arm64, libsqlcipher0:arm64, ...), which live in /usr/include and
# /usr/lib/aarch64-linux-gnu next to the host's own.
#
# Meant for the client SDK alone (the server's libraries have no arm64
# packages installed); tests/client/cross-build.sh does every step, including
# the SQLCipher headers (libsqlcipher-dev:arm64 is not co-installable with the
# host's libsqlcipher-dev, so never install it: unpack it privately).
#
#   export PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig[:DIR-WITH-sqlcipher.pc]
#   cmake -S . -B build-arm64 -G Ninja \
#     -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake \
#     -DCRMSYNC_BUILD_SERVER=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
#   cmake --build build-arm64 && cmake --install build-arm64 --component sdk --prefix P
#
# Programs (protoc, grpc_cpp_plugin) are the host's: /usr/bin/protoc and
# /usr/bin/grpc_cpp_plugin (protobuf-compiler, protobuf-compiler-grpc); they
# must be the same versions as the arm64 libraries (Debian keeps them so).
# Libraries, headers and CMake packages are looked up for aarch64-linux-gnu
# only, so nothing of the host's /usr/lib/x86_64-linux-gnu can be picked up.
# When PKG_CONFIG_LIBDIR is not set, it is set here to the arm64 and
# architecture-independent pkg-config directories.
# Other triplets of the same kind: copy this file and change CRMSYNC_CROSS_TRIPLET
# and CMAKE_SYSTEM_PROCESSOR.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CRMSYNC_CROSS_TRIPLET aarch64-linux-gnu)

set(CMAKE_C_COMPILER ${CRMSYNC_CROSS_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${CRMSYNC_CROSS_TRIPLET}-g++)
# ar/ranlib/strip/nm/objcopy: CMake takes the ${CRMSYNC_CROSS_TRIPLET}- ones
# next to the compiler (binutils-aarch64-linux-gnu).

# Debian multiarch: the target's libraries are in /usr/lib/<triplet> and
# CMake packages in /usr/lib/<triplet>/cmake (gRPC, absl); the sysroot is /.
set(CMAKE_LIBRARY_ARCHITECTURE ${CRMSYNC_CROSS_TRIPLET})
set(CMAKE_FIND_ROOT_PATH /usr/${CRMSYNC_CROSS_TRIPLET} /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The host's code generators (FindProtobuf's protobuf::protoc,
# proto/CMakeLists.txt's find_program(grpc_cpp_plugin)).
if(EXISTS /usr/bin/protoc)
  set(Protobuf_PROTOC_EXECUTABLE /usr/bin/protoc CACHE FILEPATH "protoc (the host's)")
endif()
if(EXISTS /usr/bin/grpc_cpp_plugin)
  set(GRPC_CPP_PLUGIN /usr/bin/grpc_cpp_plugin CACHE FILEPATH "grpc_cpp_plugin (the host's)")
endif()

# pkg-config (sqlcipher, re2 for gRPC's package, ...): the target's .pc files
# only. An explicit PKG_CONFIG_LIBDIR in the environment wins (the caller
# adds directories, e.g. the private sqlcipher.pc).
if(NOT DEFINED ENV{PKG_CONFIG_LIBDIR})
  set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${CRMSYNC_CROSS_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
endif()
set(ENV{PKG_CONFIG_PATH} "")
# No sysroot: the .pc files of the multiarch packages already say /usr/...
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

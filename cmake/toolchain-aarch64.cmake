# Cross-build for an aarch64 board with Debian's cross compiler and arm64
# libraries (multiarch: dpkg --add-architecture arm64). Used by
# scripts/cross-build.sh:
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake \
#         -DBOARD=linux -DSTI_TESTS=OFF
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# Headers are shared (/usr/include, multiarch-safe); libraries come from the
# arm64 multiarch folder only, programs from the host.
set(CMAKE_FIND_ROOT_PATH /usr/lib/aarch64-linux-gnu /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_IGNORE_PATH /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu)
set(CMAKE_LIBRARY_PATH /usr/lib/aarch64-linux-gnu)

# Packages that are not Multi-Arch: same (libevent-dev, libp11-dev) are
# unpacked by scripts/cross-build.sh into STI_CROSS_EXTRA rather than
# installed (installing them would remove the host's).
if(NOT STI_CROSS_EXTRA AND DEFINED ENV{STI_CROSS_EXTRA})
  set(STI_CROSS_EXTRA "$ENV{STI_CROSS_EXTRA}")
endif()
set(STI_CROSS_EXTRA "${STI_CROSS_EXTRA}" CACHE PATH "unpacked arm64 -dev packages (cross-build.sh)")
set(ENV{STI_CROSS_EXTRA} "${STI_CROSS_EXTRA}") # for try_compile projects
set(_sti_pc /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
if(STI_CROSS_EXTRA)
  list(PREPEND CMAKE_FIND_ROOT_PATH ${STI_CROSS_EXTRA}/usr/lib/aarch64-linux-gnu)
  set(_sti_pc ${STI_CROSS_EXTRA}/usr/lib/aarch64-linux-gnu/pkgconfig:${_sti_pc})
endif()

# pkg-config must see the arm64 .pc files only.
set(ENV{PKG_CONFIG_LIBDIR} ${_sti_pc})
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

# Cross build for Graviton (aarch64) on an x86_64 Debian machine (docs/DEPLOY.md, "Graviton").
#
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DEML_TESTS=OFF
#
# Compiler: Debian's gcc-aarch64-linux-gnu (its libc lives in /usr/aarch64-linux-gnu). Libraries:
# Debian's arm64 packages installed as a foreign architecture (multiarch: headers and .so under
# /usr/include/aarch64-linux-gnu and /usr/lib/aarch64-linux-gnu; `scripts/install-deps --aarch64`
# installs them). Programs run at build time (protoc-c) are the build machine's own.
# With CMAKE_SYSTEM_PROCESSOR=aarch64, CMakeLists.txt leaves out the *_avx2/_avx512 kernels and
# the run-time dispatch (guarded by __x86_64__) keeps the portable kernels.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(EML_CROSS_TRIPLET aarch64-linux-gnu)

set(CMAKE_C_COMPILER ${EML_CROSS_TRIPLET}-gcc)
set(CMAKE_AR ${EML_CROSS_TRIPLET}-gcc-ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${EML_CROSS_TRIPLET}-gcc-ranlib CACHE FILEPATH "")
set(CMAKE_STRIP ${EML_CROSS_TRIPLET}-strip CACHE FILEPATH "")

# Libraries and headers from the cross sysroot and the multiarch folders only; programs from
# the build machine.
set(CMAKE_FIND_ROOT_PATH /usr/${EML_CROSS_TRIPLET})
set(CMAKE_LIBRARY_ARCHITECTURE ${EML_CROSS_TRIPLET})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# pkg-config must see the arm64 .pc files only (never the build machine's x86_64 ones).
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${EML_CROSS_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

# try_run and tests execute aarch64 programs through qemu-user (Debian's qemu-user).
find_program(EML_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64)
if(EML_QEMU_AARCH64)
  # No -L /usr/aarch64-linux-gnu: that would pair the cross sysroot's loader with libc6:arm64's
  # libc.so.6 (two builds of glibc; programs hang in pthread_create). The multiarch loader
  # /lib/ld-linux-aarch64.so.1 (libc6:arm64) is found without it.
  set(CMAKE_CROSSCOMPILING_EMULATOR ${EML_QEMU_AARCH64})
endif()

cmake_minimum_required(VERSION 3.22)
# Checks that the sync core stays pure (STYLE.md practice 1). Run as
#   cmake -DSYNC_DIR=<dir> [-DSYNC_LINK_LIBRARIES=<list>] -P check_sync_purity.cmake
# Fails when a file under SYNC_DIR includes anything but the C++ standard
# library, google/protobuf/..., crmsync/v1/*.pb.h, crmsync/sync/*.h or a
# header next to it, or when the target links anything but crmsync_proto /
# protobuf.
if(NOT SYNC_DIR)
  message(FATAL_ERROR "SYNC_DIR is not set")
endif()

set(std_headers
  algorithm any array atomic bit bitset cassert cctype cerrno cfloat charconv chrono
  cinttypes climits cmath compare complex concepts cstdarg cstddef cstdint cstdio
  cstdlib cstring ctime cwchar deque exception functional initializer_list iomanip
  ios iosfwd iostream istream iterator limits list map memory new numeric optional
  ostream queue random ratio set sstream stack stdexcept string string_view
  system_error tuple type_traits typeindex typeinfo unordered_map unordered_set
  utility variant vector)
# Headers that would bring I/O, time, randomness or threads are refused even
# though they are standard.
set(refused_std chrono random thread mutex condition_variable future fstream
  filesystem iostream ctime)

file(GLOB_RECURSE files "${SYNC_DIR}/*.h" "${SYNC_DIR}/*.cc")
set(problems "")
foreach(f ${files})
  file(STRINGS "${f}" lines REGEX "^[ \t]*#[ \t]*include")
  get_filename_component(dir "${f}" DIRECTORY)
  foreach(line ${lines})
    if(line MATCHES "#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"]")
      set(inc "${CMAKE_MATCH_1}")
    else()
      list(APPEND problems "${f}: unreadable include: ${line}")
      continue()
    endif()
    set(ok FALSE)
    if(inc IN_LIST std_headers AND NOT inc IN_LIST refused_std)
      set(ok TRUE)
    elseif(inc MATCHES "^google/protobuf/" AND NOT inc MATCHES "^google/protobuf/(compiler|util/(time_util|json_util))")
      set(ok TRUE)
    elseif(inc MATCHES "^crmsync/v1/[a-z_]+\\.pb\\.h$")
      set(ok TRUE)
    elseif(inc MATCHES "^crmsync/sync/[a-z_]+\\.h$")
      set(ok TRUE)
    elseif(inc MATCHES "^[a-z_]+\\.h$" AND EXISTS "${dir}/${inc}")
      set(ok TRUE)
    endif()
    if(NOT ok)
      list(APPEND problems "${f}: forbidden include <${inc}>")
    endif()
  endforeach()
  # Clocks, randomness, files and threads by name.
  file(STRINGS "${f}" calls REGEX "(system_clock|steady_clock|random_device|[^a-z_]rand\\(|srand|fopen|std::thread|getenv)")
  foreach(call ${calls})
    list(APPEND problems "${f}: forbidden call: ${call}")
  endforeach()
endforeach()

if(DEFINED SYNC_LINK_LIBRARIES)
  foreach(lib ${SYNC_LINK_LIBRARIES})
    if(NOT lib MATCHES "^(crmsync_proto|protobuf::libprotobuf)$")
      list(APPEND problems "crmsync_sync links ${lib} (only crmsync_proto and protobuf allowed)")
    endif()
  endforeach()
endif()

list(LENGTH files nfiles)
if(problems)
  list(JOIN problems "\n  " text)
  message(FATAL_ERROR "sync purity check failed:\n  ${text}")
endif()
if(nfiles EQUAL 0)
  message(FATAL_ERROR "no sources found under ${SYNC_DIR}")
endif()
message(STATUS "sync purity: ${nfiles} files clean")

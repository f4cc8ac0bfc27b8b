cmake_minimum_required(VERSION 3.22)
# Checks the server's layering: logic/ (crmsync_logic) holds the sync logic
# over the store roles and knows nothing of gRPC or of the folders built on
# it. Run as
#   cmake -DLOGIC_DIR=<dir> [-DLOGIC_LINK_LIBRARIES=<list>] -P check_logic_layering.cmake
# Fails when a file under LOGIC_DIR includes a gRPC header, generated
# service stubs (*.grpc.pb.h), or anything from auth/, admin/, rpc/, notify/
# or the server's app, or when the target links gRPC.
if(NOT LOGIC_DIR)
  message(FATAL_ERROR "LOGIC_DIR is not set")
endif()
file(GLOB_RECURSE files "${LOGIC_DIR}/*.h" "${LOGIC_DIR}/*.cc")
set(problems "")
foreach(f ${files})
  file(STRINGS "${f}" lines REGEX "^[ \t]*#[ \t]*include")
  foreach(line ${lines})
    if(NOT line MATCHES "#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"]")
      list(APPEND problems "${f}: unreadable include: ${line}")
      continue()
    endif()
    set(inc "${CMAKE_MATCH_1}")
    if(inc MATCHES "^grpc" OR inc MATCHES "\\.grpc\\.pb\\.h$")
      list(APPEND problems "${f}: gRPC include <${inc}>")
    elseif(inc MATCHES "^(auth|admin|rpc|notify)/" OR inc MATCHES "^(app|grpc_server)\\.h$")
      list(APPEND problems "${f}: include of a layer above logic/ <${inc}>")
    endif()
  endforeach()
endforeach()
foreach(lib ${LOGIC_LINK_LIBRARIES})
  if(lib MATCHES "grpc|crmsync_grpc|crmsync_server")
    list(APPEND problems "crmsync_logic links ${lib}")
  endif()
endforeach()
if(problems)
  # One line each (NOTICE does not wrap), then the failure.
  foreach(p ${problems})
    message(NOTICE "${p}")
  endforeach()
  list(LENGTH problems n)
  message(FATAL_ERROR "logic layering broken: ${n} problem(s)")
endif()
message(STATUS "logic layering: ${LOGIC_DIR} is clean")

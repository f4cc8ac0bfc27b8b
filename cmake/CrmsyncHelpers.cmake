# Build helpers shared by every part of crmsync.

# Warnings and language settings for a target of ours.
function(crmsync_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    # Checks the ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED annotations.
    target_compile_options(${target} PRIVATE -Wthread-safety)
  endif()
  if(CRMSYNC_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# crmsync_add_test(NAME <name> SOURCES <files...> LIBS <targets...>
#                  [LABELS <labels...>] [TIMEOUT <seconds>] [ENV <VAR=value...>]
#                  [FIXTURES <fixtures...>] [NEEDS_POSTGRES])
# Builds a GoogleTest executable and registers it with CTest as one test.
# NEEDS_POSTGRES: the test starts throwaway PostgreSQL clusters through
# crmsync_test_support (tests/support); it gets this build's cluster root
# and the fixture that sweeps clusters a crashed run left behind.
function(crmsync_add_test)
  cmake_parse_arguments(T "NEEDS_POSTGRES" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS;ENV;FIXTURES"
                        ${ARGN})
  if(T_NEEDS_POSTGRES)
    list(APPEND T_FIXTURES crmsync_pg_clusters)
    list(APPEND T_ENV "CRMSYNC_TEST_PG_ROOT=${CRMSYNC_TEST_PG_ROOT}")
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  crmsync_target_defaults(${T_NAME})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  add_test(NAME ${T_NAME} COMMAND ${T_NAME} --gtest_color=no)
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT})
  if(T_ENV)
    set_tests_properties(${T_NAME} PROPERTIES ENVIRONMENT "${T_ENV}")
  endif()
  if(T_FIXTURES)
    set_tests_properties(${T_NAME} PROPERTIES FIXTURES_REQUIRED "${T_FIXTURES}")
  endif()
endfunction()

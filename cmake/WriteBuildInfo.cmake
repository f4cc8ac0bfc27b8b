# Writes build_info_git.h with the source tree's git revision. Run at build
# time (cmake -P) so the revision follows the checkout; the header is only
# replaced when it changes, so an unchanged revision rebuilds nothing.
#   -DSOURCE_DIR=... -DOUT=.../build_info_git.h
set(revision "unknown")
find_program(GIT_PROGRAM git)
if(GIT_PROGRAM AND EXISTS "${SOURCE_DIR}/.git")
  execute_process(COMMAND ${GIT_PROGRAM} -C "${SOURCE_DIR}" describe --always --dirty --abbrev=12
                  OUTPUT_VARIABLE described RESULT_VARIABLE rc ERROR_QUIET
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(rc EQUAL 0 AND described)
    set(revision "${described}")
  endif()
endif()
file(WRITE "${OUT}.tmp" "#define CRMSYNC_GIT_REVISION \"${revision}\"\n")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUT}.tmp" "${OUT}")
file(REMOVE "${OUT}.tmp")

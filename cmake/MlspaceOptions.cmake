# Compiler flags shared by every target of the project.
add_library(mlspace_build_flags INTERFACE)
add_library(mlspace::build_flags ALIAS mlspace_build_flags)
target_compile_options(mlspace_build_flags INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough)
# -Wnull-dereference is left out: g++ 12 reports false positives inside
# libstdc++ (vector::insert) at -O2.
if(MLSPACE_WARNINGS_AS_ERRORS)
  target_compile_options(mlspace_build_flags INTERFACE -Werror)
endif()
# g++ 12 at -O3 (the release preset) reports -Wrestrict inside libstdc++'s
# char_traits for plain `"k" + std::to_string(i)` (GCC bug 105651); the -O2
# builds CI checks keep the warning.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13
   AND CMAKE_BUILD_TYPE STREQUAL "Release")
  target_compile_options(mlspace_build_flags INTERFACE -Wno-restrict)
endif()

if(MLSPACE_SANITIZE)
  # GCC's flow analysis under sanitizer instrumentation reports
  # maybe-uninitialized inside libstdc++ (<regex>, <optional>); the plain
  # build keeps the warning as an error.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(mlspace_build_flags INTERFACE -Wno-maybe-uninitialized)
  endif()
  add_compile_options(-fsanitize=${MLSPACE_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${MLSPACE_SANITIZE})
endif()

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_C_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()

# mlspace_library(NAME folder SOURCES ... DEPS ...): the one library of a
# folder, exported as mlspace::<folder>. Includes are rooted at the repo so
# code says #include "controller/core/status.h".
function(mlspace_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(mlspace_${name} ${ARG_SOURCES})
  add_library(mlspace::${name} ALIAS mlspace_${name})
  target_include_directories(mlspace_${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(mlspace_${name} PUBLIC ${ARG_DEPS}
                        PRIVATE mlspace::build_flags ${ARG_PRIVATE_DEPS})
endfunction()

# mlspace_check_seams(NAME folder ALLOWED lib...): fails configure when the
# folder's library links an mlspace:: library (directly) that is not listed,
# so a seam stays a seam: e.g. api links only core and schema, the
# reconciler never an adapter (Poco, libgit2, SQLite live in those).
function(mlspace_check_seams name)
  cmake_parse_arguments(ARG "" "" "ALLOWED" ${ARGN})
  get_target_property(links mlspace_${name} LINK_LIBRARIES)
  foreach(lib IN LISTS links)
    if(lib MATCHES "^mlspace::" AND NOT lib STREQUAL "mlspace::build_flags"
       AND NOT lib IN_LIST ARG_ALLOWED)
      message(FATAL_ERROR
        "controller/${name} links ${lib}; allowed: ${ARG_ALLOWED} (see README, Layout)")
    endif()
  endforeach()
endfunction()

# XGBoost's C API as the imported target xgboost::xgboost, from its header and library. Debian 12's
# own CMake package (libxgboost-dev) cannot be used: it names /usr/bin/xgboost, which only the
# separate `xgboost` command-line package installs, and fails when that is missing.
if(NOT TARGET xgboost::xgboost)
  find_path(XGBOOST_INCLUDE_DIR xgboost/c_api.h)
  find_library(XGBOOST_LIBRARY xgboost)
  if(XGBOOST_INCLUDE_DIR AND XGBOOST_LIBRARY)
    add_library(xgboost::xgboost UNKNOWN IMPORTED)
    set_target_properties(xgboost::xgboost PROPERTIES IMPORTED_LOCATION "${XGBOOST_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${XGBOOST_INCLUDE_DIR}")
  endif()
endif()

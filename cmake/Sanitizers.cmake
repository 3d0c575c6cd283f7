# REMUS_SANITIZE="address;undefined" builds everything with those sanitizers
# (STYLE Z1).
if(REMUS_SANITIZE)
  string(REPLACE ";" "," _san "${REMUS_SANITIZE}")
  add_compile_options(-fsanitize=${_san} -fno-omit-frame-pointer
    -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=${_san})
endif()

# remusd/dev-diskbuf.c adapts diskbuf/ to the engine's device tables.
list(APPEND REMUS_DEV_LIBS remus_diskbuf)

# remusd/dev-netbuf.c adapts netbuf/ to ckpt_device_ops; link its library.
list(APPEND REMUS_DEV_LIBS remus_netbuf)

/* The C ABI of driftsync. The include directory comes from pkg-config (driftsync.pc: Cflags). */
#include <driftsync.h>

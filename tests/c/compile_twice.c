/* Compile-only check: the header is self-contained, idempotent (included twice) and valid C and
 * C++ (scripts/test-c.sh also compiles this file with g++ -fsyntax-only -x c++). */
#include "driftsync.h"
#include "driftsync.h"

#ifdef __cplusplus
extern "C" {
#endif

int driftsync_compile_twice_probe(void);

int driftsync_compile_twice_probe(void) {
    driftsync_status_t s = DRIFTSYNC_STATUS_OK;
    driftsync_value_t v;
    driftsync_pk_t k;
    driftsync_field_t f;
    driftsync_property_t p;
    driftsync_observer_fn cb = 0;
    driftsync_user_data_free_fn fr = 0;
    driftsync_client_reset_mode_t m = DRIFTSYNC_CLIENT_RESET_MANUAL;
    (void)v;
    (void)k;
    (void)f;
    (void)p;
    (void)cb;
    (void)fr;
    (void)m;
    return (int)s + DRIFTSYNC_ABI_VERSION + DRIFTSYNC_VERSION_MAJOR;
}

#ifdef __cplusplus
}
#endif

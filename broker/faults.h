/* faults.h: send failures injected by the tests (a build with
 * ZFARM_TEST_HOOKS only), so that a test can make a chosen worker prove
 * unreachable at the moment the broker sends it a chosen command.
 *
 * ZFARM_TEST_UNREACHABLE holds rules COMMAND@HOST[#N], separated by
 * commas: the broker's sends of COMMAND (TASK, CANCEL, HEARTBEAT, ...; *
 * for any) to a worker whose READY named HOST fail, as a send to a peer
 * that has gone does, from the Nth such send on (the first if no #N). */
#ifndef FAULTS_H
#define FAULTS_H

#include <stdbool.h>

typedef struct _faults_t faults_t;

/* The rules in ZFARM_TEST_UNREACHABLE, or NULL if it is unset or empty.
 * A rule that does not parse is logged and ignored. */
faults_t *
    faults_new (void);

void
    faults_destroy (faults_t **self_p);

/* Whether this send must fail; counts it. */
bool
    faults_unreachable (faults_t *self, int command, const char *host);

#endif

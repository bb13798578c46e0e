/* zf_exit.h: the exit statuses of zfarm's processes, as one list.
 *
 * A worker process tells its supervisor (the broker's --spawn pool, or
 * zfarm-worker --processes) why it left by its exit status; common/crash.c
 * says each in words, and the pool restarts a child that exited RECYCLED,
 * RSS or OVERRAN at once, as planned exits, never with back-off. */
#ifndef ZF_EXIT_H
#define ZF_EXIT_H

/* A zfarm-worker that found no broker for its --give-up-after time; its
 * supervisor stops every worker and exits with it too (EX_UNAVAILABLE). */
#define ZF_EXIT_UNREACHABLE 69
#define ZF_EXIT_RECYCLED    75  /* planned: its --max-calls-per-worker */
#define ZF_EXIT_OVERRAN     76  /* a handler ran past its max call time, or
                                   its cancel grace */
#define ZF_EXIT_ORPHANED    77  /* its supervisor died */
/* A child that exits with IDLE left for good (zfarm-worker --idle-exit):
 * its slot is parked, not restarted. */
#define ZF_EXIT_IDLE        78  /* no task came for its idle time */
/* A zfarm-worker whose resident memory passed its --max-rss: it finished
 * its tasks and left, to be replaced at once (a recycle, not a crash). */
#define ZF_EXIT_RSS         79

#endif

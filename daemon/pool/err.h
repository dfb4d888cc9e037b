/* err.h -- engine errors: -errno return values plus a thread-local message */
#ifndef PM_ERR_H
#define PM_ERR_H

/* pm_err -- record the detail of a failure for pm_errmsg(); returns -err so
 * that callers can write `return pm_err(EIO, "...")`. */
int pm_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* pm_errmsg -- the message recorded by the last pm_err() of this thread */
const char *pm_errmsg(void);

#endif

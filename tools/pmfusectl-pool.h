/* pmfusectl-pool.h -- pmfusectl's commands on an unmounted pool */
#ifndef PMFUSECTL_POOL_H
#define PMFUSECTL_POOL_H

/* each takes the arguments after the command name; returns the exit status */
int pool_info(int argc, char **argv);
int pool_resize(int argc, char **argv, int direction); /* +1 grow, -1 shrink */

#endif

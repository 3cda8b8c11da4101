/*
 * LAB ONLY. Never install this on a real host.
 *
 * Elasticsearch refuses to start in production mode (bound to a non-loopback
 * address, as every node of a cluster is) unless RLIMIT_NOFILE is at least 65535.
 * Some build machines cap every container below that: their Docker engine runs
 * with a hard limit of 20000 open files and the VM lacks CAP_SYS_RESOURCE, so
 * neither `docker run --ulimit` nor systemd inside the container can raise it.
 *
 * Preloaded (LD_PRELOAD) into the Elasticsearch service of such a lab only, this
 * library makes getrlimit() *report* at least LAB_NOFILE_FLOOR (default 65535)
 * open files. It changes nothing else: the real limit still applies, which a lab
 * node with a handful of shards never comes near. `python -m lab prepare` builds it
 * only when the lab's containers are capped below 65535.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report_floor(int resource, struct rlimit *rlim) {
    if (resource != RLIMIT_NOFILE) {
        return;
    }
    const char *env = getenv("LAB_NOFILE_FLOOR");
    rlim_t floor = env ? (rlim_t)strtoull(env, NULL, 10) : 65535;
    if (rlim->rlim_cur != RLIM_INFINITY && rlim->rlim_cur < floor) {
        rlim->rlim_cur = floor;
    }
    if (rlim->rlim_max != RLIM_INFINITY && rlim->rlim_max < floor) {
        rlim->rlim_max = floor;
    }
}

int getrlimit(__rlimit_resource_t resource, struct rlimit *rlim) {
    int rc = (int)syscall(SYS_prlimit64, 0, resource, NULL, rlim);
    if (rc == 0) {
        report_floor((int)resource, rlim);
    }
    return rc;
}

int getrlimit64(__rlimit_resource_t resource, struct rlimit64 *rlim) {
    return getrlimit(resource, (struct rlimit *)rlim);
}

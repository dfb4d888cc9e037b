#!/bin/sh
# init.sh -- /init of the DAX virtual machine (tests/dax/run). Runs one
# configuration, named on the kernel command line as pmdax.mode=:
#   fsdax   namespace in fsdax mode, ext4 -o dax, pool file on it
#   reboot  the same ext4 after a reboot: the data set fsynced last boot is there
#   devdax  namespace in devdax mode, the pool is /dev/dax0.0
#   byte    fsdax again, on an NVDIMM whose CPU caches are persistent
# and prints "RESULT <config> granularity=G map_sync=yes|no tests=N passed=M"
# (or "RESULT <config> FAILED <why>"), then powers off.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /tmp /mnt/pm /mnt/fs /run
mount -t tmpfs tmp /tmp

mode=
for w in $(cat /proc/cmdline); do
	case $w in pmdax.mode=*) mode=${w#pmdax.mode=} ;; esac
done

log() { echo "dax-vm: $*"; }
result() { echo "RESULT $*"; sync; poweroff -f; }
die() { result "$mode FAILED $*"; }
# tests/dax/run tells a kernel that never reached /init from a failure of ours
log "init $mode"

for m in libnvdimm nfit nd_btt nd_pmem device_dax dax_pmem crc16 mbcache jbd2 crc32c_generic ext4 fuse; do
	insmod /lib/modules/$m.ko || die "insmod $m"
done
i=0
while [ ! -e /sys/bus/nd/devices/namespace0.0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -e /sys/bus/nd/devices/namespace0.0 ] || die "no NVDIMM namespace"
log "persistence domain: $(cat /sys/bus/nd/devices/region0/persistence_domain 2>/dev/null)"

tests=0 passed=0
# check DIR: the subset of the mount tests, counted into tests/passed
checks=0
check() {
	checks=$((checks + 1))
	mkdir "$1/check$checks.$mode" || { tests=$((tests + 1)); echo "not ok - mkdir in $1"; return; }
	dax-check test "$1/check$checks.$mode" >/tmp/check.out 2>&1
	cat /tmp/check.out
	t=$(sed -n 's/^tests=\([0-9]*\) passed=.*/\1/p' /tmp/check.out)
	p=$(sed -n 's/^tests=[0-9]* passed=\([0-9]*\)/\1/p' /tmp/check.out)
	tests=$((tests + ${t:-1})) passed=$((passed + ${p:-0}))
}
# step NAME CMD...: one more test, passed when CMD succeeds
step() {
	name=$1
	shift
	tests=$((tests + 1))
	if "$@"; then
		passed=$((passed + 1))
		echo "ok - $name"
	else
		echo "not ok - $name"
	fi
}

# start POOL: mount pmfuse on /mnt/fs, keep its log line in /tmp/pmfuse.log
start() {
	pmfuse -f "$1" /mnt/fs >/tmp/pmfuse.log 2>&1 &
	pid=$!
	i=0
	# up to 60 s: a recovering ASan+UBSan daemon in this emulated VM took
	# more than the 10 s once allowed (tools/test's sanitizer pass). The
	# daemon logs its "mounted" line, its last, after the mount appears:
	# wait for it too, or granularity() may find no line (seen: an empty
	# "granularity=" with MAP_SYNC found a moment later)
	while ! { grep -q ' /mnt/fs ' /proc/mounts && grep -q 'default policy' /tmp/pmfuse.log; } &&
		kill -0 $pid 2>/dev/null && [ $i -lt 600 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	cat /tmp/pmfuse.log
	grep -q ' /mnt/fs ' /proc/mounts && grep -q 'default policy' /tmp/pmfuse.log
}
stop() {
	kill -TERM $pid
	wait $pid
}
# crash POOL: write and fsync the data set, kill -9 the daemon, mount again,
# verify: what fsync returned for is there
crash() {
	dax-check write /mnt/fs || return 1
	kill -KILL $pid
	wait $pid 2>/dev/null
	umount -l /mnt/fs 2>/dev/null
	start "$1" || return 1
	grep -q 'not unmounted cleanly' /tmp/pmfuse.log || { echo "no unclean-shutdown note"; return 1; }
	dax-check verify /mnt/fs
}
# limits_lifted: pmfuse set its mount's dirty-page share to 100 % (daemon/bdi.c)
limits_lifted() {
	dev=$(awk '$5 == "/mnt/fs" { print $3 }' /proc/self/mountinfo | tail -n1)
	[ "$(cat "/sys/class/bdi/$dev/max_ratio")" = 100 ] && ! grep -q 'limits for this mount stay' /tmp/pmfuse.log
}
granularity() {
	sed -n 's/.*granularity \([A-Z_]*\).*/\1/p' /tmp/pmfuse.log | head -n1
}
map_sync() {
	if grep -q 'MAP_SYNC' /tmp/pmfuse.log; then echo yes; else echo no; fi
}

case $mode in
fsdax | byte)
	ndctl create-namespace -f -e namespace0.0 -m fsdax >/dev/null || die "ndctl create-namespace fsdax"
	mkfs.ext4 -q -F -b 4096 /dev/pmem0 || die "mkfs.ext4"
	mount -o dax /dev/pmem0 /mnt/pm || die "mount -o dax"
	mkfs.pmfuse -q --size 192M /mnt/pm/pool || die "mkfs.pmfuse"
	start /mnt/pm/pool || die "pmfuse did not mount"
	g=$(granularity) s=$(map_sync)
	step "the kernel's per-mount limits lifted" limits_lifted
	check /mnt/fs
	step "crash: kill -9, remount, fsynced data intact" crash /mnt/pm/pool
	# the data set for the reboot check, then a clean unmount
	step "data set for the reboot" dax-check write /mnt/fs
	step "clean unmount (exit status 0)" stop
	step "unmounted" sh -c '! grep -q " /mnt/fs " /proc/mounts'
	umount /mnt/pm
	result "$mode granularity=$g map_sync=$s tests=$tests passed=$passed"
	;;
reboot)
	mount -o dax /dev/pmem0 /mnt/pm || die "mount -o dax after reboot"
	start /mnt/pm/pool || die "pmfuse did not mount after reboot"
	g=$(granularity) s=$(map_sync)
	step "pool clean after reboot" sh -c '! grep -q "not unmounted cleanly" /tmp/pmfuse.log'
	step "fsynced data set survived the reboot" dax-check verify /mnt/fs
	check /mnt/fs
	stop
	umount /mnt/pm
	result "fsdax-reboot granularity=$g map_sync=$s tests=$tests passed=$passed"
	;;
devdax)
	ndctl create-namespace -f -e namespace0.0 -m devdax >/dev/null || die "ndctl create-namespace devdax"
	i=0
	while [ ! -c /dev/dax0.0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	mkfs.pmfuse -q /dev/dax0.0 || die "mkfs.pmfuse /dev/dax0.0"
	start /dev/dax0.0 || die "pmfuse did not mount /dev/dax0.0"
	g=$(granularity) s=$(map_sync)
	check /mnt/fs
	step "crash: kill -9, remount, fsynced data intact" crash /dev/dax0.0
	stop
	result "devdax granularity=$g map_sync=$s tests=$tests passed=$passed"
	;;
*)
	die "unknown pmdax.mode '$mode'"
	;;
esac

#!/bin/bash
# man_lint.sh -- render every manual page with warnings on; fail on any
# warning, and on a public libpmfuse function or a command without a page.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bad=0
pages=0
for page in "$top"/man/*.[0-9]; do
	pages=$((pages + 1))
	# man(1) as a user runs it, with its warnings, then groff with all of them
	out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null
		groff -man -ww -z -Tutf8 "$page" 2>&1)
	if [ -n "$out" ]; then
		echo "FAIL $(basename "$page"):"
		echo "$out" | sed 's/^/  /'
		bad=$((bad + 1))
	else
		echo "ok   $(basename "$page")"
	fi
done
# every function declared in lib/pmfuse.h has its own page, every command too
for f in $(sed -n 's/^[a-z].*[ *]\(pmfuse_[a-z_]*\)(.*/\1/p' "$top/lib/pmfuse.h" | sort -u); do
	[ -f "$top/man/$f.3" ] || { echo "FAIL no man/$f.3 for $f()"; bad=$((bad + 1)); }
done
for c in pmfuse.8 mkfs.pmfuse.8 fsck.pmfuse.8 pmfusectl.8 pmfuse.5 libpmfuse.3; do
	[ -f "$top/man/$c" ] || { echo "FAIL no man/$c"; bad=$((bad + 1)); }
done
echo "$pages pages, $bad problems"
[ "$bad" -eq 0 ]

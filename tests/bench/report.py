"""report.py -- results.md (table and ratios) and ratios.png (gnuplot) from results."""

import os
import shutil
import statistics
import subprocess

PEERS = ('pt-doc', 'pt-tuned')
RATIOS = (('peer', 'pmfuse/peer'), ('null', 'pmfuse/null'), ('tmpfs', 'pmfuse/tmpfs'))


def headline(entry, tname):
    """headline -- the median of the workload's first metric on TNAME, or None."""
    t = entry['targets'].get(tname)
    if not t:
        return None
    first = next(iter(t.values()))
    return first['median'] if first else None


def peer_of(entry):
    """peer_of -- the better passthrough_ll configuration for this workload."""
    best = None
    for p in PEERS:
        v = headline(entry, p)
        if v is None:
            continue
        if best is None or (v > best[1] if entry['higher_better'] else v < best[1]):
            best = (p, v)
    return best


def ratio(entry, pm, other):
    """ratio -- how many times better pmfuse is (>1: pmfuse better; for
    seconds the inverse of the time ratio, so that > 1 still means faster)."""
    if pm is None or other is None or pm == 0 or other == 0:
        return None
    return pm / other if entry['higher_better'] else other / pm


def per_rep(entry, a, b):
    """per_rep -- the ratio of target A against target B in each repetition
    (as ratio(): > 1 means A better), or None when either did not run. Within a
    repetition the targets of a workload run one after the other, seconds
    apart; the medians of A and B can come from repetitions many minutes
    apart, on a machine whose speed swings by a factor of two in that time."""
    ta, tb = entry['targets'].get(a), entry['targets'].get(b)
    if not ta or not tb:
        return None
    ra, rb = next(iter(ta.values())), next(iter(tb.values()))
    if not ra or not rb:
        return None
    rs = [ratio(entry, x, y) for x, y in zip(ra['runs'], rb['runs'])]
    return [r for r in rs if r is not None] or None


def paired(entry, a, b):
    """paired -- the median of per_rep(A, B): the ratio every column reports."""
    rs = per_rep(entry, a, b)
    return statistics.median(rs) if rs else None


def ratios(results):
    """ratios -- {workload: {label: ratio}} for pmfuse against peer, null, tmpfs."""
    out = {}
    for w, e in results['workloads'].items():
        peer = peer_of(e)
        out[w] = {'pmfuse/peer': paired(e, 'pmfuse', peer[0]) if peer else None,
                  'pmfuse/null': paired(e, 'pmfuse', 'null'),
                  'pmfuse/tmpfs': paired(e, 'pmfuse', 'tmpfs')}
    return out


def granularity_ratio(entry):
    """granularity_ratio -- cache-line against page granularity, as "times
    as fast" (< 1: cache lines slower). The two pmfuse targets run next to
    each other in every repetition, in alternating order."""
    return paired(entry, 'pmfuse-cl', 'pmfuse')


def fmt(v):
    if v is None:
        return '—'
    if v >= 1000:
        return f'{v:,.0f}'
    if v >= 10:
        return f'{v:.1f}'
    return f'{v:.3g}'


def cell(entry, tname, metric=None):
    t = entry['targets'].get(tname)
    if not t:
        return '—'
    s = t[metric] if metric else next(iter(t.values()))
    if not s:
        return '—'
    if len(s['runs']) == 1:
        return fmt(s['median'])
    return f'{fmt(s["median"])} ({fmt(s["min"])}–{fmt(s["max"])})'


def write_markdown(results, path):
    """write_markdown -- the results table: median (min–max) per target, ratios."""
    r = ratios(results)
    lines = [f'# pmfuse benchmark ({results["mode"]}, {results["reps"]} repetition(s), '
             f'{results["date"][:19]}, {results["cpus"]} CPUs, {results["fio"]})', '',
             'Median (min–max) per target. peer: the passthrough_ll configuration '
             'with the better median (doc: as documented, tuned: '
             'writeback,cache=always,timeout=86400).', '',
             'Ratios are "times better for pmfuse" (for W8, in seconds, the inverse '
             'time ratio); each is the median of the ratios of the two targets\' '
             'runs in the same repetition, which ran one after the other. cl/page: '
             'pmfuse-cl against pmfuse (below 1, cache lines are slower).', '']
    if results.get('aa'):
        lines += ['**A/A run (`--aa`)**: pmfuse-cl ran at page granularity too, so its '
                  'cl/page column is the harness\'s own noise, not the cost of cache-line '
                  'flushes.', '']
    if results.get('ab'):
        lines += [f'**A/B run (`--ab`)**: pmfuse-cl ran `{results["ab"]}` at page granularity, '
                  'so its cl/page column is that binary against the build\'s daemon (above 1, '
                  'it is faster), not the cost of cache-line flushes.', '']
    lines += ['| workload | unit | tmpfs | null | peer | pmfuse | pmfuse-cl | cl/page '
              '| pmfuse/peer | pmfuse/null | pmfuse/tmpfs |',
              '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
    for w, e in results['workloads'].items():
        peer = peer_of(e)
        pcell = f'{cell(e, peer[0])} ({peer[0][3:]})' if peer else '—'
        lines.append(f'| {w} {e["desc"]} | {e["unit"]} | {cell(e, "tmpfs")} | '
                     f'{cell(e, "null")} | {pcell} | {cell(e, "pmfuse")} | '
                     f'{cell(e, "pmfuse-cl")} | {fmt(granularity_ratio(e))} | ' +
                     ' | '.join(fmt(r[w][k]) for _, k in RATIOS) + ' |')
    if results['reps'] > 1:
        lines += ['', 'Per-repetition ratios, in the order of the repetitions:', '',
                  '| workload | pmfuse/peer | cl/page |', '| --- | --- | --- |']
        for w, e in results['workloads'].items():
            peer = peer_of(e)
            cols = [per_rep(e, 'pmfuse', peer[0]) if peer else None,
                    per_rep(e, 'pmfuse-cl', 'pmfuse')]
            lines.append(f'| {w} | ' + ' | '.join(
                ' '.join(fmt(x) for x in c) if c else '—' for c in cols) + ' |')
    if 'W5' in results['workloads']:
        e = results['workloads']['W5']
        lines += ['', 'W5 latency, µs (write clat p50 / p99; fsync p50 / p99):', '',
                  '| target | write p50 | write p99 | fsync p50 | fsync p99 |',
                  '| --- | ---: | ---: | ---: | ---: |']
        for t in e['targets']:
            lines.append(f'| {t} | ' + ' | '.join(cell(e, t, m) for m in
                         ('write p50 us', 'write p99 us', 'fsync p50 us', 'fsync p99 us')) + ' |')
    if 'W8' in results['workloads']:
        e = results['workloads']['W8']
        lines += ['', 'W8 split, s: ' + '; '.join(
            f'{t} tar {cell(e, t, "tar s")}, rm {cell(e, t, "rm s")}' for t in e['targets'])]
    lines += ['', 'fio --verify=crc32c: ' + ', '.join(
        f'{t} {"n/a" if v is None else ("pass" if v else "FAIL")}'
        for t, v in results['verify'].items())]
    f = results.get('files')
    if f:
        lines += ['', f'pmfuse with {f["files"]:,} files: mount {f["mount_s"]:.3f} s, '
                  f'daemon RSS without the pool mapping {f["rss_kib_after_mount"] / 1024:.1f} MiB '
                  f'after mount, {f["rss_kib_after_walk"] / 1024:.1f} MiB after a walk of the tree '
                  f'({f["walk_s"]:.2f} s), {f["rss_kib_after_create"] / 1024:.1f} MiB after '
                  f'creating them ({f["create_s"]:.1f} s).']
    if not shutil.which('gnuplot'):
        lines += ['', 'gnuplot is missing: no ratios.png (apt-get install gnuplot-nox).']
    lines += ['', f'Run time {results.get("elapsed_s", 0):.0f} s.', '']
    with open(path, 'w', encoding='utf-8') as fp:
        fp.write('\n'.join(lines))


def write_chart(results, out):
    """write_chart -- ratios.png, a clustered bar chart of the three ratios."""
    if not shutil.which('gnuplot'):
        return False
    r = ratios(results)
    dat = os.path.join(out, 'ratios.dat')
    with open(dat, 'w', encoding='utf-8') as fp:
        fp.write('workload ' + ' '.join(k for _, k in RATIOS) + '\n')
        for w, v in r.items():
            fp.write(w + ' ' + ' '.join('NaN' if v[k] is None else f'{v[k]:.4f}'
                                        for _, k in RATIOS) + '\n')
    # gnuplot refuses a series with no points (e.g. pmfuse/null when only
    # workloads that null cannot serve ran)
    cols = [i + 2 for i, (_, k) in enumerate(RATIOS)
            if any(v[k] is not None for v in r.values())]
    if not cols:
        return False
    plots = ', '.join((f"'{dat}' using {c}:xtic(1)" if i == 0 else f"'' using {c}")
                      + ' title columnheader' for i, c in enumerate(cols))
    script = f'''
set terminal pngcairo size 1000,500 noenhanced
set output '{os.path.join(out, "ratios.png")}'
set title 'pmfuse ratios (> 1: pmfuse better; {results["mode"]} run)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y 2
set grid ytics
set key top left
set ylabel 'ratio (log scale)'
plot {plots}, 1 notitle lc rgb 'black' dt 2
'''
    res = subprocess.run(['gnuplot'], input=script, text=True, capture_output=True, check=False)
    if res.returncode:
        raise RuntimeError('gnuplot failed: ' + res.stderr)
    return True
